"""The command line on every rank into a folder another process holds: every rank exits."""

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
stdout, stderr = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
    try:
        rc = main([*tiny, *sys.argv[2:], "--out", str(out / "run")])
    except SystemExit as exit_info:
        rc = exit_info.code
result = {"rc": rc, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}
(out / f"rank{nfv.distributed.rank()}.json").write_text(json.dumps(result))
