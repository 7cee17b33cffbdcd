"""Summary statistics over seeds: means with Student-t confidence intervals.

Input convention: the seed axis is given explicitly (``axis``); NaN entries are not allowed (a run
that produced NaN is a bug to fix, not a sample to drop).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats

__all__ = ["MeanCI", "mean_ci"]


class MeanCI(NamedTuple):
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: int


def mean_ci(x: np.ndarray, axis: int = 0, confidence: float = 0.95) -> MeanCI:
    """Mean over ``axis`` and the two-sided Student-t ``confidence`` interval of the mean.

    With ``n`` samples, standard deviation ``s`` (``ddof=1``): ``mean +- t_{(1+c)/2, n-1} s / sqrt(n)``.
    With one sample the interval is ``(-inf, inf)``; with zero spread it is the mean itself.
    """
    x = np.asarray(x, dtype=float)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence is {confidence}, expected 0 < confidence < 1")
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
