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


def iqm(scores: Scores) -> float:
    """Interquartile mean of all scores pooled: the mean of the middle 50% (``trim_mean(x, 0.25)``)."""
    return float(trim_mean(np.concatenate(_tasks(scores)), 0.25))


def stratified_bootstrap(
    scores: Scores, statistic: Callable[[list[np.ndarray]], float], rng: np.random.Generator, num_resamples: int = 2000
) -> np.ndarray:
    """``statistic`` on ``num_resamples`` resamples that redraw runs with replacement *within* each task.

    Each task keeps its number of runs, so the task mix is the same in every resample.
    """
    tasks = _tasks(scores)
    out = np.empty(num_resamples)
    for b in range(num_resamples):
        out[b] = statistic([t[rng.integers(0, t.size, size=t.size)] for t in tasks])
    return out


def interval_estimate(
    scores: Scores, rng: np.random.Generator, statistic: Callable[[list[np.ndarray]], float] = iqm,
    num_resamples: int = 2000, confidence: float = 0.95,
) -> dict:
    """Point value and percentile stratified-bootstrap interval of ``statistic`` (default: IQM)."""
    boot = stratified_bootstrap(scores, statistic, rng, num_resamples)
    a = (1 - confidence) / 2
    return {"value": float(statistic(_tasks(scores))), "ci": [float(np.quantile(boot, a)), float(np.quantile(boot, 1 - a))],
            "confidence": confidence, "num_resamples": num_resamples}


def probability_of_improvement(x: Scores, y: Scores) -> float:
    """``P(X > Y) = 1/M sum_m P(X_m > Y_m)``, with ``P(X_m > Y_m) = 1/(N K) sum_{i,j} S(x_mi, y_mj)`` and
    ``S = 1`` if ``x > y``, ``1/2`` if equal, 0 otherwise (the Mann-Whitney statistic per task).

    ``x`` and ``y`` must cover the same tasks in the same order; for a lower-is-better score pass
    the negated scores.
    """
    xs, ys = _tasks(x), _tasks(y)
    if len(xs) != len(ys):
        raise ValueError(f"probability of improvement: x has {len(xs)} tasks, y has {len(ys)}")
    per_task = []
    for a, b in zip(xs, ys):
        diff = a[:, None] - b[None, :]
        per_task.append(((diff > 0) + 0.5 * (diff == 0)).mean())
    return float(np.mean(per_task))


def probability_of_improvement_interval(
    x: Scores, y: Scores, rng: np.random.Generator, num_resamples: int = 2000, confidence: float = 0.95
) -> dict:
    """Point value and stratified-bootstrap interval of :func:`probability_of_improvement` (x and y
    resampled independently, each within tasks)."""
    xs, ys = _tasks(x), _tasks(y)
    boot = np.empty(num_resamples)
    for b in range(num_resamples):
        bx = [t[rng.integers(0, t.size, size=t.size)] for t in xs]
        by = [t[rng.integers(0, t.size, size=t.size)] for t in ys]
        boot[b] = probability_of_improvement(bx, by)
    a = (1 - confidence) / 2
    return {"value": probability_of_improvement(xs, ys), "ci": [float(np.quantile(boot, a)), float(np.quantile(boot, 1 - a))],
            "confidence": confidence, "num_resamples": num_resamples}
