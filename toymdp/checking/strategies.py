"""Hypothesis strategies for rendering MDPs, rendering families and observation policies.

Public API for writing your own property tests of bounds (needs ``hypothesis``, in the ``test``
extra). Every size argument takes an ``int`` or a strategy of ints. With ``exact=True`` every
number is a :class:`fractions.Fraction` (for the exact engine); otherwise float64. Stochastic rows
are drawn as small non-negative integer weights divided by their sum, so exact and float draws
cover the same instances and zeros (deterministic rows, unreachable states) are common.

Example::

    from hypothesis import given
    from toymdp import evaluate
    from toymdp.strategies import instances

    @given(instances(exact=True))
    def test_tv_bounded(inst):
        ev = evaluate(inst)
        assert 0 <= ev.pi.R <= 1
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from typing import Any

import numpy as np
from hypothesis import strategies as st

from ..mdp.model import MDP, Instance, RenderingFamily

__all__ = [
    "stochastic_matrices",
    "mdps",
    "rendering_families",
    "observation_policies",
    "instances",
    "discounts",
]

Size = int | st.SearchStrategy


def _size(x: Size) -> st.SearchStrategy:
    return st.just(x) if isinstance(x, int) else x


def _to_array(rows: list, exact: bool) -> np.ndarray:
    if exact:
        arr = np.empty((len(rows), len(rows[0]) if rows else 0), dtype=object)
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                arr[i, j] = v
        return arr
    return np.array([[float(v) for v in row] for row in rows], dtype=np.float64)


@st.composite
def _stochastic_row(draw, n: int, max_weight: int, deterministic: bool) -> list[Fraction]:
    if deterministic:
        hot = draw(st.integers(0, n - 1))
        return [Fraction(int(i == hot)) for i in range(n)]
    weights = draw(_weight_lists(n, max_weight))
    total = sum(weights)
    return [Fraction(w, total) for w in weights]


# The strategies of a row and of its weights are built once per shape and kept: hypothesis validates a strategy
# object on its first draw, which cost more than the draws themselves when a new one was built for every row. The
# draws, and so the examples of a seed, are the same.
@cache
def _weight_lists(n: int, max_weight: int) -> st.SearchStrategy:
    return st.lists(st.integers(0, max_weight), min_size=n, max_size=n).filter(lambda w: sum(w) > 0)


_row = cache(_stochastic_row)


@st.composite
def stochastic_matrices(
    draw, rows: int, cols: int, *, exact: bool = False, deterministic: bool = False, max_weight: int = 4
) -> np.ndarray:
    """A ``rows x cols`` row-stochastic matrix; ``deterministic=True`` gives a 0/1 matrix."""
    return _to_array([draw(_row(cols, max_weight, deterministic)) for _ in range(rows)], exact)


@st.composite
def discounts(draw, *, exact: bool = False, max_denominator: int = 20) -> Any:
    """A discount in ``[0, 1)``, including 0 (myopic) and values close to 1."""
    den = draw(st.integers(1, max_denominator))
    g = Fraction(draw(st.integers(0, den - 1)), den)
    return g if exact else float(g)


@st.composite
def mdps(
    draw,
    num_states: Size = st.integers(1, 4),
    num_actions: Size = st.integers(1, 3),
    *,
    exact: bool = False,
    gamma: Any = None,
    reward_bound: int = 4,
    deterministic: bool | None = None,
) -> MDP:
    """A random MDP; rewards are multiples of 1/2 in ``[-reward_bound, reward_bound]``.

    ``deterministic=None`` mixes stochastic and deterministic transition kernels.
    """
    S, A = draw(_size(num_states)), draw(_size(num_actions))
    det = draw(st.booleans()) if deterministic is None else deterministic
    P = np.stack([draw(stochastic_matrices(A, S, exact=exact, deterministic=det)) for _ in range(S)])
    r_rows = [[Fraction(draw(st.integers(-2 * reward_bound, 2 * reward_bound)), 2) for _ in range(A)] for _ in range(S)]
    r = _to_array(r_rows, exact)
    rho0 = draw(stochastic_matrices(1, S, exact=exact))[0]
    g = draw(discounts(exact=exact)) if gamma is None else gamma
    return MDP(P, r, rho0, g, exact=exact)


@st.composite
def rendering_families(
    draw,
    num_states: Size,
    num_observations: Size = st.integers(1, 5),
    num_renderers: Size = st.integers(1, 3),
    *,
    exact: bool = False,
    deterministic: bool | None = None,
    identical: bool = False,
) -> RenderingFamily:
    """A family of ``K`` renderers ``S x O`` with random test weights and a random non-empty training subset.

    ``deterministic=None`` mixes 0/1 and stochastic renderers; ``identical=True`` repeats one
    renderer ``K`` times (so every policy has ``R = 0``).
    """
    S, O, K = draw(_size(num_states)), draw(_size(num_observations)), draw(_size(num_renderers))
    mats = []
    for _ in range(1 if identical else K):
        det = draw(st.booleans()) if deterministic is None else deterministic
        mats.append(draw(stochastic_matrices(S, O, exact=exact, deterministic=det)))
    if identical:
        mats = mats * K
    test_w = draw(stochastic_matrices(1, K, exact=exact))[0]
    train = sorted(draw(st.sets(st.integers(0, K - 1), min_size=1, max_size=K)))
    train_w = draw(stochastic_matrices(1, len(train), exact=exact))[0]
    return RenderingFamily(np.stack(mats), test_w, train, train_w, exact=exact)


def observation_policies(
    num_observations: int, num_actions: int, *, exact: bool = False, deterministic: bool | None = None
) -> st.SearchStrategy:
    """An ``O x A`` observation policy; ``deterministic=None`` mixes stochastic and deterministic."""
    if deterministic is None:
        return st.booleans().flatmap(
            lambda d: stochastic_matrices(num_observations, num_actions, exact=exact, deterministic=d)
        )
    return stochastic_matrices(num_observations, num_actions, exact=exact, deterministic=deterministic)


@st.composite
def instances(
    draw,
    num_states: Size = st.integers(1, 4),
    num_actions: Size = st.integers(1, 3),
    num_observations: Size = st.integers(1, 5),
    num_renderers: Size = st.integers(1, 3),
    *,
    exact: bool = False,
    gamma: Any = None,
    deterministic_renderers: bool | None = None,
    identical_renderers: bool = False,
    same_policy: bool = False,
    deterministic_policies: bool | None = None,
) -> Instance:
    """A full instance: MDP, rendering family, and policies ``pi`` and ``pi_tilde``.

    ``same_policy=True`` makes ``pi_tilde`` equal to ``pi``.
    """
    mdp = draw(mdps(num_states, num_actions, exact=exact, gamma=gamma))
    S, A = mdp.num_states, mdp.num_actions
    fam = draw(
        rendering_families(
            S,
            num_observations,
            num_renderers,
            exact=exact,
            deterministic=deterministic_renderers,
            identical=identical_renderers,
        )
    )
    O = fam.num_observations
    pi = draw(observation_policies(O, A, exact=exact, deterministic=deterministic_policies))
    pi_tilde = (
        pi.copy()
        if same_policy
        else draw(observation_policies(O, A, exact=exact, deterministic=deterministic_policies))
    )
    return Instance(mdp, fam, pi, pi_tilde)
