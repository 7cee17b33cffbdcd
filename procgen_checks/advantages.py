r"""Generalised advantage estimation (Schulman et al. 2016), written once for the trainer and the estimators.

Convention **episode ends**: ``episode_ends[t, e]`` is true when the action taken at step ``t`` in env ``e`` ended
its episode (gym3's ``first`` flag of the *next* observation; :mod:`procgen_checks.rollouts` records exactly this).
A rollout that stores **episode starts** instead (``starts[t, e]``: frame ``t`` is the first of an episode, the
``dones`` of CleanRL's PPO and of :class:`procgen_checks.ppo.RolloutStorage`) converts with
:func:`episode_ends_from_starts`. Arrays are ``(T, E)``: steps by environments.

.. math::

    \delta_t = r_t + \gamma (1 - \mathrm{end}_t) V_{t+1} - V_t, \qquad
    A_t = \delta_t + \gamma \lambda (1 - \mathrm{end}_t) A_{t+1},

with :math:`V_T` the value of the frame after the rollout (``bootstrap_value``) and :math:`A_T = 0`. A term cut by an
episode end is dropped, not multiplied by zero, so an unknown (NaN) value past an end never reaches :math:`A_t`;
a NaN value that is needed makes :math:`A_t` NaN (unknown).
"""

from __future__ import annotations

import numpy as np

__all__ = ["gae", "episode_ends_from_starts"]


def gae(rewards: np.ndarray, values: np.ndarray, episode_ends: np.ndarray, bootstrap_value: np.ndarray,
        gamma: float, lam: float) -> np.ndarray:
    """Advantages ``A (T, E)`` of a rollout, episode ends convention (module docstring). Returns ``A``; the value
    targets are ``A + values``."""
    rewards, values = np.asarray(rewards), np.asarray(values)
    ends = np.asarray(episode_ends, dtype=bool)
    if not rewards.shape == values.shape == ends.shape or rewards.ndim < 1:
        raise ValueError(f"rewards {rewards.shape}, values {values.shape} and episode_ends {ends.shape} must have "
                         "the same (T, ...) shape")
    T = rewards.shape[0]
    advantages = np.empty(rewards.shape, dtype=np.result_type(rewards, values))
    last = np.zeros(rewards.shape[1:], dtype=advantages.dtype)
    for t in range(T - 1, -1, -1):
        following = bootstrap_value if t == T - 1 else values[t + 1]
        delta = rewards[t] + gamma * np.where(ends[t], 0.0, following) - values[t]
        last = delta + gamma * lam * np.where(ends[t], 0.0, last)
        advantages[t] = last
    return advantages


def episode_ends_from_starts(episode_starts: np.ndarray, next_start: np.ndarray) -> np.ndarray:
    """``ends[t] = starts[t + 1]`` and ``ends[T - 1] = next_start`` (whether the frame after the rollout starts an
    episode): the episode-starts convention converted to episode ends, as booleans."""
    starts = np.asarray(episode_starts)
    return np.concatenate([starts[1:], np.asarray(next_start)[None]]).astype(bool)
