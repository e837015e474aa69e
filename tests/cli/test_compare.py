"""``nfv compare``: one subfolder per attention, a table, a figure; resumable."""

import json

import pytest

from netket_factored_vit._src.cli import main


@pytest.mark.slow
def test_compare_writes_a_table_and_resumes(tmp_path, tiny, capsys):
    out = tmp_path / "cmp"
    args = [
        "compare",
        *tiny,
        "--attentions",
        "factored,decoupled",
        "--n-iter",
        "2",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    table = json.loads((out / "comparison.json").read_text())
    assert table["finished"] and [r["attention"] for r in table["runs"]] == [
        "factored",
        "decoupled",
    ]
    for row in table["runs"]:
        assert row["steps"] == 2 and row["relative_error"] > 0 and row["v_score"] > 0
        assert row["seconds_per_step"] > 0 and row["seconds_total"] >= row["seconds_per_step"]
    factored, decoupled = table["runs"]
    assert decoupled["parameters"] - factored["parameters"] == 2 * 8 * 8 + 2 * 8  # W_Q, W_K
    markdown = (out / "comparison.md").read_text()
    assert "| attention | parameters | E/N |" in markdown and "| decoupled | 1,033 |" in markdown
    assert (out / "energy.png").stat().st_size > 1000
    assert (out / "decoupled" / "energy.png").stat().st_size > 1000
    capsys.readouterr()

    # a second call without --resume is refused; with it, finished runs are skipped
    with pytest.raises(SystemExit):
        main(args)
    assert "already holds a comparison" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "factored: finished" in printed and "decoupled: finished" in printed

    # the same --out with another learning rate is refused, naming it
    with pytest.raises(SystemExit):
        main([*args, "--resume", "--lr", "0.2"])
    assert "lr: the run has 0.05, now 0.2" in capsys.readouterr().err

    (out / "energy.png").unlink()
    assert main(["plot", str(out)]) == 0
    assert (out / "energy.png").stat().st_size > 1000
