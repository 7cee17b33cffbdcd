"""The estimation run behind ``repconv procgen estimate``: every sample estimate for a set of checkpoints.

For each policy checkpoint and each level split (training levels of the checkpoint, and disjoint test
levels right after them, :func:`procgen_checks.envs.level_split`):

1. roll the policy out and record ``states`` visited states (:func:`procgen_checks.rollouts.collect_rollout`),
   with a lockstep twin per render-option renderer;
2. per renderer: per-state TV, KL and encoder cosine distance against the reference rendering, summarised
   with bootstrap CIs (:mod:`procgen_checks.estimators`); for image renderers also a sweep over strength;
3. ``eps`` (critic, Monte Carlo, reward range) and first-episode returns on both splits (the measured
   generalization gap, undiscounted and discounted on a grid of ``gamma``).

Across checkpoints: ``D_train`` for each pair of checkpoints of the same game, mode and algorithm (the two
MDPO agents, or PPO seeds), on the union of both policies' training-level states; and the aggregates
across games and runs (:mod:`common.stats`). The result is one JSON-ready dict.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from common.files import read_json
from common.stats import difference_interval, interval_estimate, probability_of_improvement_interval, stratified_bootstrap

from .checkpoints import load_policy, load_torch_file
from .config import DEFAULT_GAMMAS, EstimateConfig
from .envs import LevelRange, level_split
from .estimators import (
    LOWER_ESTIMATE_NOTE,
    PAPER_METRIC_NOTE,
    paired_return_difference,
    paper_robustness,
    rv_estimate,
    eps_from_critic,
    eps_from_returns,
    eps_reward_range,
    image_renderer_distances,
    lockstep_distances,
    observed_reward_range,
    policy_distance,
    summarize,
)
from .renderers import IMAGE_RENDERERS, LOCKSTEP_RENDERERS, make_image_renderer
from .rollouts import REFERENCE, Rollout, collect_episodes, collect_rollout, episode_render_seeds

__all__ = ["EstimateConfig", "run_estimate", "merge_results", "DEFAULT_GAMMAS", "SPLITS"]

SPLITS = ("train", "test")
#: Training levels assumed when a checkpoint does not record its own (Cobbe et al. 2020 protocol).
DEFAULT_TRAIN_LEVELS = {"easy": 200, "hard": 500}


def _levels(info: dict) -> tuple[LevelRange, LevelRange]:
    if info.get("train_levels"):
        start, num = info["train_levels"]
    else:
        start, num = 0, DEFAULT_TRAIN_LEVELS[info["distribution_mode"]]
    return level_split(int(num), int(start))


def _label(path: Path, info: dict) -> str:
    parts = [info["game"], info["algo"]]
    if info.get("seed") is not None:
        parts.append(f"s{info['seed']}")
    parts.append(f"a{info['agent']}")
    return "-".join(str(p) for p in parts) + f" ({path.name})"


def _returns_summary(rollouts: dict[str, Rollout], gammas: list[float], rng: np.random.Generator, resamples: int) -> dict:
    """First-episode returns per split (finished episodes only) and the gap train - test, undiscounted and per gamma."""
    out: dict[str, Any] = {"protocol": "first episode of each environment of the rollout; unfinished episodes excluded"}
    per_gamma: dict[str, list] = {"gammas": list(gammas), "train": [], "test": [], "gap": []}
    for label, g in [("undiscounted", 1.0)] + [(None, g) for g in gammas]:
        split_vals = {}
        for split, ro in rollouts.items():
            ret, done = ro.first_episode_returns(g)
            split_vals[split] = ret[done]
        if label:
            for split, vals in split_vals.items():
                out[split] = {
                    "mean": float(vals.mean()) if vals.size else None,
                    "standard_error": float(vals.std(ddof=1) / np.sqrt(vals.size)) if vals.size > 1 else None,
                    "episodes": int(vals.size),
                    "unfinished": int(rollouts[split].num_envs_first_unfinished),
                }
        means = {s: (float(v.mean()) if v.size else None) for s, v in split_vals.items()}
        gap = means["train"] - means["test"] if None not in (means.get("train"), means.get("test")) else None
        if label:
            out["gap"] = gap
            tr, te = split_vals.get("train", np.zeros(0)), split_vals.get("test", np.zeros(0))
            if tr.size > 1 and te.size > 1:
                out["gap_standard_error"] = float(np.sqrt(tr.var(ddof=1) / tr.size + te.var(ddof=1) / te.size))
                out["gap_ci"] = list(difference_interval(tr, te, rng, resamples, confidence=0.95))
        else:
            per_gamma["train"].append(means.get("train"))
            per_gamma["test"].append(means.get("test"))
            per_gamma["gap"].append(gap)
    out["discounted"] = per_gamma
    return out


def _estimate_checkpoint(path: Path, model, info: dict, cfg: EstimateConfig, seq: np.random.SeedSequence,
                         progress: bool, evaluation: dict | None = None) -> tuple[dict, dict[str, Rollout]]:
    rollout_seq, render_seq, boot_seq, gap_seq, paper_seq = seq.spawn(5)
    record: dict[str, Any] = {
        "path": str(path),
        "label": _label(path, info),
        **{k: info.get(k) for k in ("game", "distribution_mode", "algo", "agent", "seed", "has_critic", "train_levels", "env_steps")},
        "splits": {},
    }
    rollouts = _checkpoint_rollouts(model, info, cfg, rollout_seq, progress)
    # One bootstrap generator and one stream of renderer draws, consumed in this order by every summary below.
    boot_rng = np.random.default_rng(boot_seq)
    render_rngs = iter(np.random.default_rng(s) for s in render_seq.spawn(1000))
    for split, ro in rollouts.items():
        record["splits"][split] = _split_distances(model, ro, split, cfg, boot_rng, render_rngs, progress)

    record["R_hat"] = _r_hat(record)
    record["reward_range"] = _reward_range(rollouts, cfg)
    record["observed_reward_range"] = list(observed_reward_range(list(rollouts.values())))
    gammas = sorted(set(cfg.gammas) | {cfg.gamma})
    record["eps"] = _eps_record(path, info, cfg, rollouts["train"], record["reward_range"], gammas)
    record["returns"] = _returns_summary(rollouts, gammas, boot_rng, cfg.bootstrap_resamples)
    record["rendering_gap"], record["Rv_hat"] = _rendering_gap(model, info, cfg, gap_seq, progress)
    if cfg.paper_metric_states > 0:
        record["paper_robustness"] = _paper_robustness_record(model, rollouts, cfg, np.random.default_rng(paper_seq),
                                                              boot_rng)
    if evaluation is not None:
        record["evaluation"] = evaluation
    record["measured_gap"] = _measured_gap(record)
    for key in ("gap", "gap_ci", "gap_standard_error"):  # one train-test gap per record: measured_gap, with its source
        record["returns"].pop(key, None)
    return record, rollouts


def _checkpoint_rollouts(model, info: dict, cfg: EstimateConfig, seq: np.random.SeedSequence,
                         progress: bool) -> dict[str, Rollout]:
    """One rollout per split (training and test levels), with the lockstep renderers' twin environments."""
    train_levels, test_levels = _levels(info)
    lockstep = [r for r in cfg.renderers if r in LOCKSTEP_RENDERERS]
    rollouts: dict[str, Rollout] = {}
    for split, levels, s in zip(SPLITS, (train_levels, test_levels), seq.spawn(len(SPLITS))):
        rng = np.random.default_rng(s)
        rollouts[split] = collect_rollout(
            model, info["game"], levels, split=split, num_states=cfg.states, num_envs=cfg.num_envs, stride=cfg.stride,
            lockstep=lockstep, distribution_mode=info["distribution_mode"], rand_seed=int(rng.integers(0, 2**31 - 1)),
            rng=rng, max_extra_steps=cfg.max_extra_steps, batch_size=cfg.batch_size, progress=progress,
        )
    return rollouts


