r"""The toy rendering-MDP family of this project: a combination lock seen through spurious backgrounds.

This is our own construction, built to tell the story of arXiv 2501.02481's toy example (policies
latch onto task-irrelevant features of their observations; two policies trained on different
environments latch onto different ones) with every quantity computable exactly.

Underlying MDP (``S = lock_length`` states, ``A = 2`` actions)
    A combination lock. Each state ``s`` has one correct action ``a*(s)``. The correct action moves
    ``s -> s + 1``; the other resets the lock to state 0. The correct action in the last state pays
    reward 1 and restarts the lock at state 0. With probability ``slip`` the other action is
    executed instead of the chosen one. The episode starts in state 0; ``a*`` is the unique
    optimal policy (checked in the tests by value iteration).

Observations and features
    An observation is a pair ``o = (s, b)``: the state, seen on a background ``b``. There are
    ``2 D`` backgrounds: for each nuisance direction ``k < D`` a "plus" and a "minus" background.
    Each observation has a feature vector

    .. math::  \phi(s, b) = [\,c\, e_s \;;\; \pm m\, e_k\,] \in \mathbb R^{S + D},

    task-relevant features (a one-hot code of the state, scale ``c = task_scale``) followed by
    nuisance features (``+m e_k`` on the plus background of direction ``k``, ``-m e_k`` on its minus
    background, ``m = nuisance_scale``). Observations are indexed ``o = s * 2D + 2k + (0 | 1)``.

Renderers
    A renderer is given by a direction ``k`` and a correlation ``c_f`` in ``[-1, 1]``: in state ``s``
    it shows the plus background of ``k`` with probability ``(1 + c_f y(s)) / 2`` and the minus
    background otherwise, where ``y(s) = +1`` if ``a*(s) = 0`` and ``-1`` if ``a*(s) = 1``. So the
    nuisance feature's correlation with the optimal-action sign ``y`` is exactly ``c_f`` (over any
    state distribution). Training renderers have ``c_f = +-1``; test renderers have ``c_f = 0``:
    the background carries no information about the optimal action there.

Two agents, two environments
    Agent 1 trains on renderers ``agent_train[0]``, agent 2 on ``agent_train[1]``. In the default
    family (``"opposed"``) both agents see the same backgrounds with opposite associations (plus
    means "action 0" for agent 1 and "action 1" for agent 2); in ``"disjoint"`` each agent sees
    its own direction, positively associated. The family's training subset ``T`` is the union; test weights are uniform over
    the test renderers (zero on training renderers).

Policies are linear-softmax over the features: ``Pi[o] = softmax(phi(o)^T W)`` with ``W`` of shape
``(S + D, A)``. A policy acts on observations it never trained on (other backgrounds, other
correlations) through the same weights, so nuisance weights learned on training renderers change
its behaviour on test renderers; its robustness term ``R`` measures by how much.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.special import softmax

from ..mdp.model import MDP, Instance, RenderingFamily

__all__ = [
    "ToyFamilyConfig",
    "ToyFamily",
    "PRESETS",
    "lock_mdp",
    "observation_features",
    "renderer_matrix",
    "build_family",
    "softmax_policy",
    "nuisance_correlation",
]


@dataclass(frozen=True)
class ToyFamilyConfig:
    """Parameters of the toy family; every field has a default that ``repconv toy`` uses."""

    lock_length: int = 5  #: number of states S of the combination lock
    correct_actions: tuple[int, ...] | None = None  #: a*(s) per state; None: alternating 0, 1, 1, 0, 0, 1, ...
    slip: float = 0.1  #: probability that the other action is executed
    gamma: float = 0.9  #: discount
    num_directions: int = 2  #: nuisance directions D (backgrounds: 2 D)
    task_scale: float = 1.0  #: c, scale of the one-hot state features
    nuisance_scale: float = 1.0  #: m, scale of the nuisance features
    #: training renderers of each agent, as (direction, correlation) pairs
    agent_train: tuple[tuple[tuple[int, float], ...], ...] = (((0, 1.0), (1, 1.0)), ((0, -1.0), (1, -1.0)))
    #: test renderers, as (direction, correlation) pairs (correlation 0: background independent of a*)
    test: tuple[tuple[int, float], ...] = ((0, 0.0), (1, 0.0))

    def __post_init__(self) -> None:
        S, D = self.lock_length, self.num_directions
        if S < 1:
            raise ValueError(f"ToyFamilyConfig.lock_length is {S}, expected >= 1")
        if D < 1:
            raise ValueError(f"ToyFamilyConfig.num_directions is {D}, expected >= 1")
        if not 0 <= self.slip < 0.5:
            raise ValueError(f"ToyFamilyConfig.slip is {self.slip}, expected 0 <= slip < 0.5 (else a* is not optimal)")
        if not 0 <= self.gamma < 1:
            raise ValueError(f"ToyFamilyConfig.gamma is {self.gamma}, expected 0 <= gamma < 1")
        if self.correct_actions is not None:
            if len(self.correct_actions) != S or any(a not in (0, 1) for a in self.correct_actions):
                raise ValueError(
                    f"ToyFamilyConfig.correct_actions is {self.correct_actions}, expected {S} entries in {{0, 1}}"
                )
        if len(self.agent_train) != 2 or any(len(t) == 0 for t in self.agent_train):
            raise ValueError("ToyFamilyConfig.agent_train: expected two non-empty lists of (direction, correlation)")
        if not self.test:
            raise ValueError("ToyFamilyConfig.test is empty, expected at least one test renderer")
        for where, specs in (
            ("agent_train[0]", self.agent_train[0]),
            ("agent_train[1]", self.agent_train[1]),
            ("test", self.test),
        ):
            for k, corr in specs:
                if not 0 <= k < D:
                    raise ValueError(f"ToyFamilyConfig.{where}: direction {k} outside 0..{D - 1}")
                if not -1 <= corr <= 1:
                    raise ValueError(f"ToyFamilyConfig.{where}: correlation {corr} outside [-1, 1]")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ToyFamilyConfig:
        data = dict(data)
        if data.get("correct_actions") is not None:
            data["correct_actions"] = tuple(data["correct_actions"])
        data["agent_train"] = tuple(tuple((int(k), float(c)) for k, c in t) for t in data["agent_train"])
        data["test"] = tuple((int(k), float(c)) for k, c in data["test"])
        return cls(**data)


#: Named variants. "opposed": both agents see the same backgrounds with opposite associations to the
#: optimal action. "disjoint": each agent sees its own background, positively associated; neither
#: agent's data contradicts the other's spurious correlation.
PRESETS: dict[str, ToyFamilyConfig] = {
    "opposed": ToyFamilyConfig(),
    "disjoint": ToyFamilyConfig(agent_train=(((0, 1.0),), ((1, 1.0),))),
}


def default_correct_actions(S: int) -> tuple[int, ...]:
    """``0, 1, 1, 0, 0, 1, 1, 0, ...``: both actions occur, and neighbours are not simply alternating."""
    return tuple(((s + 1) // 2) % 2 for s in range(S))


def lock_mdp(correct_actions: tuple[int, ...], slip: float, gamma: float) -> MDP:
    """The combination lock described in the module docstring (float)."""
    S, A = len(correct_actions), 2
    P = np.zeros((S, A, S))
    r = np.zeros((S, A))
    for s, good in enumerate(correct_actions):
        nxt = (s + 1) % S  # the last state's correct action restarts the lock
        for a in range(A):
            p_good = 1.0 - slip if a == good else slip
            P[s, a, nxt] += p_good
            P[s, a, 0] += 1.0 - p_good
            if s == S - 1:
                r[s, a] = p_good
    rho0 = np.zeros(S)
    rho0[0] = 1.0
    return MDP(P, r, rho0, gamma, exact=False)


def observation_features(S: int, D: int, task_scale: float, nuisance_scale: float) -> np.ndarray:
    """``Phi`` of shape ``(O, S + D)`` with ``O = 2 D S``: row ``o = s * 2D + 2k + j`` is ``phi(s, b)``."""
    B = 2 * D
    Phi = np.zeros((S * B, S + D))
    for s in range(S):
        for k in range(D):
            for j, sign in enumerate((1.0, -1.0)):
                o = s * B + 2 * k + j
                Phi[o, s] = task_scale
                Phi[o, S + k] = sign * nuisance_scale
    return Phi


def renderer_matrix(correct_actions: tuple[int, ...], D: int, direction: int, correlation: float) -> np.ndarray:
    """Emission matrix ``F[s, o]`` of the renderer (direction, correlation); see the module docstring."""
    S, B = len(correct_actions), 2 * D
    F = np.zeros((S, S * B))
    for s, good in enumerate(correct_actions):
        y = 1.0 if good == 0 else -1.0
        p_plus = (1.0 + correlation * y) / 2
        F[s, s * B + 2 * direction] = p_plus
        F[s, s * B + 2 * direction + 1] = 1.0 - p_plus
    return F


@dataclass(frozen=True, eq=False)
class ToyFamily:
    """A built toy family: the MDP, the rendering family, the features and each agent's renderers."""

    config: ToyFamilyConfig
    mdp: MDP
    family: RenderingFamily
    features: np.ndarray  #: (O, S + D) Phi
    correct_actions: tuple[int, ...]  #: a*(s)
    agent_renderers: tuple[tuple[int, ...], tuple[int, ...]]  #: renderer indices of each agent's training set
    test_renderers: tuple[int, ...]
    specs: tuple[tuple[int, float], ...] = field(default=())  #: (direction, correlation) per renderer

    @property
    def num_features(self) -> int:
        return self.features.shape[1]

    def instance(self, pi: np.ndarray, pi_tilde: np.ndarray) -> Instance:
        """An :class:`Instance` of this family with observation policies of batch shape ``...``.

        The MDP and family arrays are broadcast to the policies' batch shape.
        """
        batch = np.shape(pi)[:-2]
        if np.shape(pi_tilde)[:-2] != batch:
            raise ValueError(f"pi has batch shape {batch}, pi_tilde {np.shape(pi_tilde)[:-2]}")
        m, f = self.mdp, self.family
        b = lambda x: np.broadcast_to(x, batch + np.shape(x))  # noqa: E731
        mdp = MDP(b(m.P), b(m.r), b(m.rho0), b(np.asarray(m.gamma)), exact=False)
        fam = RenderingFamily(b(f.renderers), b(f.test_weights), f.train, b(f.train_weights), exact=False)
        return Instance(mdp, fam, pi, pi_tilde)


