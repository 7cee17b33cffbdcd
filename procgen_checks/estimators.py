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

from common.stats import cluster_bootstrap, difference_interval, mean_interval, percentile_interval
from theory.quantities import kl, tv
from theory.statements import return_range

from .advantages import gae
from .network import ActorCritic
from .renderers import ImageRenderer
from .rollouts import Rollout, cosine_distance, policy_outputs, returns_to_go

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
    """Mean, quantiles and max over the last axis."""
    stats = {"mean": x.mean(axis=-1)}
    for q in QUANTILES:
        stats[f"q{q}"] = np.quantile(x, q / 100, axis=-1)
    stats["max"] = x.max(axis=-1)
    return stats


SUMMARY_NAMES = ("mean",) + tuple(f"q{q}" for q in QUANTILES) + ("max",)


def summarize(
    samples: np.ndarray, rng: np.random.Generator, num_resamples: int = 1000, confidence: float = 0.95,
    keep_samples: bool = False, *, episodes: np.ndarray | None = None,
) -> dict:
    """Point values and percentile-bootstrap CIs of mean, q50, q90, q99 and max over ``samples (n,)``.

    ``episodes (n,)`` labels the episode of each sample: the bootstrap then redraws whole episodes
    (:func:`common.stats.cluster_bootstrap`), since the states of one episode are correlated. Without it, samples
    are resampled one by one (only right for independent samples). Returns ``{"n", "episodes", "mean", "q50",
    "q90", "q99", "max", "ci": {name: [lo, hi]}, "confidence", "resampled", "max_note"}`` (and ``"samples"`` when
    ``keep_samples``). An empty sample gives ``None`` values.
    """
    samples = np.asarray(samples, dtype=float).ravel()
    names = list(SUMMARY_NAMES)
    out: dict = {"n": int(samples.size), "confidence": confidence, "max_note": LOWER_ESTIMATE_NOTE,
                 "resampled": "states" if episodes is None else "episodes"}
    if episodes is not None:
        out["episodes"] = int(np.unique(episodes).size)
    if samples.size == 0:
        out.update({k: None for k in names})
        out["ci"] = {k: [None, None] for k in names}
        return out
    point = _statistics(samples)
    if episodes is None:
        boot = np.column_stack([_statistics(samples[rng.integers(0, samples.size, size=(num_resamples, samples.size))])[k]
                                for k in names])
    else:
        def statistic(x: np.ndarray) -> list:
            stats = _statistics(x)
            return [stats[k] for k in names]

        boot = cluster_bootstrap(samples, np.asarray(episodes), statistic, rng, num_resamples)
    lo, hi = percentile_interval(boot, confidence)
    out.update({k: float(point[k]) for k in names})
    out["ci"] = {k: [float(lo[i]), float(hi[i])] for i, k in enumerate(names)}
    if keep_samples:
        out["samples"] = samples.tolist()
    return out


@dataclass
class PairedDistances:
    """Per-state distances between two renderings (or two policies); arrays of shape ``(n,)``."""

    tv: np.ndarray
    kl: np.ndarray
    feature_cosine: np.ndarray
    episodes: np.ndarray | None = None
    """``(n,)`` episode label of each state: bootstrap intervals then resample episodes, not states"""

    def summary(self, rng: np.random.Generator, num_resamples: int = 1000, keep_samples: bool = True) -> dict:
        ep = self.episodes
        return {
            "tv": summarize(self.tv, rng, num_resamples, keep_samples=keep_samples, episodes=ep),
            "kl": summarize(self.kl, rng, num_resamples, episodes=ep),
            "feature_cosine": summarize(self.feature_cosine, rng, num_resamples, episodes=ep),
        }