def _split_distances(model, ro: Rollout, split: str, cfg: EstimateConfig, boot_rng, render_rngs,
                     progress: bool) -> dict[str, Any]:
    """Per renderer, the policy's TV (and feature cosine) between the training rendering and the renderer on the
    split's visited states; on the training split also the image renderers' strength sweep."""
    split_rec: dict[str, Any] = {"levels": [ro.levels.start, ro.levels.num], "num_states": ro.num_states, "renderers": {}}
    for name in cfg.renderers:
        if name in LOCKSTEP_RENDERERS:
            d = lockstep_distances(model, ro, name, batch_size=cfg.batch_size)
            entry = {"kind": "lockstep", **d.summary(boot_rng, cfg.bootstrap_resamples),
                     "desync": ro.lockstep[name].desync_record()}
        else:
            d = image_renderer_distances(model, ro, make_image_renderer(name, 1.0), next(render_rngs),
                                         batch_size=cfg.batch_size, progress=progress)
            entry = {"kind": "image", "strength": 1.0, **d.summary(boot_rng, cfg.bootstrap_resamples)}
        split_rec["renderers"][name] = entry
    if split == "train" and cfg.sweep_states > 0:
        sweep = {}
        for name in [r for r in cfg.renderers if r in IMAGE_RENDERERS]:
            rows = []
            for strength in cfg.strengths:
                d = image_renderer_distances(model, ro, make_image_renderer(name, strength), next(render_rngs),
                                             batch_size=cfg.batch_size, limit=cfg.sweep_states)
                s = d.summary(boot_rng, cfg.bootstrap_resamples, keep_samples=False)
                rows.append({"strength": strength, "tv": s["tv"], "feature_cosine": s["feature_cosine"]})
            sweep[name] = rows
        split_rec["strength_sweep"] = sweep
    return split_rec


