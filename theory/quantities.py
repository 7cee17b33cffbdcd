"""Distances between action distributions, shared by every engine and estimator.

Array convention: a batch of action distributions has shape ``(..., A)``; the last axis is the
action axis. A family of state policies under ``K`` renderers has shape ``(..., K, S, A)``.

The functions are generic over the number type: float arrays give floats, ``object`` arrays of
:class:`fractions.Fraction` give exact fractions (``abs``, ``+`` and ``max`` are exact on them).
Nothing here knows about MDPs, Procgen or torch.
"""

from __future__ import annotations

import numpy as np

from common.arrays import max_last, sum_last

__all__ = ["tv", "kl", "pairwise_tv", "state_robustness", "robustness", "max_tv"]


def tv(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    r"""Total-variation distance over the last axis: :math:`TV(p, q) = \frac12 \sum_i |p_i - q_i|`.

    ``p`` and ``q`` broadcast against each other; the result drops the last axis.
    """
    p = np.asarray(p)
    q = np.asarray(q)
    if p.shape[-1:] != q.shape[-1:]:
        raise ValueError(f"tv: action axes differ: p has {p.shape[-1]} actions, q has {q.shape[-1]} (last axis)")
    return sum_last(np.abs(p - q)) / 2


def kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    r"""Kullback-Leibler divergence over the last axis: :math:`KL(p \| q) = \sum_i p_i \log(p_i / q_i)`.

    Float arrays only (a logarithm is not rational). Terms with ``p_i = 0`` contribute 0; a
    ``q_i = 0`` where ``p_i > 0`` gives ``inf``.
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return terms.sum(axis=-1)


def pairwise_tv(dists: np.ndarray) -> np.ndarray:
    """TV between every pair of renderings: ``(..., K, S, A) -> (..., K, K, S)``.

    Entry ``[..., j, k, s]`` is ``TV(dists[..., j, s, :], dists[..., k, s, :])``.
    """
    dists = np.asarray(dists)
    return tv(dists[..., :, None, :, :], dists[..., None, :, :, :])


def max_tv(p: np.ndarray, q: np.ndarray, axes: int = 1) -> np.ndarray:
    """``max`` of the per-row TV over the trailing ``axes`` row axes (before the action axis).

    With ``p, q`` of shape ``(..., S, A)`` and ``axes=1`` this is ``alpha = max_s TV(p[s], q[s])``.
    """
    d = tv(p, q)
    if axes == 1:
        return max_last(d)
    return d.max(axis=tuple(range(-axes, 0))) if axes else d


def state_robustness(dists: np.ndarray) -> np.ndarray:
    """Per-state robustness ``max_{j,k} TV(pi_{f_j}[s], pi_{f_k}[s])``: ``(..., K, S, A) -> (..., S)``.

    :func:`robustness` is its maximum over states; restricted or weighted forms of ``R`` (over
    reachable states, or averaged over a visitation) are built from it.
    """
    dists = np.asarray(dists)
    K = dists.shape[-3]
    worst = tv(dists[..., 0, :, :], dists[..., 0, :, :])  # zeros of the right type and shape
    # TV is symmetric and 0 on the diagonal: the K(K-1)/2 distinct pairs suffice (views, no copies).
    for j in range(K):
        for k in range(j + 1, K):
            worst = np.maximum(worst, tv(dists[..., j, :, :], dists[..., k, :, :]))
    return worst


def robustness(dists: np.ndarray) -> np.ndarray:
    """Robustness term R (THEORY.md): ``max_s max_{j,k} TV(pi_{f_j}[s], pi_{f_k}[s])``.

    ``dists`` has shape ``(..., K, S, A)`` (the state policies of one observation policy under
    ``K`` renderers); the result has the batch shape ``...``. With ``K = 1`` it is 0.
    """
    return max_last(state_robustness(dists))
