"""The command line on every rank: `python -m netket_factored_vit` under mpirun."""

import contextlib
import io
import json
import sys
from pathlib import Path

import netket_factored_vit as nfv
from netket_factored_vit._src.cli import main

out = Path(sys.argv[1])
tiny = ["--d-model", "8", "--num-heads", "2", "--num-layers", "1", "--n-samples", "64"]
tiny += ["--n-chains", "8", "--n-iter", "3", "--symmetrize", "none", "--no-progress"]
tiny += ["--starts", "2", "--start-steps", "1", "--out", str(out / "run")]
stdout = io.StringIO()
with contextlib.redirect_stdout(stdout):
    rc = main(tiny)
result = {"rc": rc, "stdout": stdout.getvalue(), "size": nfv.distributed.size()}
(out / f"rank{nfv.distributed.rank()}.json").write_text(json.dumps(result))