def _reward_range(rollouts: dict[str, Rollout], cfg: EstimateConfig) -> dict[str, Any]:
    """The per-step reward range the bounds use: given, or observed in these rollouts (not a guaranteed range)."""
    if cfg.reward_range is not None:
        r_min, r_max = cfg.reward_range
        source = "given (--reward-range)"
    else:
        r_min, r_max = observed_reward_range(list(rollouts.values()))
        source = "observed per-step rewards in these rollouts (min with 0, max with 0): not a guaranteed range"
    return {"r_min": r_min, "r_max": r_max, "source": source}


def _eps_record(path: Path, info: dict, cfg: EstimateConfig, train: Rollout, reward_range: dict[str, Any],
                gammas: list[float]) -> dict[str, Any]:
    """eps (the largest |advantage|) three ways: from the critic, from Monte-Carlo returns, and the reward-range bound."""
    r_min, r_max = reward_range["r_min"], reward_range["r_max"]
    value_scale, scale_source = _value_scale(path, info, cfg)
    return {
        "gamma": cfg.gamma,
        "critic": (None if not info.get("has_critic") else
                   {"eps": None, "unusable": scale_source} if value_scale is None else
                   eps_from_critic(train, cfg.gamma, value_scale=value_scale)),
        "critic_value_scale_source": scale_source,
        "monte_carlo": eps_from_returns(train, cfg.gamma),
        "reward_range_bound": float(eps_reward_range(r_min, r_max, cfg.gamma)) if r_max > r_min else None,
        "by_gamma": {
            "gammas": gammas,
            "monte_carlo": [eps_from_returns(train, g)["eps"] for g in gammas],
            "reward_range_bound": [float(eps_reward_range(r_min, r_max, g)) if r_max > r_min else None for g in gammas],
        },
        "note": "critic: GAE advantages on visited steps (lower estimate); monte_carlo: spread of observed "
                "discounted returns-to-go (plug-in); reward_range_bound: (r_max - r_min) / (1 - gamma) (upper bound "
                "when the reward range is a true range)",
    }


def _paper_robustness_record(model, rollouts: dict[str, Rollout], cfg: EstimateConfig, paper_rng, boot_rng) -> dict:
    """The paper's robustness metric (our reading: a mean KL under random convolutions) per split."""
    out: dict[str, Any] = {"note": PAPER_METRIC_NOTE}
    for split, ro in rollouts.items():
        n = min(cfg.paper_metric_states, ro.num_states)
        per_state = paper_robustness(model, ro.frames[:n], paper_rng, batch_size=cfg.batch_size)
        out[split] = summarize(per_state, boot_rng, cfg.bootstrap_resamples, episodes=ro.episode[:n])
    return out


def _gap_row(pairs: list[dict]) -> dict:
    return {k: [p[k] for p in pairs] for k in ("eta_ref", "eta_k", "gap", "standard_error", "ci", "pairs")}


