"""``nfv run --exact``: the orbit-sum state from the command line."""

import json

import pytest

from netket_factored_vit._src.cli import main


def test_exact_run_logs_exact_energies(tmp_path, tiny):
    out = tmp_path / "exact"
    assert main(["run", *tiny, "--exact", "--n-iter", "3", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exact"] is True and "n_samples" not in summary
    assert summary["n_orbits"] == 3270  # the bare ViT's whole-patch translations on 4x4
    assert summary["energy_per_site_error"] == 0.0
    # the orbit sum against the independent sum over all 12,870 basis states
    assert summary["exact_energy_per_site"] == pytest.approx(
        summary["energy_per_site"], rel=1e-10, abs=0
    )
    log = json.loads((out / "log.log").read_text())
    assert log["Energy"]["iters"] == [0, 1, 2]
    assert all(sigma == 0 for sigma in log["Energy"]["Sigma"])
    weights = log["non_marshall_fraction"]["value"]  # the exact weight, not a sampled one
    assert len(weights) == 3 and all(0 < w < 1 for w in weights)


def test_exact_run_with_a_pretraining_switches_to_the_projection_s_orbits(tmp_path, tiny):
    out = tmp_path / "c4v"
    flags = [f for f in tiny if f not in ("--symmetrize", "none")]
    flags += ["--exact", "--spin-flip", "--pretrain-steps", "1", "--n-iter", "2"]
    assert main(["run", *flags, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_orbits"] == 298  # C4v, whole-patch translations and the spin flip
    log = json.loads((out / "log.log").read_text())
    assert log["non_marshall_fraction"]["iters"] == [0, 1]  # bare ViT, then the projection


def test_exact_run_on_a_lattice_too_large_is_refused_before_anything(tmp_path, tiny, capsys):
    out = tmp_path / "big"
    with pytest.raises(SystemExit) as stop:
        main(["run", *tiny, "--exact", "--L", "6", "--out", str(out)])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "9,075,135,300 basis states" in err[0] and "4x6" in err[0]
    assert not out.exists()
