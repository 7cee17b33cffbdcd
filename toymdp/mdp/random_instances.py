"""Random batches of rendering-MDP instances for checks at scale and benchmarks.

Rows of stochastic matrices are Dirichlet draws with a random sparsity mask (so deterministic rows,
zero-probability actions and unreachable states occur); a fraction of renderers is made
deterministic (0/1). With ``exact=True`` every row is drawn as small integer weights over their
sum, giving rational instances for the exact engine.
"""

from __future__ import annotations

import numpy as np

from .model import MDP, Instance, RenderingFamily
from .numbers import integer_ratios

__all__ = ["random_instances"]


def _float_rows(rng: np.random.Generator, shape: tuple[int, ...], n: int, sparsity: float) -> np.ndarray:
    x = rng.dirichlet(np.full(n, 0.7), size=shape)
    mask = rng.random(shape + (n,)) >= sparsity
    np.put_along_axis(mask, rng.integers(0, n, size=shape + (1,)), True, axis=-1)  # one entry per row survives
    x = np.where(mask, x, 0.0)
    x /= x.sum(axis=-1, keepdims=True)
    return x


def one_hot_rows(rng: np.random.Generator, shape: tuple[int, ...], n: int) -> np.ndarray:
    """Deterministic stochastic rows: one uniformly drawn 1 per row of length ``n``."""
    return np.eye(n)[rng.integers(0, n, size=shape)]


def _integer_rows(rng: np.random.Generator, shape: tuple[int, ...], n: int, max_weight: int) -> np.ndarray:
    w = rng.integers(0, max_weight + 1, size=shape + (n,))
    empty = w.sum(axis=-1) == 0
    w[empty, rng.integers(0, n, size=int(empty.sum()))] = 1
    return w


def random_instances(
    rng: np.random.Generator,
    batch: int,
    num_states: int,
    num_actions: int,
    num_renderers: int,
    num_observations: int,
    *,
    num_train: int | None = None,
    gamma: float | tuple[float, float] = (0.0, 0.99),
    exact: bool = False,
    sparsity: float = 0.3,
    deterministic_renderer_fraction: float = 0.5,
    max_weight: int = 5,
) -> Instance:
    """A batch of ``batch`` random instances of one shape.

    The training subset is the first ``num_train`` renderers (default: half, at least one);
    ``gamma`` is a value or a ``(low, high)`` range drawn per instance (rounded to a multiple of
    1/100 when exact).
    """
    B, S, A, K, O = batch, num_states, num_actions, num_renderers, num_observations
    T = max(1, K // 2) if num_train is None else num_train
    if not 1 <= T <= K:
        raise ValueError(f"num_train is {T}, expected 1 <= num_train <= num_renderers = {K}")
    g = rng.uniform(*gamma, size=B) if isinstance(gamma, tuple) else np.full(B, float(gamma))
    det = rng.random((B, K)) < deterministic_renderer_fraction
    if exact:

        def frac(w: np.ndarray) -> np.ndarray:
            """Each row of integer weights divided by its total, as fractions (one ufunc pass, no index loop)."""
            return integer_ratios(w, w.sum(axis=-1, keepdims=True))

        P = frac(_integer_rows(rng, (B, S, A), S, max_weight))
        r_int = rng.integers(-2 * max_weight, 2 * max_weight + 1, size=(B, S, A))
        r = integer_ratios(r_int, 2)
        rho0 = frac(_integer_rows(rng, (B,), S, max_weight))
        F_w = _integer_rows(rng, (B, K, S), O, max_weight)
        F_w = np.where(det[..., None, None], one_hot_rows(rng, (B, K, S), O).astype(int), F_w)
        F = frac(F_w)
        p = frac(_integer_rows(rng, (B,), K, max_weight))
        q = frac(_integer_rows(rng, (B,), T, max_weight))
        pi, pi_t = (frac(_integer_rows(rng, (B, O), A, max_weight)) for _ in range(2))
        gam = integer_ratios(np.round(g * 100).astype(np.int64), 100)
        mdp = MDP(P, r, rho0, gam, exact=True)
        fam = RenderingFamily(F, p, list(range(T)), q, exact=True)
        return Instance(mdp, fam, pi, pi_t)
    P = _float_rows(rng, (B, S, A), S, sparsity)
    r = rng.uniform(-1.0, 1.0, size=(B, S, A))
    rho0 = _float_rows(rng, (B,), S, sparsity)
    F = np.where(det[..., None, None], one_hot_rows(rng, (B, K, S), O), _float_rows(rng, (B, K, S), O, sparsity))
    p = _float_rows(rng, (B,), K, 0.0)
    q = _float_rows(rng, (B,), T, 0.0)
    pi = _float_rows(rng, (B, O), A, sparsity)
    pi_t = _float_rows(rng, (B, O), A, sparsity)
    return Instance(MDP(P, r, rho0, g, exact=False), RenderingFamily(F, p, list(range(T)), q, exact=False), pi, pi_t)