def _rendering_gap(model, info: dict, cfg: EstimateConfig, seq: np.random.SeedSequence, progress: bool) -> tuple[dict, dict]:
    """The measured rendering gap per renderer and split, and Rv_hat per renderer and split (THEORY, G1vr).

    Per split, the reference arm runs the first episode of ``gap_episodes`` environments under the training
    rendering and measures the per-state distances to every renderer along the way; each renderer's arm runs the
    same environments (same ``rand_seed``, hence the same level seed per episode, checked pair by pair) with the
    policy acting under that renderer. Image renderers draw one rendering per episode, the same draw in both arms.
    """
    gammas = sorted(set(cfg.gammas) | {cfg.gamma})
    images = [r for r in cfg.renderers if r in IMAGE_RENDERERS]
    gap: dict[str, dict] = {name: {} for name in cfg.renderers}
    rv: dict[str, dict] = {name: {} for name in cfg.renderers}
    train_levels, test_levels = _levels(info)
    E = cfg.gap_episodes
    common = dict(num_episodes=E, distribution_mode=info["distribution_mode"], stride=cfg.gap_stride,
                  max_steps=cfg.gap_max_steps, batch_size=cfg.batch_size, progress=progress)
    for split, levels, s in zip(SPLITS, (train_levels, test_levels), seq.spawn(len(SPLITS))):
        seed_seq, render_seq, act_seq, boot_seq = s.spawn(4)
        rand_seed = int(np.random.default_rng(seed_seq).integers(0, 2**31 - 1))
        seeds = episode_render_seeds(render_seq, images, E)
        act_seqs = act_seq.spawn(1 + len(cfg.renderers))
        boot = np.random.default_rng(boot_seq)
        ref = collect_episodes(model, info["game"], levels, acting=REFERENCE, compare=cfg.renderers, render_seeds=seeds,
                               rand_seed=rand_seed, rng=np.random.default_rng(act_seqs[0]), **common)
        for name, a_seq in zip(cfg.renderers, act_seqs[1:]):
            arm = collect_episodes(model, info["game"], levels, acting=name, render_seeds=seeds, rand_seed=rand_seed,
                                   rng=np.random.default_rng(a_seq), **common)
            paired = [paired_return_difference(ref.returns(g), arm.returns(g), ref.level_seeds, arm.level_seeds,
                                               ref.finished, arm.finished, boot, cfg.bootstrap_resamples)
                      for g in [1.0, *gammas]]
            dist = ref.distances[name]
            valid = ~dist.desynced[dist.episode]
            gap[name][split] = {
                "source": "paired episodes of this estimate: the policy acting under the training rendering vs under "
                          f"{name}, same level seed per episode",
                "levels": [levels.start, levels.num],
                "episodes": E,
                "undiscounted": paired[0],
                "by_gamma": {"gammas": gammas, **_gap_row(paired[1:])},
                "mean_length": {"reference": float(ref.lengths.mean()), name: float(arm.lengths.mean())},
                "unfinished": {"reference": int((~ref.finished).sum()), name: int((~arm.finished).sum())},
                "tv_max": float(dist.tv[valid].max()) if valid.any() else None,
                "desync": {"pairs": E, "desynchronised_pairs": int(dist.desynced.sum()),
                           "events": [{"env_index": e.env_index, "step": e.step, "reason": e.reason} for e in dist.events]},
            }
            ests = [rv_estimate(dist.tv, dist.episode, dist.step, ref.lengths, ref.finished, dist.desynced, g,
                                cfg.gap_stride, boot, cfg.bootstrap_resamples) for g in gammas]
            rv[name][split] = {"gammas": gammas, **{k: [e[k] for e in ests] for k in ("value", "ci", "upper", "episodes")},
                               "stride": cfg.gap_stride, "states": int(dist.tv.size)}
    return gap, rv


