"""Interval estimates over independent units (episodes, training runs, seeds): pure numpy/scipy, no torch.

Every resampling takes an explicit ``numpy.random.Generator``; a unit is resampled whole, so pass values that are
independent of each other (one per episode or per run, never the states of one episode).

* :func:`mean_interval`, :func:`difference_interval`: bootstrap intervals of a mean and of a difference of means
  (independent samples or pairs), computed by ``scipy.stats.bootstrap`` (percentile or BCa).
* :func:`cluster_bootstrap`: a statistic of pooled correlated samples (the states of episodes), resampling whole
  clusters (episodes), never single samples.
* :func:`mean_ci`: the Student-t interval of a mean over a few seeds (the toy example).
* :func:`iqm`, :func:`stratified_bootstrap`, :func:`interval_estimate`, :func:`probability_of_improvement`,
  :func:`probability_of_improvement_interval`: aggregates across tasks and runs as in Agarwal et al. 2021 ("Deep RL
  at the edge of the statistical precipice", the rliable library). Scores are ``(num_runs, num_tasks)`` as in rliable,
  or a list with one 1-D array of runs per task when tasks have different numbers of runs.
"""

from __future__ import annotations

from typing import Callable, Literal, NamedTuple, Sequence

import numpy as np
from scipy import stats
from scipy.stats import trim_mean

__all__ = [
    "mean_interval",
    "difference_interval",
    "MeanCI",
    "mean_ci",
    "Scores",
    "iqm",
    "stratified_bootstrap",
    "interval_estimate",
    "probability_of_improvement",
    "probability_of_improvement_interval",
    "cluster_bootstrap",
    "percentile_interval",
]

Method = Literal["percentile", "BCa"]


# ------------------------------------------------------------------------------------------------
# Means and differences of means (scipy.stats.bootstrap)
# ------------------------------------------------------------------------------------------------


