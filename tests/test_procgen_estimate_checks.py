"""Checks of the estimation that can fail, on real Procgen rollouts with tiny counts, and the CLI end to end.

* a policy compared with itself under the same renderer gives TV exactly 0;
* a policy whose logits ignore the input gives R = 0 under every renderer;
* a lockstep pair with deliberately different seeds is detected as desynchronised and never used.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("procgen")
pytest.importorskip("kornia")

from procgen_checks import renderers  # noqa: E402
from procgen_checks.checkpoints import save_policy  # noqa: E402
from procgen_checks.envs import LevelRange, RenderOptions  # noqa: E402
from procgen_checks.estimate import EstimateConfig, run_estimate  # noqa: E402
from procgen_checks.estimators import image_renderer_distances, lockstep_distances  # noqa: E402
from procgen_checks.network import ActorCritic  # noqa: E402
from procgen_checks.renderers import RENDERER_NAMES, make_image_renderer  # noqa: E402
from procgen_checks.rollouts import collect_rollout  # noqa: E402
from repconv.cli import main  # noqa: E402

pytestmark = pytest.mark.procgen


def _policy(seed: int, scale: float = 30.0) -> ActorCritic:
    """A random policy with a sharpened actor, so that renderings do change its action distribution."""
    torch.manual_seed(seed)
    model = ActorCritic()
    with torch.no_grad():
        model.actor.weight.mul_(scale)
    return model.eval()


def _rollout(model, **kw):
    args = dict(split="train", num_states=24, num_envs=4, stride=2, rng=np.random.default_rng(0), max_extra_steps=0,
                progress=False)
    args.update(kw)
    return collect_rollout(model, "coinrun", LevelRange(0, 50), **args)


def test_same_policy_same_renderer_gives_tv_exactly_zero(monkeypatch):
    model = _policy(0)
    # lockstep: a twin with the reference render options must show the very same frames
    monkeypatch.setitem(renderers.LOCKSTEP_RENDERERS, "same", RenderOptions())
    ro = _rollout(model, lockstep=["same", "backgrounds"])
    assert np.array_equal(ro.lockstep["same"].frames, ro.frames)
    d = lockstep_distances(model, ro, "same")
    assert d.tv.size == 24 and np.all(d.tv == 0.0) and np.all(d.kl == 0.0)
    assert not np.array_equal(ro.lockstep["backgrounds"].frames, ro.frames)  # the real renderer changes pixels
    assert lockstep_distances(model, ro, "backgrounds").tv.max() > 0.0
    # image renderers: the same draw on both sides
    for name in ("randconv", "jitter"):
        r = make_image_renderer(name, 1.0)
        d = image_renderer_distances(model, ro, r, np.random.default_rng(4), reference=r,
                                     reference_rng=np.random.default_rng(4), batch_size=7)
        assert np.all(d.tv == 0.0), name
        assert image_renderer_distances(model, ro, r, np.random.default_rng(4)).tv.max() > 0.0, name


def test_policy_ignoring_its_input_has_zero_robustness_term(tmp_path):
    model = _policy(1)
    with torch.no_grad():
        model.encoder[5].weight.zero_()  # Linear(2048, 256): features become relu(0) = 0 for every frame
        model.encoder[5].bias.zero_()
        model.actor.bias.copy_(torch.linspace(-2.0, 2.0, 15))  # a non-uniform constant distribution
    save_policy(tmp_path / "blind.pt", model, game="coinrun", distribution_mode="easy", algo="ppo", seed=0,
                train_levels=(0, 50))
    cfg = EstimateConfig(renderers=list(RENDERER_NAMES), states=12, num_envs=3, stride=2, strengths=[0.5, 1.0],
                         sweep_states=6, max_extra_steps=0, bootstrap_resamples=20)
    res = run_estimate([tmp_path / "blind.pt"], cfg, progress=False)
    rec = res["checkpoints"][0]
    assert set(rec["R_hat"]["per_renderer"]) == set(RENDERER_NAMES)
    assert all(v == 0.0 for v in rec["R_hat"]["per_renderer"].values())
    for split in rec["splits"].values():
        for name, e in split["renderers"].items():
            assert e["tv"]["n"] > 0 and e["tv"]["max"] == 0.0 and e["kl"]["max"] == 0.0, name
    # Rv_hat is 0 in every cell: its rank correlation with the gap is undefined, and said so (no value, no warning)
    assert any(corr["cells"] >= 3 for corr in res["rank_correlation"].values())
    for corr in res["rank_correlation"].values():
        if corr["cells"] >= 3:
            assert corr["value"] is None and corr["undefined"] == "Rv_hat is the same in every cell"


def test_lockstep_pair_with_different_seeds_is_detected():
    model = _policy(2)
    ro = _rollout(model, lockstep=["backgrounds"], twin_rand_seed=12345)
    rec = ro.lockstep["backgrounds"].desync_record()
    assert rec["desynchronised_pairs"] == 4 and rec["states_kept"] == 0 and rec["states_dropped"] == 24
    assert {e["reason"] for e in rec["events"]} == {"level seed"}
    assert lockstep_distances(model, ro, "backgrounds").tv.size == 0  # a desynchronised pair is never used
    # same seeds: in sync (coinrun with only the background changed)
    ok = _rollout(model, lockstep=["backgrounds"]).lockstep["backgrounds"].desync_record()
    assert ok["desynchronised_pairs"] == 0 and ok["states_kept"] == 24


def test_smoke_estimate_and_report_end_to_end(tmp_path, capsys):
    for i, (algo, agent) in enumerate([("mdpo", 1), ("mdpo", 2), ("ppo", 1)]):
        model = _policy(10 + i)
        if i == 1:
            model.has_critic = False  # as a policy imported from the paper's format
        save_policy(tmp_path / f"p{i}.pt", model, game="coinrun", distribution_mode="easy", algo=algo, agent=agent,
                    seed=1, train_levels=(0, 50))
    # an evaluation result beside the PPO checkpoint (evaluate's default output name) gives its measured gap
    _write_evaluation(tmp_path / "p2.eval.json", tmp_path / "p2.pt", gap=1.5)
    out = tmp_path / "est"
    argv = ["procgen", "estimate", *(str(tmp_path / f"p{i}.pt") for i in range(3)), "--renderers",
            "backgrounds,randconv,jitter", "--states", "8", "--num-envs", "2", "--stride", "2", "--strengths", "0,1",
            "--sweep-states", "4", "--max-extra-steps", "5", "--bootstrap", "20", "--reward-range", "0,10",
            "--gap-episodes", "3", "--gap-max-steps", "12", "--gap-stride", "2", "--paper-states", "4",
            "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    res = json.loads((out / "estimate.json").read_text())
    assert [c["has_critic"] for c in res["checkpoints"]] == [True, False, True]
    assert res["checkpoints"][1]["eps"]["critic"] is None
    # a critic of a run that normalised rewards (or does not say) with no normaliser beside it: eps refused
    assert res["checkpoints"][0]["eps"]["critic"]["eps"] is None and "unusable" in res["checkpoints"][0]["eps"]["critic"]
    _check_rendering_gap_fields(res, ["backgrounds", "randconv", "jitter"], episodes=3, max_steps=12, stride=2)
    assert [(p["a"], p["b"]) for p in res["pairs"]] == [(0, 1)]  # D_train only between the two MDPO agents
    assert res["pairs"][0]["d_train"]["n"] == 16 and res["pairs"][0]["d_train"]["max"] > 0
    assert "LOWER" in res["checkpoints"][0]["R_hat"]["note"] and res["meta"]["config"]["states"] == 8
    sweep = res["checkpoints"][0]["splits"]["train"]["strength_sweep"]["randconv"]
    assert [r["strength"] for r in sweep] == [0.0, 1.0] and sweep[0]["tv"]["max"] < 1e-6 < sweep[1]["tv"]["max"]
    # C1 for the MDPO pair, through the theory layer (no episode finishes in 5 extra steps: no G1r/G1.test rows)
    c1 = [r for r in res["checkpoints"][0]["bounds"]["at_gamma"] if r["statement"] == "C1"]
    assert c1 and all(r["pi_tilde"] == res["checkpoints"][1]["label"] for r in c1)
    assert res["checkpoints"][2]["bounds"]["at_gamma"] == []  # the lone PPO run has no pair and no finished episode
    # merging two results of the same settings keeps every record and recomputes what spans checkpoints
    merged = tmp_path / "merged"
    assert main(["procgen", "merge", str(out), str(out), "--out", str(merged)]) == 0
    mres = json.loads((merged / "estimate.json").read_text())
    assert len(mres["checkpoints"]) == 6 and [(p["a"], p["b"]) for p in mres["pairs"]] == [(0, 1), (3, 4)]
    assert mres["rank_correlation"]["test"]["cells"] == 2 * res["rank_correlation"]["test"]["cells"]
    assert main(["procgen", "merge", str(out), "--out", str(merged)]) == 2  # never overwrites a result
    assert main(["procgen", "report", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "## Bounds with estimated terms" in report
    mg = [c["measured_gap"] for c in res["checkpoints"]]
    assert mg[2]["value"] == 1.5 and mg[2]["source"].startswith("repconv procgen evaluate") and mg[2]["ci"] == [0.5, 2.5]
    assert mg[0]["source"] == "first episodes of these rollouts"
    assert res["aggregate"]["metrics"]["gap"]["by_algo"]["ppo"]["runs"] == [[1.5]]
    assert "lower estimate of R" in report and "coinrun-mdpo-s1-a2 (p1.pt)" in report
    for name in ("tv_distributions", "tv_vs_strength", "robustness_vs_gap", "bounds_vs_gap", "rendering_gap_bounds",
                 "rv_vs_rendering_gap"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 0 and (out / "figures" / f"{name}.pdf").is_file()
        assert f"figures/{name}.png" in report


def _check_rendering_gap_fields(res: dict, renderers: list[str], *, episodes: int, max_steps: int, stride: int) -> None:
    """The rendering gap, Rv_hat, the G1r/G1vr rows, the correlation and the paper metric, with consistent shapes."""
    gammas = sorted(set(res["config"]["gammas"]) | {res["config"]["gamma"]})
    for rec in res["checkpoints"]:
        assert set(rec["rendering_gap"]) == set(renderers) and set(rec["Rv_hat"]) == set(renderers)
        for name in renderers:
            for split in ("train", "test"):
                gp, rv = rec["rendering_gap"][name][split], rec["Rv_hat"][name][split]
                assert gp["episodes"] == episodes and gp["by_gamma"]["gammas"] == gammas == rv["gammas"]
                # Rv_hat at most the visitation mass of the recorded steps: 1 - gamma^max_steps; never negative
                for g, v, up in zip(rv["gammas"], rv["value"], rv["upper"]):
                    if v is not None:
                        assert 0.0 <= v <= 1.0 - g ** max_steps + 1e-12 and v <= up + 1e-12
                # every episode runs to max_steps at most: each arm's returns exist only for finished pairs
                u = gp["undiscounted"]
                assert u["pairs"] + u["discarded_level_mismatch"] + u["discarded_unfinished"] == episodes
                assert u["discarded_level_mismatch"] == 0  # same rand_seed: same levels episode by episode
                assert rv["stride"] == stride and gp["desync"]["desynchronised_pairs"] == 0
                rows = rec["bounds"]["rendering_gap"]["per_renderer"][name][split]
                assert len(rows["G1r"]["bound"]) == len(gammas) and "largest_informative_gamma" in rows["G1vr"]
        assert rec["measured_gap"]["note"].startswith("the record's one train-test gap") and "gap" not in rec["returns"]
        for split in ("train", "test"):
            assert rec["paper_robustness"][split]["n"] == 4 and rec["paper_robustness"][split]["resampled"] == "episodes"
        assert rec["splits"]["train"]["renderers"]["backgrounds"]["tv"]["resampled"] == "episodes"
        assert rec["game_reward_range"]["r_max"] == 10
    assert set(res["rank_correlation"]) == {"train", "test"}


def _write_evaluation(path, checkpoint, gap: float, **policy_changes) -> None:
    """A minimal result of `repconv procgen evaluate` for ``checkpoint`` (the keys the estimate reads)."""
    from procgen_checks.checkpoints import load_policy

    _, info = load_policy(checkpoint)
    split = {"episodes": 4, "mean": 5.0, "standard_error": 1.0, "ci": [3.0, 7.0], "normalized_mean": 0.0, "levels": [0, 50]}
    path.write_text(json.dumps({
        "checkpoint": str(checkpoint), "policy": {**info, **policy_changes},
        "splits": {"train": {**split, "mean": 5.0 + gap}, "test": split},
        "generalization_gap": {"mean": gap, "standard_error": 0.5, "ci": [gap - 1, gap + 1], "normalized": 0.0},
        "episodes_per_split": 4, "greedy": False,
    }))


def test_bad_input_gets_one_line_errors(tmp_path, capsys):
    save_policy(tmp_path / "ok.pt", ActorCritic(), game="coinrun", distribution_mode="easy", algo="ppo")
    torch.save({"weight": torch.zeros(15, 256)}, tmp_path / "actor.pth")
    cases = [
        (["--renderers", "backgrounds,colour"], "unknown renderer 'colour'"),
        ([str(tmp_path / "missing.pt")], "missing.pt: no such policy checkpoint"),
        ([str(tmp_path / "actor.pth")], "not a repconv-procgen-policy-v1 file"),
        (["--states", "0"], "states is 0, expected >= 1"),
        (["--evaluation", str(tmp_path / "stale.eval.json")], "evaluates another policy: env_steps = 999, the checkpoint has 0"),
        (["--evaluation", str(tmp_path / "none.eval.json")], "no such evaluation file"),
    ]
    _write_evaluation(tmp_path / "stale.eval.json", tmp_path / "ok.pt", gap=0.0, env_steps=999)
    for extra, message in cases:
        ckpts = [] if extra[0].startswith(str(tmp_path)) else [str(tmp_path / "ok.pt")]
        assert main(["procgen", "estimate", *ckpts, *extra, "--out", str(tmp_path / "o")]) == 2
        assert message in capsys.readouterr().err
    assert main(["procgen", "report", str(tmp_path / "nothing")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_rendering_gap_arms_play_the_same_levels_and_a_desynchronised_twin_is_never_used():
    from procgen_checks.estimators import rv_estimate
    from procgen_checks.rollouts import collect_episodes, episode_render_seeds

    model = _policy(3)
    seeds = episode_render_seeds(np.random.SeedSequence(0), ["randconv"], 3)
    common = dict(num_episodes=3, render_seeds=seeds, rand_seed=11, stride=1, max_steps=15, progress=False)
    ref = collect_episodes(model, "coinrun", LevelRange(0, 50), compare=["backgrounds", "randconv"],
                           rng=np.random.default_rng(0), **common)
    for name in ("backgrounds", "randconv"):
        arm = collect_episodes(model, "coinrun", LevelRange(0, 50), acting=name, rng=np.random.default_rng(1), **common)
        assert np.array_equal(arm.level_seeds, ref.level_seeds), name  # paired: the same level in episode e
    d = ref.distances["backgrounds"]
    assert not d.desynced.any() and d.tv.size == int(ref.lengths.sum()) and d.tv.max() > 0
    # a twin on another rand_seed plays other levels: detected at the start, every episode excluded from Rv_hat
    bad = collect_episodes(model, "coinrun", LevelRange(0, 50), compare=["backgrounds"], twin_rand_seed=999,
                           rng=np.random.default_rng(0), **{k: v for k, v in common.items() if k != "render_seeds"})
    b = bad.distances["backgrounds"]
    assert b.desynced.all() and b.tv.size == 0 and {e.reason for e in b.events} == {"level seed"}
    r = rv_estimate(b.tv, b.episode, b.step, bad.lengths, bad.finished, b.desynced, 0.9, 1, np.random.default_rng(0))
    assert r["value"] is None and r["episodes"] == 0