def _value_scale(path: Path, info: dict, cfg: EstimateConfig) -> tuple[float | None, str]:
    """Factor from critic outputs to reward units, and where it comes from (None: unknown, eps refused).

    A critic trained on normalised rewards (``r / sqrt(Var[G] + 1e-8)``, the paper's reward scaling) predicts
    returns in those units; the training run's ``state.pt`` beside the checkpoint holds the normaliser of
    each agent. Clipping of normalised rewards is not undone, so the conversion is approximate. When the run
    normalised its rewards (or its checkpoint does not say) and no normaliser is found, the scale is unknown and
    the critic's eps is refused rather than read in the wrong units.
    """
    if cfg.value_scale is not None:
        return cfg.value_scale, "given (--value-scale)"
    run_config = (info.get("extra") or {}).get("config") or {}
    if run_config.get("normalize_reward") is False:
        return 1.0, "1: the run trained its critic on unnormalised rewards"
    state_path = path.parent / "state.pt"
    if not state_path.is_file():
        return None, ("unusable: the critic was trained on normalised rewards (or the checkpoint does not say) and no "
                      "training state with the normaliser lies beside the checkpoint; pass --value-scale")
    try:
        state = load_torch_file(state_path, "training state")
        if not state.get("config", {}).get("normalize_reward", True):
            return 1.0, f"1: {state_path} trained on unnormalised rewards"
        rms = state["agents"][int(info["agent"]) - 1]["reward_normalizer"]["return_rms"]
        return float(np.sqrt(rms["var"] + 1e-8)), f"reward normaliser of agent {info['agent']} in {state_path}"
    except Exception as err:  # noqa: BLE001 (any unreadable file means: scale unknown)
        return None, f"unusable: could not read the reward normaliser of {state_path} ({err}); pass --value-scale"


EVALUATION_SUFFIX = ".eval.json"
_MATCH_KEYS = ("game", "distribution_mode", "algo", "agent", "seed", "env_steps")


