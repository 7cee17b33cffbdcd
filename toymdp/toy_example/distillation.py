r"""Two linear-softmax agents trained with exact policy gradients, independently or mutually distilled.

Agent ``i`` has weights ``W_i`` (shape ``(..., d, A)``, any batch shape ``...``) and the observation
policy ``Pi_i = softmax(Phi W_i)`` (:func:`toymdp.toy_example.toy.softmax_policy`). It trains on its own
renderers ``T_i`` (uniform weights ``w_k``) of a :class:`~toymdp.toy_example.toy.ToyFamily`. Its loss is

.. math::

    \ell_i = -J_i + \alpha\, \mathrm{KL}_i, \qquad
    J_i = (1-\gamma) \sum_{k \in T_i} w_k\, \eta_{f_k}(\pi_i), \qquad
    \mathrm{KL}_i = \sum_o d_i(o)\, \mathrm{KL}\big(\Pi_{\text{peer}}[o] \,\|\, \Pi_i[o]\big),

with ``d_i(o) = (1-gamma) sum_k w_k sum_s rho_{pi_i, f_k}[s] F_k[s, o]`` the normalised discounted
visitation of agent ``i``'s observations in its own environments. The agents minimise the total
``(l_1 + l_2) / 2`` jointly. ``alpha = 0`` is independent training; ``alpha > 0`` is mutual
distillation as in the paper's MDPO: each agent is pulled towards its peer on its own data, and the
peer's probabilities are *not* detached, so ``KL_i`` also moves the peer.

As in a sample-based learner, the visitation ``d_i`` is the data distribution of the current step:
it weighs the KL term but is not differentiated (pass ``visitation`` to hold it fixed, as the
finite-difference tests do).

Gradients are exact and analytic. The policy-gradient theorem for a state policy ``sigma``,
``d eta / d sigma[s, a] = rho_sigma[s] Q_sigma[s, a]`` (with ``rho``, ``Q`` from
:mod:`toymdp.mdp.engine`), is carried through ``pi_f = F Pi`` (``d/dPi = F^T d/dsigma``), the softmax
(``dZ = Pi * (dPi - <Pi, dPi>)``) and the linear logits ``Z = Phi W`` (``dW = Phi^T dZ``). For the KL
term, ``d KL(p || q) / dz_q = q - p`` and ``d KL(p || q) / dz_p = p * (log p - log q - KL(p || q))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from theory.quantities import kl

from ..config import DistillationConfig
from ..mdp import engine
from .toy import ToyFamily, softmax_policy

__all__ = [
    "DistillationConfig",
    "OwnReturn",
    "Objective",
    "own_return",
    "visitation",
    "objective",
    "objective_and_gradients",
    "initial_weights",
    "train",
]


class OwnReturn(NamedTuple):
    """Exact quantities of one agent on its own renderers (batch shape ``...``)."""

    J: np.ndarray  #: (...) normalised return (1 - gamma) sum_k w_k eta_{f_k}
    grad_pi: np.ndarray  #: (..., O, A) dJ / dPi
    visitation: np.ndarray  #: (..., O) d(o), normalised discounted visitation of observations


def own_return(toy: ToyFamily, agent: int, pi: np.ndarray) -> OwnReturn:
    """``J_i``, its gradient with respect to ``Pi`` and the visitation ``d_i`` of agent ``agent`` (0 or 1)."""
    mdp = toy.mdp
    ks = list(toy.agent_renderers[agent])
    F = toy.family.renderers[ks]  # (T_i, S, O)
    w = np.full(len(ks), 1.0 / len(ks))
    gamma = float(mdp.gamma)
    sigma = engine.state_policy(F, pi)  # (..., T_i, S, A)
    V, rho = engine.values_and_occupancy(mdp.P, mdp.r, gamma, mdp.rho0, sigma)
    Q = engine.q_values(mdp.P, mdp.r, gamma, V)
    eta = engine.expected_return(mdp.rho0, V)  # (..., T_i)
    scale = (1 - gamma) * w  # (T_i,)
    J = (eta * scale).sum(axis=-1)
    # Policy-gradient theorem per renderer, then back through pi_f = F Pi.
    grad_sigma = scale[:, None, None] * rho[..., None] * Q  # (..., T_i, S, A)
    grad_pi = np.einsum("kso,...ksa->...oa", F, grad_sigma)
    d = np.einsum("kso,...ks->...o", F, scale[:, None] * rho)
    return OwnReturn(J, grad_pi, d)


def visitation(toy: ToyFamily, W1: np.ndarray, W2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(d_1, d_2)``: each agent's observation visitation on its own renderers at weights ``W1, W2``."""
    return tuple(own_return(toy, i, softmax_policy(toy.features, W)).visitation for i, W in enumerate((W1, W2)))  # type: ignore[return-value]


class Objective(NamedTuple):
    total: np.ndarray  #: (...) (l_1 + l_2) / 2
    J: tuple[np.ndarray, np.ndarray]  #: normalised own returns J_1, J_2
    KL: tuple[np.ndarray, np.ndarray]  #: KL_1 = E_{d_1} KL(pi_2 || pi_1), KL_2 = E_{d_2} KL(pi_1 || pi_2)
    grads: tuple[np.ndarray, np.ndarray] | None  #: d total / d W_1, d total / d W_2