def _sample(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{name} has shape {x.shape}, expected a non-empty 1-D array")
    return x


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence is {confidence}, expected in (0, 1)")


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _difference_of_means(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def mean_interval(samples: np.ndarray, rng: np.random.Generator, num_resamples: int = 10_000,
                  confidence: float = 0.95, method: Method = "percentile") -> tuple[float, float]:
    """Bootstrap interval of ``mean(samples)`` (1-D, one value per independent unit), by ``scipy.stats.bootstrap``.

    One sample has a degenerate bootstrap distribution: the interval is that value (scipy needs two).
    """
    samples = _sample(samples, "samples")
    _check_confidence(confidence)
    if samples.size == 1:
        return float(samples[0]), float(samples[0])
    res = stats.bootstrap((samples,), _mean, n_resamples=num_resamples, confidence_level=confidence,
                          method=method, vectorized=True, rng=rng)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def difference_interval(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, num_resamples: int = 10_000,
                        confidence: float = 0.95, *, paired: bool = False,
                        method: Method = "percentile") -> tuple[float, float]:
    """Bootstrap interval of ``mean(x) - mean(y)``, by ``scipy.stats.bootstrap``.

    ``paired=False``: ``x`` and ``y`` are independent samples (e.g. training-level and test-level episodes) and are
    resampled independently, ``x`` first. ``paired=True``: ``x[i]`` and ``y[i]`` belong to one unit (e.g. one seed
    under two settings) and the pairs are resampled together.
    """
    x, y = _sample(x, "x"), _sample(y, "y")
    _check_confidence(confidence)
    if paired and x.size != y.size:
        raise ValueError(f"paired samples differ in length: {x.size} and {y.size}")
    if x.size == 1 and y.size == 1:
        return float(x[0] - y[0]), float(x[0] - y[0])
    res = stats.bootstrap((x, y), _difference_of_means, n_resamples=num_resamples, confidence_level=confidence,
                          method=method, vectorized=True, paired=paired, rng=rng)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


class MeanCI(NamedTuple):
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: int


def mean_ci(x: np.ndarray, axis: int = 0, confidence: float = 0.95) -> MeanCI:
    """Mean over ``axis`` (seeds) and the two-sided Student-t ``confidence`` interval of the mean.

    With ``n`` samples, standard deviation ``s`` (``ddof=1``): ``mean +- t_{(1+c)/2, n-1} s / sqrt(n)``.
    With one sample the interval is ``(-inf, inf)``; with zero spread it is the mean itself. NaN entries are not
    allowed (a run that produced NaN is a bug to fix, not a sample to drop).
    """
    x = np.asarray(x, dtype=float)
    _check_confidence(confidence)
    if np.isnan(x).any():
        raise ValueError("mean_ci: input contains NaN")
    n = x.shape[axis]
    if n == 0:
        raise ValueError("mean_ci: no samples along the seed axis")
    mean = x.mean(axis=axis)
    if n == 1:
        inf = np.full_like(mean, np.inf)
        return MeanCI(mean, -inf, inf, 1)
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * x.std(axis=axis, ddof=1) / np.sqrt(n)
    return MeanCI(mean, mean - half, mean + half, n)


# ------------------------------------------------------------------------------------------------
# Aggregates across tasks and runs (rliable's conventions)
# ------------------------------------------------------------------------------------------------

Scores = np.ndarray | Sequence[np.ndarray]


def _tasks(scores: Scores) -> list[np.ndarray]:
    """Columns of a ``(num_runs, num_tasks)`` matrix, or the given per-task arrays; each must be non-empty."""
    if isinstance(scores, np.ndarray):
        if scores.ndim != 2:
            raise ValueError(f"scores have shape {scores.shape}, expected (num_runs, num_tasks)")
        tasks = [scores[:, m] for m in range(scores.shape[1])]
    else:
        tasks = [np.asarray(t, dtype=float).ravel() for t in scores]
    if not tasks or any(t.size == 0 for t in tasks):
        raise ValueError("scores: every task needs at least one run")
    return [np.asarray(t, dtype=float) for t in tasks]


def _iqm_tasks(tasks: list[np.ndarray]) -> np.ndarray:
    """IQM over the last axis of the pooled tasks (leading axes: a batch of resamples)."""
    return trim_mean(np.concatenate(tasks, axis=-1), 0.25, axis=-1)


def iqm(scores: Scores) -> float:
    """Interquartile mean of all scores pooled: the mean of the middle 50% (``trim_mean(x, 0.25)``)."""
    return float(_iqm_tasks(_tasks(scores)))


def _resample(tasks: list[np.ndarray], rng: np.random.Generator, num_resamples: int) -> list[np.ndarray]:
    """Per task, ``num_resamples`` redraws of its runs with replacement: arrays ``(num_resamples, n_task)``."""
    return [t[rng.integers(0, t.size, size=(num_resamples, t.size))] for t in tasks]


def _percentile_interval(boot: np.ndarray, confidence: float) -> list[float]:
    tail = (1 - confidence) / 2
    return [float(np.quantile(boot, tail)), float(np.quantile(boot, 1 - tail))]


def stratified_bootstrap(
    scores: Scores, statistic: Callable[[list[np.ndarray]], np.ndarray], rng: np.random.Generator,
    num_resamples: int = 2000,
) -> np.ndarray:
    """``statistic`` on ``num_resamples`` resamples that redraw runs with replacement *within* each task.

    Each task keeps its number of runs, so the task mix is the same in every resample. ``statistic``
    receives one array ``(num_resamples, n_task)`` per task and reduces the last axis.
    """
    return np.asarray(statistic(_resample(_tasks(scores), rng, num_resamples)), dtype=float)


def interval_estimate(
    scores: Scores, rng: np.random.Generator, statistic: Callable[[list[np.ndarray]], np.ndarray] = _iqm_tasks,
    num_resamples: int = 2000, confidence: float = 0.95,
) -> dict:
    """Point value and percentile stratified-bootstrap interval of ``statistic`` (default: IQM)."""
    _check_confidence(confidence)
    boot = stratified_bootstrap(scores, statistic, rng, num_resamples)
    return {"value": float(statistic(_tasks(scores))), "ci": _percentile_interval(boot, confidence),
            "confidence": confidence, "num_resamples": num_resamples}


def _poi_tasks(xs: list[np.ndarray], ys: list[np.ndarray]) -> np.ndarray:
    per_task = []
    for a, b in zip(xs, ys):
        diff = a[..., :, None] - b[..., None, :]
        per_task.append(((diff > 0) + 0.5 * (diff == 0)).mean(axis=(-2, -1)))
    return np.mean(per_task, axis=0)


def probability_of_improvement(x: Scores, y: Scores) -> float:
    """``P(X > Y) = 1/M sum_m P(X_m > Y_m)``, with ``P(X_m > Y_m) = 1/(N K) sum_{i,j} S(x_mi, y_mj)`` and
    ``S = 1`` if ``x > y``, ``1/2`` if equal, 0 otherwise (the Mann-Whitney statistic per task).

    ``x`` and ``y`` must cover the same tasks in the same order; for a lower-is-better score pass
    the negated scores.
    """
    xs, ys = _tasks(x), _tasks(y)
    if len(xs) != len(ys):
        raise ValueError(f"probability of improvement: x has {len(xs)} tasks, y has {len(ys)}")
    return float(_poi_tasks(xs, ys))


def probability_of_improvement_interval(
    x: Scores, y: Scores, rng: np.random.Generator, num_resamples: int = 2000, confidence: float = 0.95
) -> dict:
    """Point value and stratified-bootstrap interval of :func:`probability_of_improvement` (x and y
    resampled independently, each within tasks)."""
    _check_confidence(confidence)
    xs, ys = _tasks(x), _tasks(y)
    value = probability_of_improvement(xs, ys)
    boot = _poi_tasks(_resample(xs, rng, num_resamples), _resample(ys, rng, num_resamples))
    return {"value": value, "ci": _percentile_interval(boot, confidence),
            "confidence": confidence, "num_resamples": num_resamples}


# ------------------------------------------------------------------------------------------------
# Correlated samples in independent clusters (the states of episodes)
# ------------------------------------------------------------------------------------------------


def percentile_interval(boot: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """Percentile interval over the first axis of bootstrap statistics ``(num_resamples, ...)``: ``(2, ...)``."""
    _check_confidence(confidence)
    tail = (1 - confidence) / 2
    return np.quantile(np.asarray(boot, dtype=float), [tail, 1 - tail], axis=0)


def cluster_bootstrap(values: np.ndarray, clusters: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray],
                      rng: np.random.Generator, num_resamples: int = 1000) -> np.ndarray:
    """``statistic`` of the pooled ``values`` on resamples that redraw whole clusters with replacement.

    ``values (n,)`` are samples that are correlated within a cluster (the states of one episode) and independent
    across clusters; ``clusters (n,)`` labels each sample's cluster. Each resample draws as many clusters as there
    are, with replacement, and pools all their samples; ``statistic`` maps a 1-D array to a scalar or a 1-D array.
    Returns ``(num_resamples,)`` or ``(num_resamples, k)``.
    """
    values = _sample(values, "values")
    clusters = np.asarray(clusters)
    if clusters.shape != values.shape:
        raise ValueError(f"clusters have shape {clusters.shape}, values {values.shape}: expected one label per value")
    _, inverse = np.unique(clusters, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    edges = np.searchsorted(inverse[order], np.arange(inverse.max() + 2))
    members = [values[order[edges[i]:edges[i + 1]]] for i in range(len(edges) - 1)]
    draws = rng.integers(0, len(members), size=(num_resamples, len(members)))
    return np.array([statistic(np.concatenate([members[i] for i in row])) for row in draws], dtype=float)