def read_evaluation(eval_path: Path, info: dict) -> dict:
    """The train/test returns and gap of a ``repconv procgen evaluate`` result, checked against the checkpoint."""
    try:
        ev = read_json(eval_path)
        policy, splits, gap = ev["policy"], ev["splits"], ev["generalization_gap"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{eval_path}: not a result of `repconv procgen evaluate` ({err})") from None
    differ = [k for k in _MATCH_KEYS if policy.get(k) != info.get(k)]
    if differ:
        k = differ[0]
        raise ValueError(f"{eval_path} evaluates another policy: {k} = {policy.get(k)!r}, the checkpoint has {info.get(k)!r}")
    keep = ("episodes", "mean", "standard_error", "ci", "normalized_mean", "levels")
    return {"path": str(eval_path), "episodes_per_split": ev.get("episodes_per_split"), "greedy": ev.get("greedy"),
            "train": {k: splits["train"].get(k) for k in keep}, "test": {k: splits["test"].get(k) for k in keep},
            "gap": gap}


MEASURED_GAP_NOTE = ("the record's one train-test gap (training levels minus test levels, undiscounted); the "
                     "rendering gap of each renderer, which G1r/G1vr bound, is under rendering_gap")


def _measured_gap(record: dict) -> dict:
    """The gap next to the bounds: from the evaluation file when there is one, else from these rollouts."""
    ev = record.get("evaluation")
    if ev:
        return {"value": ev["gap"]["mean"], "ci": ev["gap"].get("ci"), "standard_error": ev["gap"].get("standard_error"),
                "episodes_per_split": ev["episodes_per_split"], "source": f"repconv procgen evaluate ({ev['path']})",
                "note": MEASURED_GAP_NOTE}
    ret = record["returns"]
    return {"value": ret.get("gap"), "ci": ret.get("gap_ci"), "standard_error": ret.get("gap_standard_error"),
            "episodes_per_split": [ret["train"]["episodes"], ret["test"]["episodes"]],
            "source": "first episodes of these rollouts", "note": MEASURED_GAP_NOTE}


def _r_hat(record: dict) -> dict:
    """Max sampled TV per renderer over both splits, and over all renderers (lower estimates of R)."""
    per = {}
    for name in next(iter(record["splits"].values()))["renderers"]:
        vals = [s["renderers"][name]["tv"]["max"] for s in record["splits"].values()]
        vals = [v for v in vals if v is not None]
        per[name] = max(vals) if vals else None
    known = [v for v in per.values() if v is not None]
    return {"per_renderer": per, "all_renderers": max(known) if known else None, "note": LOWER_ESTIMATE_NOTE}


def _pair_groups(records: list[dict]) -> list[tuple[int, int]]:
    """Index pairs of checkpoints with the same game, mode and algorithm."""
    key = lambda r: (r["game"], r["distribution_mode"], r["algo"])  # noqa: E731
    return [(i, j) for i, j in itertools.combinations(range(len(records)), 2) if key(records[i]) == key(records[j])]


def run_key(record: dict) -> tuple:
    """The training run of a checkpoint record: the agents of one MDPO run share it (one run, two coupled agents)."""
    return (record["game"], record["distribution_mode"], record["algo"], record.get("seed"),
            str(Path(record["path"]).resolve().parent))


#: Per-step reward range of a game from its source (procgen's games: coinrun pays 10 for the coin and nothing else;
#: starpilot pays 1 per enemy destroyed and a completion bonus of 10). Several rewards can fall on one step, so the
#: range used is the union of this constant and every reward observed on that game in the run.
GAME_REWARD_RANGES: dict[str, tuple[float, float]] = {"coinrun": (0.0, 10.0), "starpilot": (0.0, 10.0)}


def game_reward_ranges(records: list[dict], given: tuple[float, float] | None) -> dict[str, dict]:
    """One per-step reward range per game, shared by all its checkpoints (never a per-checkpoint range)."""
    out = {}
    for game in sorted({r["game"] for r in records}):
        if given is not None:
            out[game] = {"r_min": given[0], "r_max": given[1], "source": "given (--reward-range)"}
            continue
        lo = min(r["observed_reward_range"][0] for r in records if r["game"] == game)
        hi = max(r["observed_reward_range"][1] for r in records if r["game"] == game)
        const = GAME_REWARD_RANGES.get(game)
        if const is None:
            out[game] = {"r_min": lo, "r_max": hi, "source": "observed over every checkpoint of the game in this run "
                                                              "(no documented constant): not a guaranteed range"}
        else:
            out[game] = {"r_min": min(lo, const[0]), "r_max": max(hi, const[1]),
                         "source": f"documented per-game range {list(const)} joined with the rewards observed over every "
                                   "checkpoint of the game in this run"}
    return out


def rank_correlation(records: list[dict], split: str, gamma: float, rng: np.random.Generator, resamples: int) -> dict:
    """Spearman correlation between Rv_hat and the measured rendering gap over (checkpoint, renderer) cells.

    The independent units are training runs (the two agents of an MDPO run are one run, and all renderers of a
    checkpoint share its policy): the interval redraws whole runs with replacement within each game
    (:func:`common.stats.stratified_bootstrap`) and recomputes the correlation over the drawn runs' cells.
    """
    from scipy.stats import spearmanr

    cells = []
    for rec in records:
        for name, per_split in rec.get("Rv_hat", {}).items():
            rv = per_split.get(split)
            gp = rec["rendering_gap"].get(name, {}).get(split)
            if not rv or not gp or gamma not in rv["gammas"]:
                continue
            i = rv["gammas"].index(gamma)
            x, y = rv["value"][i], gp["by_gamma"]["gap"][gp["by_gamma"]["gammas"].index(gamma)]
            if x is not None and y is not None:
                cells.append((run_key(rec), rec["game"], name, rec["label"], x, y))
    out: dict[str, Any] = {"split": split, "gamma": gamma, "cells": len(cells), "value": None, "ci": [None, None],
                           "units": "training runs, redrawn within each game", "gap": "signed eta_train_render - eta_k"}
    if len(cells) < 3:
        return out
    x = np.array([c[4] for c in cells])
    y = np.array([c[5] for c in cells])
    if np.ptp(x) == 0 or np.ptp(y) == 0:  # a rank correlation with a constant is undefined
        out["undefined"] = f"{'Rv_hat' if np.ptp(x) == 0 else 'the rendering gap'} is the same in every cell"
        return out
    out["value"] = float(spearmanr(x, y).statistic)
    runs = sorted({c[0] for c in cells})
    games = sorted({c[1] for c in cells})
    cell_run = np.array([runs.index(c[0]) for c in cells])
    per_game = [np.array([i for i, r in enumerate(runs) if r[0] == g]) for g in games]

    def statistic(drawn: list[np.ndarray]) -> np.ndarray:
        vals = []
        for row in np.concatenate(drawn, axis=-1):
            idx = np.concatenate([np.flatnonzero(cell_run == r) for r in row])
            xs, ys = x[idx], y[idx]
            vals.append(spearmanr(xs, ys).statistic if np.ptp(xs) > 0 and np.ptp(ys) > 0 else np.nan)
        return np.asarray(vals)

    boot = stratified_bootstrap(per_game, statistic, rng, resamples)
    boot = boot[np.isfinite(boot)]
    out["ci"] = [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))] if boot.size else [None, None]
    out["resamples_used"] = int(boot.size)
    out["points"] = [{"label": c[3], "renderer": c[2], "Rv_hat": c[4], "gap": c[5]} for c in cells]
    return out


