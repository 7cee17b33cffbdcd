"""``repconv toy`` and ``repconv plot`` end to end with a tiny configuration, and the toy measurements."""

from __future__ import annotations

import json

import mdptoolbox.mdp
import numpy as np
import pytest

from repconv.cli import main
from toymdp import evaluate
from toymdp.toy_example.toy import build_family, softmax_policy
from toymdp.toy_example.toy_experiment import measure

TINY = ["--seeds", "2", "--steps", "20", "--eval-every", "10", "--alphas", "0,0.3", "--families", "opposed,disjoint",
        "--gammas", "0.5,0.9", "--search-sizes", "2", "--search-restarts", "1", "--quiet"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny ``repconv toy`` run shared by the tests of this module: its output folder."""
    out = tmp_path_factory.mktemp("toy") / "run"
    assert main(["toy", "--out", str(out), *TINY]) == 0
    return out


def test_smoke_repconv_toy_then_plot(tiny_run, tmp_path):
    out = tiny_run
    results = json.loads((out / "toy_results.json").read_text())
    meta = results["run_metadata"]
    assert meta["config"]["seeds"] == 2 and "git_commit" in meta and "versions" in meta
    assert set(results["families"]) == {"opposed", "disjoint"}
    fam = results["families"]["opposed"]
    assert fam["steps"] == [0, 10, 20]
    assert np.shape(fam["curves"]["eta_test"]) == (2, 2, 2, 3)  # alphas, seeds, agents, checkpoints
    # Runs are paired by seed: before the first step every alpha measures the same policies.
    for key in ("eta_test", "R", "D_train"):
        first = np.asarray(fam["curves"][key])[..., 0]
        np.testing.assert_array_equal(first[0], first[1])
    assert "| opposed | 0.3 |" in (out / "toy_table.md").read_text()
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert "toy_training_curves_opposed.png" in figures and "toy_training_curves_disjoint.pdf" in figures

    redraw = tmp_path / "redrawn"
    assert main(["plot", str(out / "toy_results.json"), "--out", str(redraw)]) == 0
    assert sorted(p.name for p in redraw.iterdir()) == figures
    assert all(p.stat().st_size > 1000 for p in redraw.iterdir())


def test_plot_progress_bar_counts_the_figures(tiny_run, tmp_path, capsys):
    # Two families with training curves, bounds against R and against gamma each, and the tightest instances: 7.
    results = str(tiny_run / "toy_results.json")
    assert main(["plot", results, "--out", str(tmp_path / "bar"), "--formats", "png"]) == 0
    err = capsys.readouterr().err
    assert "figures" in err and "7/7" in err, err
    assert main(["plot", results, "--out", str(tmp_path / "quiet"), "--formats", "png", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
    assert len(list((tmp_path / "quiet").iterdir())) == 7


def test_optimal_return_in_results_matches_policy_iteration(tiny_run):
    results = json.loads((tiny_run / "toy_results.json").read_text())
    toy = build_family()
    oracle = mdptoolbox.mdp.PolicyIteration(np.transpose(toy.mdp.P, (1, 0, 2)), toy.mdp.r, 0.9, eval_type=0)
    oracle.run()  # policy iteration with exact (matrix) policy evaluation
    assert results["families"]["opposed"]["family"]["eta_optimal"] == pytest.approx(oracle.V[0], rel=1e-10)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["toy", "--alphas", "0.1,0.3"], "must include 0"),
        (["toy", "--families", "nope"], "unknown toy family 'nope'"),
        (["toy", "--seeds", "1"], "seeds is 1"),
        (["toy", "--search-sizes", "6"], "sizes in 1..5"),
    ],
)
def test_bad_toy_options_get_one_line_errors(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_plot_rejects_missing_or_foreign_files(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"kind": "something-else"}))
    assert main(["plot", str(other)]) == 2
    assert "has no figures" in capsys.readouterr().err


def test_measurements_use_the_peer_as_base_policy():
    """Agent 1 is measured as pi~ against pi = agent 2 and vice versa: D_train is the largest TV
    between the agents' action distributions over training renderers and states (computed here
    by hand from the policies), R_sum = R(peer) + R(agent) + D_train."""
    toy = build_family()
    rng = np.random.default_rng(2)
    W1, W2 = (rng.normal(size=(toy.num_features, 2)) for _ in range(2))
    m = measure(toy, W1, W2)
    p1, p2 = softmax_policy(toy.features, W1), softmax_policy(toy.features, W2)
    tv = max(0.5 * np.abs(toy.family.renderers[k][s] @ (p1 - p2)).sum()
             for k in toy.family.train for s in range(toy.mdp.num_states))
    assert m["D_train"] == pytest.approx(tv, rel=1e-12)
    alone = [evaluate(toy.instance(p, p)).pi for p in (p1, p2)]
    for agent in (0, 1):
        assert m["eta_test"][agent] == pytest.approx(alone[agent].eta_test, rel=1e-12)
        assert m["R"][agent] == pytest.approx(alone[agent].R, rel=1e-12)
        own = alone[agent].eta[list(toy.agent_renderers[agent])].mean()
        assert m["eta_own"][agent] == pytest.approx(own, rel=1e-12)
        assert m["R_sum"][agent] == pytest.approx(alone[0].R + alone[1].R + tv, rel=1e-12)