def _softmax_backward(pi: np.ndarray, grad_pi: np.ndarray) -> np.ndarray:
    """Gradient with respect to the logits of ``pi = softmax(z)`` from the gradient with respect to ``pi``."""
    return pi * (grad_pi - (pi * grad_pi).sum(axis=-1, keepdims=True))


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(p, np.finfo(float).tiny))


def objective_and_gradients(
    toy: ToyFamily,
    W1: np.ndarray,
    W2: np.ndarray,
    alpha: Any,
    *,
    visitation: tuple[np.ndarray, np.ndarray] | None = None,
    gradients: bool = True,
) -> Objective:
    """The total loss ``(l_1 + l_2) / 2`` of the module docstring and its exact gradients.

    ``W1, W2`` have shape ``(..., d, A)``; ``alpha`` is a scalar or an array broadcasting against
    ``...``. ``visitation``, when given, replaces the current ``(d_1, d_2)`` (to hold the data
    distribution fixed).
    """
    Phi = toy.features
    alpha = np.asarray(alpha, dtype=float)
    pis = (softmax_policy(Phi, W1), softmax_policy(Phi, W2))
    own = (own_return(toy, 0, pis[0]), own_return(toy, 1, pis[1]))
    d = visitation if visitation is not None else (own[0].visitation, own[1].visitation)
    KLs = tuple((d[i] * kl(pis[1 - i], pis[i])).sum(axis=-1) for i in range(2))
    total = 0.5 * sum(-own[i].J + alpha * KLs[i] for i in range(2))
    grads = None
    if gradients:
        a = alpha[..., None, None]
        grad_z = []
        for i in range(2):
            me, peer = pis[i], pis[1 - i]
            # Own loss l_i: -J_i, and alpha KL(peer || me) weighted by d_i, through my logits.
            g = -_softmax_backward(me, own[i].grad_pi) + a * d[i][..., None] * (me - peer)
            # The peer's loss l_j (j != i) holds KL(me || peer) weighted by d_j: my logits are the peer's "p".
            j = 1 - i
            log_ratio = _log(me) - _log(peer)
            kl_o = (me * log_ratio).sum(axis=-1, keepdims=True)
            g = g + a * d[j][..., None] * me * (log_ratio - kl_o)
            grad_z.append(0.5 * g)
        grads = tuple(np.einsum("od,...oa->...da", Phi, g) for g in grad_z)
    return Objective(total, (own[0].J, own[1].J), KLs, grads)


def objective(toy: ToyFamily, W1: np.ndarray, W2: np.ndarray, alpha: Any, *, visitation=None) -> np.ndarray:
    """The total loss only (for finite differences)."""
    return objective_and_gradients(toy, W1, W2, alpha, visitation=visitation, gradients=False).total


def initial_weights(toy: ToyFamily, seed: int, init_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Two independent draws ``W ~ N(0, init_scale^2)`` of shape ``(d, A)`` for ``seed``.

    The same seed gives the same pair whatever ``alpha`` is, so runs with different ``alpha`` are
    paired by seed.
    """
    rng = np.random.default_rng(seed)
    shape = (toy.num_features, toy.mdp.num_actions)
    return rng.normal(0.0, init_scale, size=shape), rng.normal(0.0, init_scale, size=shape)


class _Adam:
    """Adam (Kingma & Ba 2015) on a list of arrays, with the paper's default betas."""

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.lr, self.b1, self.b2, self.eps, self.t = lr, beta1, beta2, eps, 0
        self.m: list[np.ndarray] | None = None
        self.v: list[np.ndarray] | None = None

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> list[np.ndarray]:
        if self.m is None:
            self.m = [np.zeros_like(g) for g in grads]
            self.v = [np.zeros_like(g) for g in grads]
        self.t += 1
        out = []
        for n, (p, g) in enumerate(zip(params, grads)):
            self.m[n] = self.b1 * self.m[n] + (1 - self.b1) * g
            self.v[n] = self.b2 * self.v[n] + (1 - self.b2) * g * g  # type: ignore[index]
            m_hat = self.m[n] / (1 - self.b1**self.t)
            v_hat = self.v[n] / (1 - self.b2**self.t)  # type: ignore[index]
            out.append(p - self.lr * m_hat / (np.sqrt(v_hat) + self.eps))
        return out


def train(
    toy: ToyFamily,
    W1: np.ndarray,
    W2: np.ndarray,
    alpha: Any,
    config: DistillationConfig,
    *,
    record: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``(l_1 + l_2) / 2`` from ``W1, W2`` for ``config.steps`` steps (batched over ``...``).

    ``record(step, W1, W2)`` is called at step 0, every ``config.eval_every`` steps and after the
    last step; ``progress(n)`` after every ``n`` steps (for a progress bar).
    """
    opt = _Adam(config.learning_rate) if config.optimizer == "adam" else None
    for step in range(config.steps + 1):
        if record is not None and (step % config.eval_every == 0 or step == config.steps):
            record(step, W1, W2)
        if step == config.steps:
            break
        g1, g2 = objective_and_gradients(toy, W1, W2, alpha).grads  # type: ignore[misc]
        if opt is None:
            W1, W2 = W1 - config.learning_rate * g1, W2 - config.learning_rate * g2
        else:
            W1, W2 = opt.step([W1, W2], [g1, g2])
        if progress is not None:
            progress(1)
    return W1, W2