def _aggregates(records: list[dict], renderers: list[str], rng: np.random.Generator, resamples: int) -> dict:
    """IQM per algorithm across games and runs, and probability of improvement MDPO vs PPO (lower is better)."""
    metrics = {f"R_hat[{r}]": (lambda rec, r=r: rec["R_hat"]["per_renderer"].get(r)) for r in renderers}
    metrics.update({f"mean_tv[{r}]": (lambda rec, r=r: rec["splits"]["test"]["renderers"][r]["tv"]["mean"]) for r in renderers})
    metrics.update({f"feature_cosine[{r}]": (lambda rec, r=r: rec["splits"]["test"]["renderers"][r]["feature_cosine"]["mean"])
                    for r in renderers})
    metrics["gap"] = lambda rec: rec["measured_gap"]["value"]
    algos = sorted({r["algo"] for r in records})
    games = sorted({r["game"] for r in records})
    out: dict[str, Any] = {"note": "scores per algorithm: runs = training runs (the agents of one MDPO run are coupled "
                                   "by distillation and count as ONE run: their values are averaged), tasks = games; "
                                   "IQM with stratified bootstrap 95% CI; probability of improvement counts a LOWER "
                                   "value as better",
                           "games": games, "metrics": {}}
    for name, get in metrics.items():
        by_algo = {}
        for algo in algos:
            tasks = []
            for game in games:
                runs: dict[tuple, list[float]] = {}
                for r in records:
                    if r["algo"] == algo and r["game"] == game and get(r) is not None:
                        runs.setdefault(run_key(r), []).append(float(get(r)))
                vals = [float(np.mean(v)) for v in runs.values()]
                if vals:
                    tasks.append(np.array(vals, dtype=float))
            if len(tasks) == len(games):
                by_algo[algo] = {"iqm": interval_estimate(tasks, rng, num_resamples=resamples), "runs": [t.tolist() for t in tasks]}
        entry: dict[str, Any] = {"by_algo": by_algo}
        if "mdpo" in by_algo and "ppo" in by_algo:
            neg = lambda rs: [-np.array(t) for t in rs]  # noqa: E731
            entry["probability_of_improvement_mdpo_over_ppo"] = probability_of_improvement_interval(
                neg(by_algo["mdpo"]["runs"]), neg(by_algo["ppo"]["runs"]), rng, num_resamples=resamples)
        out["metrics"][name] = entry
    return out


def _match_evaluations(paths: list[Path], evaluations) -> dict[int, Path]:
    """Checkpoint index -> evaluation file (explicit files by their ``checkpoint`` field, then ``CKPT.eval.json``)."""
    out: dict[int, Path] = {}
    resolved = [p.resolve() for p in paths]
    for ev in evaluations:
        ev = Path(ev)
        if not ev.is_file():
            raise FileNotFoundError(f"{ev}: no such evaluation file")
        try:
            target = Path(read_json(ev)["checkpoint"]).resolve()
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{ev}: not a result of `repconv procgen evaluate` ({err})") from None
        if target not in resolved:
            raise ValueError(f"{ev} evaluates {target}, which is not among the checkpoints given")
        out[resolved.index(target)] = ev
    for i, p in enumerate(paths):
        beside = p.with_suffix(EVALUATION_SUFFIX)
        if i not in out and beside.is_file():
            out[i] = beside
    return out


