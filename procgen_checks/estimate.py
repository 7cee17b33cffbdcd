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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from common.files import read_json
from common.stats import difference_interval, interval_estimate, probability_of_improvement_interval

from .checkpoints import load_policy, load_torch_file
from .envs import LevelRange, level_split
from .estimators import (
    LOWER_ESTIMATE_NOTE,
    eps_from_critic,
    eps_from_returns,
    eps_reward_range,
    image_renderer_distances,
    lockstep_distances,
    observed_reward_range,
    policy_distance,
    summarize,
)
from .renderers import IMAGE_RENDERERS, LOCKSTEP_RENDERERS, make_image_renderer, parse_renderers
from .rollouts import Rollout, collect_rollout

__all__ = ["EstimateConfig", "run_estimate", "DEFAULT_GAMMAS", "SPLITS"]

SPLITS = ("train", "test")
#: Discount factors of the bound-vs-gamma curves (effective horizons 1/(1-gamma) from 2 to 1000).
DEFAULT_GAMMAS = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
#: Training levels assumed when a checkpoint does not record its own (Cobbe et al. 2020 protocol).
DEFAULT_TRAIN_LEVELS = {"easy": 200, "hard": 500}


@dataclass
class EstimateConfig:
    """Settings of one estimation run; every field is written to the result's metadata."""

    renderers: list[str] = field(default_factory=lambda: ["backgrounds", "randconv", "jitter"])
    """renderer names (procgen_checks.renderers.RENDERER_NAMES)"""
    states: int = 512
    """recorded states per checkpoint and split"""
    num_envs: int = 16
    """parallel environments per rollout (also the number of first episodes behind the measured gap)"""
    stride: int = 4
    """record every stride-th step (thins the correlation between consecutive frames)"""
    strengths: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])
    """strengths of the image-renderer sweep"""
    sweep_states: int = 128
    """states (of the training split) per strength in the sweep"""
    gamma: float = 0.999
    """discount of eps and of the bounds at the training horizon (the paper's PPO gamma)"""
    gammas: list[float] = field(default_factory=lambda: list(DEFAULT_GAMMAS))
    """grid of discounts for the bounds as a function of gamma"""
    reward_range: tuple[float, float] | None = None
    """(r_min, r_max) per step; None: the range observed in the rollouts (stated as observed)"""
    value_scale: float | None = None
    """multiplies critic values to give reward units; None: from the run's reward normaliser (state.pt
    beside the checkpoint) when there is one, else 1"""
    max_extra_steps: int = 1000
    """steps after recording to let first episodes finish (Procgen's episodes time out at 1000 steps)"""
    bootstrap_resamples: int = 1000
    batch_size: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        self.renderers = parse_renderers(self.renderers)
        for name, v in (("states", self.states), ("num_envs", self.num_envs), ("stride", self.stride),
                        ("bootstrap_resamples", self.bootstrap_resamples), ("batch_size", self.batch_size)):
            if int(v) < 1:
                raise ValueError(f"{name} is {v}, expected >= 1")
        if self.sweep_states < 0 or self.max_extra_steps < 0:
            raise ValueError("sweep_states and max_extra_steps must be >= 0")
        for s in self.strengths:
            if not 0 <= s <= 1:
                raise ValueError(f"strength {s} outside [0, 1]")
        for g in [self.gamma, *self.gammas]:
            if not 0 <= g < 1:
                raise ValueError(f"gamma {g} outside [0, 1)")
        if self.reward_range is not None and not self.reward_range[0] < self.reward_range[1]:
            raise ValueError(f"reward range {self.reward_range}: expected r_min < r_max")


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
    train_levels, test_levels = _levels(info)
    lockstep = [r for r in cfg.renderers if r in LOCKSTEP_RENDERERS]
    images = [r for r in cfg.renderers if r in IMAGE_RENDERERS]
    rollout_seq, render_seq, boot_seq = seq.spawn(3)
    record: dict[str, Any] = {
        "path": str(path),
        "label": _label(path, info),
        **{k: info.get(k) for k in ("game", "distribution_mode", "algo", "agent", "seed", "has_critic", "train_levels", "env_steps")},
        "splits": {},
    }
    rollouts: dict[str, Rollout] = {}
    for split, levels, s in zip(SPLITS, (train_levels, test_levels), rollout_seq.spawn(len(SPLITS))):
        rng = np.random.default_rng(s)
        rollouts[split] = collect_rollout(
            model, info["game"], levels, split=split, num_states=cfg.states, num_envs=cfg.num_envs, stride=cfg.stride,
            lockstep=lockstep, distribution_mode=info["distribution_mode"], rand_seed=int(rng.integers(0, 2**31 - 1)),
            rng=rng, max_extra_steps=cfg.max_extra_steps, batch_size=cfg.batch_size, progress=progress,
        )
    boot_rng = np.random.default_rng(boot_seq)
    render_rngs = iter(np.random.default_rng(s) for s in render_seq.spawn(1000))
    for split, ro in rollouts.items():
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
            for name in images:
                rows = []
                for strength in cfg.strengths:
                    d = image_renderer_distances(model, ro, make_image_renderer(name, strength), next(render_rngs),
                                                 batch_size=cfg.batch_size, limit=cfg.sweep_states)
                    s = d.summary(boot_rng, cfg.bootstrap_resamples, keep_samples=False)
                    rows.append({"strength": strength, "tv": s["tv"], "feature_cosine": s["feature_cosine"]})
                sweep[name] = rows
            split_rec["strength_sweep"] = sweep
        record["splits"][split] = split_rec

    record["R_hat"] = _r_hat(record)
    value_scale, scale_source = _value_scale(path, info, cfg)
    if cfg.reward_range is not None:
        r_min, r_max = cfg.reward_range
        source = "given (--reward-range)"
    else:
        r_min, r_max = observed_reward_range(list(rollouts.values()))
        source = "observed per-step rewards in these rollouts (min with 0, max with 0): not a guaranteed range"
    record["reward_range"] = {"r_min": r_min, "r_max": r_max, "source": source}
    train = rollouts["train"]
    gammas = sorted(set(cfg.gammas) | {cfg.gamma})
    record["eps"] = {
        "gamma": cfg.gamma,
        "critic": eps_from_critic(train, cfg.gamma, value_scale=value_scale) if info.get("has_critic") else None,
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
    record["returns"] = _returns_summary(rollouts, gammas, boot_rng, cfg.bootstrap_resamples)
    if evaluation is not None:
        record["evaluation"] = evaluation
    record["measured_gap"] = _measured_gap(record)
    return record, rollouts


def _value_scale(path: Path, info: dict, cfg: EstimateConfig) -> tuple[float, str]:
    """Factor from critic outputs to reward units, and where it comes from.

    A critic trained on normalised rewards (``r / sqrt(Var[G] + 1e-8)``, the paper's reward scaling) predicts
    returns in those units; the training run's ``state.pt`` beside the checkpoint holds the normaliser of
    each agent. Clipping of normalised rewards is not undone, so the conversion is approximate.
    """
    if cfg.value_scale is not None:
        return cfg.value_scale, "given (--value-scale)"
    state_path = path.parent / "state.pt"
    if not state_path.is_file():
        return 1.0, "1: no training state beside the checkpoint (critic assumed in reward units)"
    try:
        state = load_torch_file(state_path, "training state")
        if not state.get("config", {}).get("normalize_reward", True):
            return 1.0, f"1: {state_path} trained on unnormalised rewards"
        rms = state["agents"][int(info["agent"]) - 1]["reward_normalizer"]["return_rms"]
        return float(np.sqrt(rms["var"] + 1e-8)), f"reward normaliser of agent {info['agent']} in {state_path}"
    except (KeyError, IndexError, TypeError, AttributeError, RuntimeError, ValueError) as err:
        return 1.0, f"1: could not read the reward normaliser of {state_path} ({err})"


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


def _measured_gap(record: dict) -> dict:
    """The gap next to the bounds: from the evaluation file when there is one, else from these rollouts."""
    ev = record.get("evaluation")
    if ev:
        return {"value": ev["gap"]["mean"], "ci": ev["gap"].get("ci"), "standard_error": ev["gap"].get("standard_error"),
                "episodes_per_split": ev["episodes_per_split"], "source": f"repconv procgen evaluate ({ev['path']})"}
    ret = record["returns"]
    return {"value": ret.get("gap"), "ci": ret.get("gap_ci"), "standard_error": ret.get("gap_standard_error"),
            "episodes_per_split": [ret["train"]["episodes"], ret["test"]["episodes"]],
            "source": "first episodes of these rollouts"}


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


def _aggregates(records: list[dict], renderers: list[str], rng: np.random.Generator, resamples: int) -> dict:
    """IQM per algorithm across games and runs, and probability of improvement MDPO vs PPO (lower is better)."""
    metrics = {f"R_hat[{r}]": (lambda rec, r=r: rec["R_hat"]["per_renderer"].get(r)) for r in renderers}
    metrics.update({f"mean_tv[{r}]": (lambda rec, r=r: rec["splits"]["test"]["renderers"][r]["tv"]["mean"]) for r in renderers})
    metrics.update({f"feature_cosine[{r}]": (lambda rec, r=r: rec["splits"]["test"]["renderers"][r]["feature_cosine"]["mean"])
                    for r in renderers})
    metrics["gap"] = lambda rec: rec["measured_gap"]["value"]
    algos = sorted({r["algo"] for r in records})
    games = sorted({r["game"] for r in records})
    out: dict[str, Any] = {"note": "scores per algorithm: runs = checkpoints, tasks = games; IQM with stratified "
                                   "bootstrap 95% CI; probability of improvement counts a LOWER value as better",
                           "games": games, "metrics": {}}
    for name, get in metrics.items():
        by_algo = {}
        for algo in algos:
            tasks = []
            for game in games:
                vals = [get(r) for r in records if r["algo"] == algo and r["game"] == game]
                vals = [v for v in vals if v is not None]
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
        pairs.append({"a": i, "b": j, "labels": [records[i]["label"], records[j]["label"]],
                      "d_train": summarize(samples, pair_rng, cfg.bootstrap_resamples),
                      "feature_cosine": summarize(np.concatenate([di.feature_cosine, dj.feature_cosine]), pair_rng,
                                                  cfg.bootstrap_resamples)})
    if bounds is not None:
        for record, rows in zip(records, bounds(records, pairs, cfg)):
            record["bounds"] = rows
    return {
        "config": asdict(cfg),
        "checkpoints": records,
        "pairs": pairs,
        "aggregate": _aggregates(records, cfg.renderers, np.random.default_rng(seqs[-1]), cfg.bootstrap_resamples),
    }
