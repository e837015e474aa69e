"""``--starts K``: the first ``--start-steps`` steps from K seeds, the lowest energy goes on."""

import json

import numpy as np
import pytest

from netket_factored_vit._src.analysis.logs import history, load_log
from netket_factored_vit._src.cli import main, starts
from netket_factored_vit._src.cli.config import RunConfig, resolve


def test_the_starts_seeds_are_apart():
    config = resolve(RunConfig(seed=3, starts=3))
    assert starts.start_seeds(config) == [3, 1003, 2003]
    assert starts.start_seeds(resolve(RunConfig(seed=3))) == [3]  # the default: one start


def test_the_start_of_lowest_mean_final_energy_is_chosen(tmp_path):
    config = resolve(RunConfig(seed=0, starts=3))
    # seed 1000 ends lowest on average over the last steps, not on its very last one
    energies = {0: [-1.0] * 12, 1000: [0.0] * 10 + [-3.0, -3.0], 2000: [-2.0] * 12}
    for seed, values in energies.items():
        folder = starts.start_folder(tmp_path, seed)
        folder.mkdir(parents=True)
        log = {"Energy": {"iters": list(range(12)), "Mean": values}}
        (folder / "log.log").write_text(json.dumps(log))
    best, means = starts.best_start(config, tmp_path)
    assert best == 2000
    assert means[1000] == pytest.approx(-0.6)


@pytest.mark.slow
@pytest.mark.parametrize("start_steps", [2, 3], ids=["in-pretraining", "past-the-switch"])
def test_a_stopped_run_with_starts_equals_a_plain_run_from_the_chosen_seed(
    tmp_path, tiny, start_steps
):
    args = [*tiny, "--symmetrize", "point-group", "--n-iter", "5", "--pretrain-steps", "2"]
    stopped = tmp_path / "stopped"
    # a limit shorter than any step: each run of each invocation makes one step
    assert main([*args, "--starts", "2", "--start-steps", str(start_steps), "--time-limit",
                 "1e-3", "--out", str(stopped)]) == 0  # fmt: skip
    for _ in range(12):
        summary = stopped / "summary.json"
        if summary.exists() and json.loads(summary.read_text())["finished"]:
            break
        assert main(["--resume", "--no-progress", "--out", str(stopped)]) == 0
    chosen = json.loads((stopped / "summary.json").read_text())["start_seed"]
    seeds = [0, 1000]
    means = [
        np.mean(history(load_log(stopped / "starts" / f"seed{s}"), "Energy")[1]) for s in seeds
    ]
    assert chosen == seeds[int(np.argmin(means))]
    for s in seeds:  # each start ran its steps once, across the stops (and the switch)
        start_log = load_log(stopped / "starts" / f"seed{s}")
        assert list(history(start_log, "Energy")[0]) == list(range(start_steps))

    plain = tmp_path / "plain"
    assert main([*args, "--seed", str(chosen), "--out", str(plain)]) == 0
    logs = [json.loads((out / "log.log").read_text()) for out in (stopped, plain)]
    assert logs[0]["energy_per_site"]["iters"] == [0, 1, 2, 3, 4]  # every step exactly once
    for key in ("energy_per_site", "diag_shift", "learning_rate"):
        np.testing.assert_allclose(
            np.asarray(logs[0][key]["value"]), np.asarray(logs[1][key]["value"]), atol=1e-12
        )
    final = [json.loads((out / "summary.json").read_text()) for out in (stopped, plain)]
    assert final[0]["exact_energy_per_site"] == pytest.approx(
        final[1]["exact_energy_per_site"], abs=1e-12
    )
