"""Aggregate statistics across games and seeds (Agarwal et al. 2021, "Deep RL at the edge of the statistical
precipice"): interquartile mean, stratified bootstrap intervals, probability of improvement.

Input convention, as in rliable: ``scores`` is ``(num_runs, num_tasks)`` (runs = seeds / agents, tasks =
games), or a list with one 1-D array of runs per task when tasks have different numbers of runs. Every
resampling takes an explicit ``numpy.random.Generator``. Small pure functions, no plotting.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy.stats import trim_mean

__all__ = ["iqm", "stratified_bootstrap", "interval_estimate", "probability_of_improvement",
           "probability_of_improvement_interval"]

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
    boot = stratified_bootstrap(scores, statistic, rng, num_resamples)
    a = (1 - confidence) / 2
    return {"value": float(statistic(_tasks(scores))), "ci": [float(np.quantile(boot, a)), float(np.quantile(boot, 1 - a))],
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
    xs, ys = _tasks(x), _tasks(y)
    value = probability_of_improvement(xs, ys)
    boot = _poi_tasks(_resample(xs, rng, num_resamples), _resample(ys, rng, num_resamples))
    a = (1 - confidence) / 2
    return {"value": value, "ci": [float(np.quantile(boot, a)), float(np.quantile(boot, 1 - a))],
            "confidence": confidence, "num_resamples": num_resamples}