def build_family(config: ToyFamilyConfig | None = None) -> ToyFamily:
    """Build the toy family of ``config`` (default: the "opposed" preset)."""
    config = config or ToyFamilyConfig()
    S, D = config.lock_length, config.num_directions
    correct = tuple(config.correct_actions) if config.correct_actions is not None else default_correct_actions(S)
    specs = tuple(config.agent_train[0]) + tuple(config.agent_train[1]) + tuple(config.test)
    n1, n2 = len(config.agent_train[0]), len(config.agent_train[1])
    agent_renderers = (tuple(range(n1)), tuple(range(n1, n1 + n2)))
    test_renderers = tuple(range(n1 + n2, len(specs)))
    F = np.stack([renderer_matrix(correct, D, k, c) for k, c in specs])
    K, T = len(specs), n1 + n2
    p = np.zeros(K)
    p[list(test_renderers)] = 1.0 / len(test_renderers)
    family = RenderingFamily(F, p, list(range(T)), np.full(T, 1.0 / T), exact=False)
    return ToyFamily(
        config=config,
        mdp=lock_mdp(correct, config.slip, config.gamma),
        family=family,
        features=observation_features(S, D, config.task_scale, config.nuisance_scale),
        correct_actions=correct,
        agent_renderers=agent_renderers,
        test_renderers=test_renderers,
        specs=specs,
    )


def softmax_policy(features: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Linear-softmax observation policy ``Pi[o] = softmax(Phi[o] W)``: ``(O, d), (..., d, A) -> (..., O, A)``."""
    return softmax(features @ W, axis=-1)


def nuisance_correlation(
    toy: ToyFamily, renderer: int, direction: int, state_weights: np.ndarray | None = None
) -> float:
    """Correlation of nuisance feature ``direction`` with the optimal-action sign ``y(s)`` under ``renderer``.

    ``E_{s ~ w, o ~ F[s]}[y(s) phi_k(o)] / m`` with state weights ``w`` (uniform by default), read from
    the model's emission matrix and features. It is ``c_f`` for a renderer of that direction.
    """
    S = toy.mdp.num_states
    w = np.full(S, 1.0 / S) if state_weights is None else np.asarray(state_weights, dtype=float) / np.sum(state_weights)
    y = np.where(np.asarray(toy.correct_actions) == 0, 1.0, -1.0)
    nuisance = toy.features[:, S + direction] / toy.config.nuisance_scale  # (O,)
    expected = toy.family.renderers[renderer] @ nuisance  # (S,) E[phi_k(o) | s]
    return float((w * y * expected).sum())