def run_estimate(paths: list[str | Path], cfg: EstimateConfig, *, progress: bool = True, bounds=None,
                 evaluations: list[str | Path] = ()) -> dict:
    """Every estimate for ``paths`` (policy checkpoints); see the module docstring.

    ``bounds``, if given, is called as ``bounds(records, pairs, cfg)`` and returns one entry per record,
    stored under ``"bounds"`` (:func:`procgen_checks.bounds.bounds_for_records`). The measured gap comes
    from a ``repconv procgen evaluate`` result: one of ``evaluations`` whose ``checkpoint`` is that file, or
    ``CKPT.eval.json`` beside it (evaluate's default output); otherwise from the rollouts' first episodes.
    """
    loaded = []
    for p in paths:
        model, info = load_policy(p)
        loaded.append((Path(p), model, info))
    evals = _match_evaluations([p for p, _, _ in loaded], evaluations)
    attached = [read_evaluation(evals[i], info) if i in evals else None for i, (_, _, info) in enumerate(loaded)]
    root = np.random.SeedSequence(cfg.seed)
    seqs = root.spawn(len(loaded) + 2)
    records, train_rollouts = [], []
    for (path, model, info), seq, ev in tqdm(list(zip(loaded, seqs, attached)), desc="checkpoints", disable=not progress):
        record, rollouts = _estimate_checkpoint(path, model, info, cfg, seq, progress, ev)
        records.append(record)
        train_rollouts.append(rollouts["train"])
    pair_rng = np.random.default_rng(seqs[-2])
    pairs = []
    for i, j in _pair_groups(records):
        (_, mi, _), (_, mj, _) = loaded[i], loaded[j]
        ri, rj = train_rollouts[i], train_rollouts[j]
        # D_train compares pi and pi~ on the same training-level states: those visited by either policy.
        di = policy_distance(mi, mj, ri.frames, batch_size=cfg.batch_size, outputs_a=ri.outputs)
        dj = policy_distance(mj, mi, rj.frames, batch_size=cfg.batch_size, outputs_a=rj.outputs)
        samples = np.concatenate([di.tv, dj.tv])
        # episodes of the two rollouts are different units: label them apart
        episodes = np.concatenate([ri.episode, rj.episode + 10**12])
        pairs.append({"a": i, "b": j, "labels": [records[i]["label"], records[j]["label"]],
                      "d_train": summarize(samples, pair_rng, cfg.bootstrap_resamples, episodes=episodes),
                      "feature_cosine": summarize(np.concatenate([di.feature_cosine, dj.feature_cosine]), pair_rng,
                                                  cfg.bootstrap_resamples, episodes=episodes)})
    return _across_checkpoints(records, pairs, cfg, bounds, np.random.default_rng(seqs[-1]))


def _across_checkpoints(records: list[dict], pairs: list[dict], cfg: EstimateConfig, bounds, rng) -> dict:
    """The result: what is computed across checkpoints (one reward range per game, the bounds, the aggregates and
    the rank correlation) added to the checkpoint records and ``D_train`` pairs."""
    ranges = game_reward_ranges(records, cfg.reward_range)
    for record in records:
        record["game_reward_range"] = ranges[record["game"]]
        record.pop("bounds", None)
    if bounds is not None:
        for record, rows in zip(records, bounds(records, pairs, cfg)):
            record["bounds"] = rows
    return {
        "config": asdict(cfg),
        "checkpoints": records,
        "pairs": pairs,
        "aggregate": _aggregates(records, cfg.renderers, rng, cfg.bootstrap_resamples),
        "rank_correlation": {split: rank_correlation(records, split, cfg.gamma, rng, cfg.bootstrap_resamples)
                             for split in SPLITS},
    }


def merge_results(results: list[dict], *, bounds=None) -> dict:
    """One result from several ``run_estimate`` results with the same settings (e.g. one run per game).

    Checkpoint records and ``D_train`` pairs are kept as estimated; everything computed across checkpoints is
    computed again over the union: the game reward ranges, the bounds (``bounds(records, pairs, cfg)``, with the
    theory layer's current statements), the aggregates and the rank correlation (random draws seeded from the
    common ``seed``).
    """
    if not results:
        raise ValueError("nothing to merge")
    base = {k: v for k, v in results[0]["config"].items()}
    for r in results[1:]:
        differ = [k for k in base if r["config"].get(k) != base[k]]
        if differ:
            raise ValueError(f"results differ in their settings ({', '.join(differ)}): they cannot be merged")
    cfg = EstimateConfig(**{**base, "reward_range": tuple(base["reward_range"]) if base.get("reward_range") else None})
    records, pairs = [], []
    for r in results:
        offset = len(records)
        records += [dict(rec) for rec in r["checkpoints"]]
        pairs += [{**p, "a": p["a"] + offset, "b": p["b"] + offset} for p in r["pairs"]]
    return _across_checkpoints(records, pairs, cfg, bounds,
                               np.random.default_rng(np.random.SeedSequence(cfg.seed).spawn(1)[0]))
