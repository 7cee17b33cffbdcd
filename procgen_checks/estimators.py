"""Sample estimates of THEORY's terms for a trained Procgen policy.

* **Per-state distances** between ``pi(.|f_1(s))`` and ``pi(.|f_2(s))`` on states ``s`` the policy visits:
  TV (:func:`theory.quantities.tv`) and ``KL(pi(.|f_1(s)) || pi(.|f_2(s)))`` (:func:`theory.quantities.kl`),
  with ``f_1`` the reference rendering and ``f_2`` a renderer of :mod:`procgen_checks.renderers`.
* **Summaries** (:func:`summarize`): mean, quantiles 50/90/99 and max, each with a percentile-bootstrap
  confidence interval over states. The robustness term ``R(pi)`` is a max over *all* states and
  renderings; the max over sampled states is therefore a **lower estimate of R**, never an upper
  bound: an unvisited state or an undrawn rendering can only raise it. The bootstrap treats recorded
  states as independent (they are thinned to every ``stride``-th step); its interval for the max is
  rough, as any bootstrap of an extreme is.
* ``D_train(pi, pi~)``: the same TV between two policies on the same training-level states.
* ``eps``: ``max |A(s, a)|`` from the critic (GAE advantages on the visited steps), from Monte-Carlo
  returns (the spread of observed discounted returns-to-go), and the reward-range bound
  ``(r_max - r_min) / (1 - gamma)``.
* **Representation invariance**: cosine distance ``1 - cos(phi(f_1(s)), phi(f_2(s)))`` between encoder
  features of the two renderings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from theory.quantities import kl, tv
from theory.statements import return_range

from .advantages import gae
from .network import ActorCritic
from .renderers import ImageRenderer
from .rollouts import Rollout, policy_outputs, returns_to_go

__all__ = [
    "QUANTILES",
    "summarize",
    "cosine_distance",
    "PairedDistances",
    "paired_distances",
    "image_renderer_distances",
    "lockstep_distances",
    "policy_distance",
    "eps_from_critic",
    "eps_from_returns",
    "eps_reward_range",
    "observed_reward_range",
]

QUANTILES = (50, 90, 99)
LOWER_ESTIMATE_NOTE = (
    "max over sampled states and renderings: a LOWER estimate of the supremum in R (and D_train); "
    "unvisited states or undrawn renderings can only raise it"
)


def _statistics(x: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, quantiles and max over the last axis (works on a batch of bootstrap resamples)."""
    stats = {"mean": x.mean(axis=-1)}
    for q in QUANTILES:
        stats[f"q{q}"] = np.quantile(x, q / 100, axis=-1)
    stats["max"] = x.max(axis=-1)
    return stats


def summarize(
    samples: np.ndarray, rng: np.random.Generator, num_resamples: int = 1000, confidence: float = 0.95,
    keep_samples: bool = False,
) -> dict:
    """Point values and percentile-bootstrap CIs of mean, q50, q90, q99 and max over ``samples (n,)``.

    Returns ``{"n", "mean", "q50", "q90", "q99", "max", "ci": {name: [lo, hi]}, "confidence", "note"}``
    (and ``"samples"`` when ``keep_samples``). An empty sample gives ``None`` values.
    """
    samples = np.asarray(samples, dtype=float).ravel()
    names = ["mean"] + [f"q{q}" for q in QUANTILES] + ["max"]
    out: dict = {"n": int(samples.size), "confidence": confidence, "max_note": LOWER_ESTIMATE_NOTE}
    if samples.size == 0:
        out.update({k: None for k in names})
        out["ci"] = {k: [None, None] for k in names}
        return out
    point = _statistics(samples)
    idx = rng.integers(0, samples.size, size=(num_resamples, samples.size))
    boot = _statistics(samples[idx])
    a = (1 - confidence) / 2
    out.update({k: float(point[k]) for k in names})
    out["ci"] = {k: [float(np.quantile(boot[k], a)), float(np.quantile(boot[k], 1 - a))] for k in names}
    if keep_samples:
        out["samples"] = samples.tolist()
    return out


def cosine_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``1 - cos(x, y)`` over the last axis; two zero vectors are at distance 0, a zero and a non-zero at 1."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    nx, ny = np.linalg.norm(x, axis=-1), np.linalg.norm(y, axis=-1)
    dot = (x * y).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where((nx > 0) & (ny > 0), dot / (nx * ny), np.where((nx == 0) & (ny == 0), 1.0, 0.0))
    return 1.0 - np.clip(cos, -1.0, 1.0)


@dataclass
class PairedDistances:
    """Per-state distances between two renderings (or two policies); arrays of shape ``(n,)``."""

    tv: np.ndarray
    kl: np.ndarray
    feature_cosine: np.ndarray

    def summary(self, rng: np.random.Generator, num_resamples: int = 1000, keep_samples: bool = True) -> dict:
        return {
            "tv": summarize(self.tv, rng, num_resamples, keep_samples=keep_samples),
            "kl": summarize(self.kl, rng, num_resamples),
            "feature_cosine": summarize(self.feature_cosine, rng, num_resamples),
        }


def paired_distances(probs_1, probs_2, features_1, features_2) -> PairedDistances:
    """TV and KL(p1 || p2) of ``(n, A)`` float64 distributions, cosine distance of ``(n, d)`` features."""
    return PairedDistances(
        tv=tv(probs_1, probs_2), kl=kl(probs_1, probs_2), feature_cosine=cosine_distance(features_1, features_2)
    )