def paired_distances(probs_1, probs_2, features_1, features_2, episodes=None) -> PairedDistances:
    """TV and KL(p1 || p2) of ``(n, A)`` float64 distributions, cosine distance of ``(n, d)`` features."""
    return PairedDistances(
        tv=tv(probs_1, probs_2), kl=kl(probs_1, probs_2), feature_cosine=cosine_distance(features_1, features_2),
        episodes=None if episodes is None else np.asarray(episodes),
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
    episodes = None if rollout.episode is None else rollout.episode[:n]
    return paired_distances(np.concatenate(p1), np.concatenate(p2), np.concatenate(f1), np.concatenate(f2), episodes)


def lockstep_distances(model: ActorCritic, rollout: Rollout, name: str, *, batch_size: int = 256) -> PairedDistances:
    """Distances between the reference frames and their in-sync twins under lockstep renderer ``name``.

    States whose pair had gone out of sync are excluded (they are counted in the rollout's desync record).
    """
    twin = rollout.lockstep[name]
    keep = np.flatnonzero(twin.valid)
    out = policy_outputs(model, twin.frames[keep], batch_size)
    return paired_distances(rollout.outputs.probs[keep], out.probs, rollout.outputs.features[keep], out.features,
                            None if rollout.episode is None else rollout.episode[keep])


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


# ------------------------------------------------------------------------------------------------
# Visitation-weighted robustness Rv (G1vr) and the measured rendering gap
# ------------------------------------------------------------------------------------------------


def visitation_weights(step: np.ndarray, gamma: float, stride: int, length: np.ndarray | None = None) -> np.ndarray:
    """Normalised discounted-visitation weight of a state recorded at step ``t`` of its episode, every ``stride`` steps.

    The state stands for steps ``t .. t + stride - 1`` of the episode (cut at its ``length``):
    ``w(t) = (1 - gamma) sum_u gamma^u = gamma^t - gamma^min(t + stride, length)``. With ``stride = 1`` this is
    ``(1 - gamma) gamma^t``, the weight of ``d = (1 - gamma) rho`` in THEORY; over a whole episode the weights sum to
    ``1 - gamma^length`` (the rest is the absorbing end, where every policy agrees).
    """
    step = np.asarray(step, dtype=float)
    end = step + stride if length is None else np.minimum(step + stride, np.asarray(length, dtype=float))
    g = float(gamma)
    return g ** step - g ** end


def episode_visitation_sums(values: np.ndarray, episode: np.ndarray, step: np.ndarray, lengths: np.ndarray,
                            gamma: float, stride: int) -> np.ndarray:
    """``sum_t w(t) x_t`` per episode (:func:`visitation_weights`): ``(E,)`` for episodes ``0 .. E-1``.

    For ``x_t = TV_t`` on whole episodes started at episode starts, the mean over episodes is ``Rv_hat``, an
    unbiased estimate of ``Rv = (1-gamma) sum_s rho[s] TV[s]`` when ``stride = 1`` (THEORY, G1vr).
    """
    lengths = np.asarray(lengths)
    episode = np.asarray(episode, dtype=np.int64)
    w = visitation_weights(step, gamma, stride, lengths[episode])
    return np.bincount(episode, weights=w * np.asarray(values, dtype=float), minlength=len(lengths))


def rv_estimate(values: np.ndarray, episode: np.ndarray, step: np.ndarray, lengths: np.ndarray, finished: np.ndarray,
                exclude: np.ndarray, gamma: float, stride: int, rng: np.random.Generator, num_resamples: int = 1000,
                confidence: float = 0.95) -> dict:
    """``Rv_hat`` at ``gamma`` with a bootstrap interval over episodes, and a conservative upper limit.

    Episodes flagged in ``exclude`` (a lockstep pair that lost sync) are left out. An episode that had not ended
    after its recorded steps misses the visitation mass ``gamma^length`` of its unseen future; there ``TV <= 1``, so
    its value plus ``gamma^length`` is an upper value. ``upper`` is the upper end of the bootstrap interval of
    those upper values: the number a conservative bound uses.
    """
    per = episode_visitation_sums(values, episode, step, lengths, gamma, stride)
    keep = ~np.asarray(exclude, dtype=bool)
    if not keep.any():
        return {"value": None, "ci": [None, None], "upper": None, "episodes": 0, "gamma": gamma}
    tail = np.where(np.asarray(finished, dtype=bool), 0.0, float(gamma) ** np.asarray(lengths, dtype=float))
    vals, upper_vals = per[keep], (per + tail)[keep]
    lo, hi = mean_interval(vals, rng, num_resamples, confidence)
    upper = mean_interval(upper_vals, rng, num_resamples, confidence)[1]
    return {"value": float(vals.mean()), "ci": [lo, hi], "upper": float(upper), "episodes": int(keep.sum()),
            "unfinished": int((~np.asarray(finished, dtype=bool))[keep].sum()), "gamma": gamma}


def paired_return_difference(returns_ref: np.ndarray, returns_k: np.ndarray, seeds_ref: np.ndarray, seeds_k: np.ndarray,
                             finished_ref: np.ndarray, finished_k: np.ndarray, rng: np.random.Generator,
                             num_resamples: int = 1000, confidence: float = 0.95) -> dict:
    """The paired difference ``eta_ref - eta_k`` of episode returns on the same levels.

    Episode ``e`` of both arms must have started on the same level seed; pairs that did not, or where either
    episode did not end, are discarded and counted. Returns the mean of both arms, the mean difference, its
    standard error ``std(d, ddof=1) / sqrt(n)`` and a paired bootstrap interval over episodes
    (:func:`common.stats.difference_interval` with ``paired=True``).
    """
    returns_ref, returns_k = np.asarray(returns_ref, dtype=float), np.asarray(returns_k, dtype=float)
    same = np.asarray(seeds_ref) == np.asarray(seeds_k)
    done = np.asarray(finished_ref, dtype=bool) & np.asarray(finished_k, dtype=bool)
    keep = same & done
    out: dict = {"pairs": int(keep.sum()), "discarded_level_mismatch": int((~same).sum()),
                 "discarded_unfinished": int((same & ~done).sum())}
    if not keep.any():
        return {**out, "eta_ref": None, "eta_k": None, "gap": None, "standard_error": None, "ci": [None, None]}
    a, b = returns_ref[keep], returns_k[keep]
    d = a - b
    se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else None
    lo, hi = difference_interval(a, b, rng, num_resamples, confidence, paired=True)
    return {**out, "eta_ref": float(a.mean()), "eta_k": float(b.mean()), "gap": float(d.mean()), "standard_error": se,
            "ci": [lo, hi]}


# ------------------------------------------------------------------------------------------------
# The paper's robustness metric (our reading of its description)
# ------------------------------------------------------------------------------------------------

#: Copies per state in the paper's robustness test, as its project page's diagram shows.
PAPER_COPIES = 3
PAPER_METRIC_NOTE = (
    "our reading of the paper's robustness test: KL(pi(.|x) || pi(.|conv(x))) averaged over 3 random 3x3 "
    "convolutions with standard-normal weights (no bias, on the [0, 255] frame) and over visited states; a KL, "
    "NOT a TV distance: unbounded, it can exceed 1, and it is not the R of any statement"
)


def standard_normal_kernels(batch: int, rng: np.random.Generator) -> torch.Tensor:
    """``(B, 3, 3, 3, 3)`` convolution kernels with N(0, 1) entries (the paper's test; not Xavier-scaled)."""
    return torch.from_numpy(rng.standard_normal((batch, 3, 3, 3, 3))).float()


def paper_robustness(model: ActorCritic, frames: np.ndarray, rng: np.random.Generator, *, copies: int = PAPER_COPIES,
                     batch_size: int = 256) -> np.ndarray:
    """Per state, the mean over ``copies`` random convolutions of ``KL(pi(.|x) || pi(.|conv(x)))``: ``(n,)``."""
    frames = torch.as_tensor(frames)
    ref = policy_outputs(model, frames, batch_size).probs
    total = np.zeros(len(frames))
    for _ in range(copies):
        conv = []
        for i in range(0, len(frames), batch_size):
            x = frames[i:i + batch_size].float().permute(0, 3, 1, 2)
            B, _, H, W = x.shape
            weight = standard_normal_kernels(B, rng).reshape(B * 3, 3, 3, 3)
            out = torch.nn.functional.conv2d(x.reshape(1, B * 3, H, W), weight, padding=1, groups=B)
            conv.append(out.reshape(B, 3, H, W).permute(0, 2, 3, 1).contiguous())
        total += kl(ref, policy_outputs(model, torch.cat(conv) if conv else frames.float(), batch_size).probs)
    return total / copies
