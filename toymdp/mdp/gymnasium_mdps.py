"""Gymnasium's toy-text environments (FrozenLake, CliffWalking, Taxi) as exact tabular MDPs.

These environments expose their model as ``env.unwrapped.P[s][a] = [(prob, s', reward, terminated), ...]``
and their initial distribution as ``env.unwrapped.initial_state_distrib``. An episode ends on a
transition with ``terminated=True``; to keep a discounted MDP with the same returns, every such
transition leads to one extra **absorbing state** (index ``S``, the last) that loops on itself with
zero reward. The reward of the terminating transition itself is kept.

Gymnasium is imported lazily and is not a dependency of the core package.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from .model import MDP
from .numbers import parse_number

__all__ = ["from_gymnasium"]


def _exact_probability(p: float, max_denominator: int) -> Fraction:
    # Environment probabilities are floats such as 1/3 = 0.333...; recover the intended fraction.
    return Fraction(p).limit_denominator(max_denominator)


def from_gymnasium(env: Any, gamma: Any = 0.99, *, exact: bool = False, max_denominator: int = 1000) -> MDP:
    """Convert a Gymnasium toy-text environment (or ``gymnasium.make``'s wrapper of one) to an :class:`MDP`.

    The result has ``S + 1`` states: the environment's ``S`` and an absorbing terminal state.
    ``r[s, a]`` is the expected reward of the transition. With ``exact=True`` probabilities are
    recovered as fractions with denominator at most ``max_denominator`` and rewards as exact
    decimals; the rows must then sum to exactly 1.
    """
    base = getattr(env, "unwrapped", env)
    model = getattr(base, "P", None)
    if not isinstance(model, dict):
        raise TypeError(
            f"{type(base).__name__} has no tabular model env.unwrapped.P; expected a toy-text environment "
            "(FrozenLake, CliffWalking, Taxi)"
        )
    S = int(base.observation_space.n)
    A = int(base.action_space.n)
    num = (lambda p: _exact_probability(p, max_denominator)) if exact else float
    rew = (lambda x: Fraction(repr(float(x)))) if exact else float
    zero = Fraction(0) if exact else 0.0
    dtype = object if exact else np.float64
    P = np.full((S + 1, A, S + 1), zero, dtype=dtype)
    r = np.full((S + 1, A), zero, dtype=dtype)
    absorbing = S
    for s in range(S):
        for a in range(A):
            for prob, nxt, reward, terminated in model[s][a]:
                p = num(prob)
                P[s, a, absorbing if terminated else int(nxt)] += p
                r[s, a] += p * rew(reward)
    P[absorbing, :, absorbing] = Fraction(1) if exact else 1.0
    init = np.asarray(base.initial_state_distrib, dtype=float)
    rho0 = np.full(S + 1, zero, dtype=dtype)
    for s in range(S):
        rho0[s] = num(init[s])
    return MDP(P, r, rho0, parse_number(gamma, where="gamma") if exact else float(gamma), exact=exact)