def image_renderer_distances(
    model: ActorCritic,
    rollout: Rollout,
    renderer: ImageRenderer,
    rng: np.random.Generator,
    *,
    batch_size: int = 256,
    reference: ImageRenderer | None = None,
    reference_rng: np.random.Generator | None = None,
    limit: int | None = None,
    progress: bool = False,
) -> PairedDistances:
    """Distances between ``pi(.|f_1(s))`` and ``pi(.|f_2(s))`` for the rollout's states, ``f_2 = renderer``.

    ``f_1`` is the reference frame itself (the outputs recorded while acting are reused), unless
    ``reference`` is given: then ``f_1 = reference`` applied with ``reference_rng``.
    """
    n = rollout.num_states if limit is None else min(limit, rollout.num_states)
    frames = torch.from_numpy(rollout.frames[:n])
    p1, f1, p2, f2 = [], [], [], []
    for i in tqdm(range(0, n, batch_size), desc=f"{renderer.name} s={renderer.strength:g}", disable=not progress, leave=False):
        batch = frames[i:i + batch_size]
        out = policy_outputs(model, renderer(batch, rng), batch_size)
        p2.append(out.probs)
        f2.append(out.features)
        if reference is not None:
            ref = policy_outputs(model, reference(batch, reference_rng), batch_size)
            p1.append(ref.probs)
            f1.append(ref.features)
    if reference is None:
        p1, f1 = [rollout.outputs.probs[:n]], [rollout.outputs.features[:n]]
    return paired_distances(np.concatenate(p1), np.concatenate(p2), np.concatenate(f1), np.concatenate(f2))


def lockstep_distances(model: ActorCritic, rollout: Rollout, name: str, *, batch_size: int = 256) -> PairedDistances:
    """Distances between the reference frames and their in-sync twins under lockstep renderer ``name``.

    States whose pair had gone out of sync are excluded (they are counted in the rollout's desync record).
    """
    twin = rollout.lockstep[name]
    keep = np.flatnonzero(twin.valid)
    out = policy_outputs(model, twin.frames[keep], batch_size)
    return paired_distances(rollout.outputs.probs[keep], out.probs, rollout.outputs.features[keep], out.features)


def policy_distance(model_a: ActorCritic, model_b: ActorCritic, frames: np.ndarray, *, batch_size: int = 256,
                    outputs_a=None) -> PairedDistances:
    """Per-state distances between two policies on the same frames (the samples of ``D_train``)."""
    a = outputs_a if outputs_a is not None else policy_outputs(model_a, frames, batch_size)
    b = policy_outputs(model_b, frames, batch_size)
    return paired_distances(a.probs, b.probs, a.features, b.features)


def eps_from_critic(rollout: Rollout, gamma: float, lam: float = 0.95, value_scale: float = 1.0) -> dict | None:
    """``max |A_hat|`` over the rollout's steps, with GAE(``lam``) advantages from the critic's values.

    ``value_scale`` converts critic values to reward units (a critic trained on normalised rewards
    predicts returns divided by the normaliser's scale). Only steps whose successor value was computed
    enter; a step whose episode ended uses no bootstrap. This is a sample estimate (taken actions
    only) and hence a lower estimate of ``eps = max_{s,a} |A(s, a)|``. Returns None without a critic.
    """
    if rollout.step_values is None:
        return None
    V = rollout.step_values * value_scale
    # The value after the stream's end is unknown (NaN): it reaches every step whose episode had not ended by then.
    unknown = np.full(rollout.rewards.shape[1], np.nan)
    adv = gae(rollout.rewards, V, rollout.dones, unknown, gamma, lam)
    finite = np.isfinite(adv)
    if not finite.any():
        return {"eps": None, "n": 0, "gamma": gamma, "lambda": lam, "value_scale": value_scale}
    a = np.abs(adv[finite])
    return {"eps": float(a.max()), "q99": float(np.quantile(a, 0.99)), "mean": float(a.mean()), "n": int(a.size),
            "gamma": gamma, "lambda": lam, "value_scale": value_scale}


def eps_from_returns(rollout: Rollout, gamma: float) -> dict:
    """Monte-Carlo ``eps``: the spread ``max G - min G`` of discounted returns-to-go over every step of
    finished episodes.

    ``|A(s, a)| = |Q(s, a) - V(s)|`` is at most the spread of the values a return-to-go can take, so this
    is the range bound with observed instead of worst-case returns: neither a lower nor a guaranteed
    upper bound of ``eps``, a plug-in for policies without a critic.
    """
    G, complete = returns_to_go(rollout.rewards, rollout.dones, gamma)
    g = G[complete]
    if g.size == 0:
        return {"eps": None, "n": 0, "gamma": gamma}
    return {"eps": float(g.max() - g.min()), "n": int(g.size), "gamma": gamma}


def observed_reward_range(rollouts: list[Rollout]) -> tuple[float, float]:
    """``(min(0, min r), max(0, max r))`` of per-step rewards seen in ``rollouts`` (Procgen steps mostly pay 0)."""
    rs = np.concatenate([r.rewards.ravel() for r in rollouts])
    return float(min(0.0, rs.min())), float(max(0.0, rs.max()))


def eps_reward_range(r_min: float, r_max: float, gamma) -> np.ndarray:
    """Upper bound ``|A| <= span Q <= (r_max - r_min) / (1 - gamma)`` (vectorised over ``gamma``)."""
    return return_range(r_min, r_max, np.asarray(gamma, dtype=float))
