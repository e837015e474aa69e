"""``docs/study/results.json`` and the study page: well formed, consistent, and every
figure they name exists."""

import json
import math
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[2] / "docs"
RESULTS = DOCS / "study" / "results.json"
REQUIRED = {
    "study": str,
    "system": str,
    "attention": str,
    "seed": int,
    "parameters": int,
    "steps": int,
    "seconds": float,
    "energy_per_site": float,
    "energy_error": float,
}


@pytest.fixture(scope="module")
def results():
    return json.loads(RESULTS.read_text())


def test_every_run_has_the_required_fields(results):
    assert results["runs"], "results.json lists no run"
    for run in results["runs"]:
        for key, kind in REQUIRED.items():
            assert isinstance(run[key], kind) or (kind is float and isinstance(run[key], int))
        assert run["attention"] in ("factored", "t5", "decoupled")
        assert run["steps"] > 0 and run["parameters"] > 0 and run["seconds"] > 0
        assert math.isfinite(run["energy_per_site"]) and run["energy_error"] >= 0
        assert "relative_error" in run


def test_relative_errors_follow_from_the_energies(results):
    for run in results["runs"]:
        ref = run["reference_energy_per_site"]
        if ref is None:
            assert run["relative_error"] is None
            continue
        expected = abs(run["energy_per_site"] - ref) / abs(ref)
        assert run["relative_error"] == pytest.approx(expected, rel=1e-9)
        if run.get("exact_energy_per_site") is not None:
            exact = abs(run["exact_energy_per_site"] - ref) / abs(ref)
            assert run["exact_relative_error"] == pytest.approx(exact, rel=1e-9)
            # the exact energy of a state is never below the ground state
            assert run["exact_energy_per_site"] >= ref - 1e-9


def test_runs_are_unique_and_equal_in_size_per_study(results):
    keys = [(r["study"], r["attention"], r["seed"]) for r in results["runs"]]
    assert len(keys) == len(set(keys))
    for study in {r["study"] for r in results["runs"]}:
        runs = [r for r in results["runs"] if r["study"] == study]
        assert len({r["system"] for r in runs}) == 1
        assert len({r["n_samples"] for r in runs}) == 1


def test_every_listed_figure_exists(results):
    for name in results["figures"]:
        path = RESULTS.parent / name
        assert path.is_file() and path.stat().st_size > 1000, name


def test_every_figure_the_page_shows_exists():
    page = (DOCS / "study.md").read_text()
    shown = re.findall(r"(study/[\w.=-]+\.png)", page)
    assert shown, "the study page shows no figure"
    for name in shown:
        path = DOCS / name
        assert path.is_file() and path.stat().st_size > 1000, name
    assert "{include} study/tables.md" in page
