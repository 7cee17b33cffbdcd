"""The quantities the statements are written in (:data:`theory.statements.QUANTITIES`), for an instance.

:func:`toymdp.evaluate` computes THEORY's two tables; the statements and their variants need a few
more quantities built from the same engine results: CPO's ``epst`` and visitation-weighted TV (T1c),
``span_a Q`` (G1), cross-renderer surrogates ``L_{pi_{f_k}}(pi_{f_j})`` (G2), reward range (G1r,
vacuity), and the reachable-state and visitation-weighted forms of ``R`` and ``D_train`` (variants).
This module assembles them from :mod:`toymdp.mdp.engine` and :mod:`theory.quantities` (no formula of V,
Q, rho, TV or R is written here) and lays each one out on a statement's renderer indices.

Each quantity carries the renderer indices it depends on: ``()`` (one value per instance),
``('f',)`` (per renderer), ``('j',)`` or ``('k',)`` (per renderer, as the target or the base of a
pair) or ``('j', 'k')`` (per ordered pair). :meth:`StatementTerms.for_statement` inserts singleton
axes so that the values broadcast over the statement's own indices.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from common.arrays import max_last, max_last2, min_last, sum_last
from theory.quantities import pairwise_tv, state_robustness, tv
from theory.statements import C1v_F, Statement

from . import engine
from .evaluation import Evaluation, FlintForm, flint_evaluation
from .model import Instance
from .numbers import FLINT, from_flint, is_flint

__all__ = ["NotApplicableError", "StatementTerms", "statement_terms", "exact_statement_terms", "flint_statement_terms"]


class NotApplicableError(ValueError):
    """A statement needs a quantity this instance does not define (e.g. D_test without held-out renderers)."""


@dataclass(frozen=True, eq=False)
class StatementTerms:
    """Every quantity of :data:`~theory.statements.QUANTITIES` for one evaluation (single or batch)."""

    values: dict[str, tuple[Any, tuple[str, ...]]]  #: name -> (array, renderer indices)
    missing: dict[str, str]  #: name -> why this instance does not define it
    exact: bool
    batch_shape: tuple[int, ...]
    num_renderers: int
    #: The exact number type of ``values``: :class:`fractions.Fraction`, or ``flint.fmpq`` for an
    #: evaluation computed on FLINT rationals (statements are then decided on them, in C).
    rational: type = Fraction

    def subset(self, rows: list[int], names: Iterable[str] | None = None) -> StatementTerms:
        """The terms of the instances ``rows`` of a batch with one axis (only the quantities ``names``, if given)."""
        if len(self.batch_shape) != 1:
            raise ValueError(f"subset needs a batch with one axis, this one has shape {self.batch_shape}")
        keep = self.values.keys() if names is None else [n for n in names if n in self.values]
        values = {k: (np.asarray(self.values[k][0])[rows], self.values[k][1]) for k in keep}
        return StatementTerms(values, self.missing, self.exact, (len(rows),), self.num_renderers, self.rational)

    def for_statement(self, statement: Statement) -> dict[str, Any]:
        """The statement's quantities, each shaped ``batch + (K,) * len(statement.indices)`` or broadcastable to it."""
        out = {}
        for name in statement.quantity_names:
            if name in self.missing:
                raise NotApplicableError(f"{statement.id} does not apply: {self.missing[name]}")
            if name not in self.values:
                raise KeyError(f"{statement.id}: quantity {name!r} is not computed by toymdp.mdp.statement_terms")
            value, tags = self.values[name]
            out[name] = _layout(np.asarray(value), tags, statement.indices, statement.id, name)
        return out


def _layout(value: np.ndarray, tags: tuple[str, ...], want: tuple[str, ...], sid: str, name: str) -> np.ndarray:
    if not set(tags) <= set(want) or [t for t in want if t in tags] != list(tags):
        raise ValueError(f"{sid}: quantity {name} has renderer indices {tags}, the statement has {want}")
    nb = value.ndim - len(tags)
    shape = value.shape[:nb] + tuple(value.shape[nb + tags.index(w)] if w in tags else 1 for w in want)
    return value.reshape(shape)


def _zero_like(x: np.ndarray) -> Any:
    if x.dtype != object:
        return 0.0
    return x.reshape(-1)[0] * 0 if is_flint(x) else Fraction(0)


def _masked_max(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``max`` over the last axis of the non-negative ``x`` where ``mask`` holds (0 where it never does)."""
    return max_last(np.where(mask, x, _zero_like(x)))


def _visitation_mean(one_minus_gamma: np.ndarray, rho: np.ndarray, per_state: np.ndarray) -> np.ndarray:
    """``(1-gamma) sum_s rho[s] x[s]``: a per-state quantity averaged over a normalised discounted visitation."""
    return one_minus_gamma * sum_last(rho * per_state)


def statement_terms(ev: Evaluation, *, native: bool = False) -> StatementTerms:
    """Assemble every statement quantity from an :class:`~toymdp.mdp.evaluation.Evaluation`.

    An exact evaluation computed on FLINT rationals is assembled on them; the values are converted
    to fractions unless ``native=True`` (then ``rational`` is ``flint.fmpq``: what
    :func:`toymdp.checking.checks.check_all` uses to decide the statements in C).
    """
    if ev.flint is not None:
        terms = _statement_terms(ev.flint.evaluation, ev.flint.mdp, ev.flint.family, FLINT.fmpq)
        if native:
            return terms
        values = {k: (from_flint(np.asarray(v)), tags) for k, (v, tags) in terms.values.items()}
        return StatementTerms(values, terms.missing, terms.exact, terms.batch_shape, terms.num_renderers)
    inst = ev.instance
    return _statement_terms(ev, inst.mdp, inst.family)


def exact_statement_terms(instance: Instance) -> StatementTerms:
    """The exact terms of ``instance`` (float or exact) on FLINT rationals (``rational`` is ``flint.fmpq``):
    for a float instance, the values of ``statement_terms(evaluate(instance.to_exact()), native=True)``,
    computed from each float's exact value with no :class:`fractions.Fraction` built (needs python-flint)."""
    return flint_statement_terms(flint_evaluation(instance))


def flint_statement_terms(flint: FlintForm) -> StatementTerms:
    """The terms of an evaluation on FLINT rationals (:func:`toymdp.mdp.evaluation.flint_evaluation`), kept as ``flint.fmpq``."""
    return _statement_terms(flint.evaluation, flint.mdp, flint.family, FLINT.fmpq, exact=True)


def _statement_terms(
    ev: Evaluation, mdp: Any, fam: Any, rational: type = Fraction, *, exact: bool | None = None
) -> StatementTerms:
    """The terms of ``ev`` on the arrays ``mdp`` and ``fam``; ``exact`` (default ``ev.exact``) says whether they are
    exact rationals (an evaluation on FLINT rationals of a float instance is)."""
    exact = ev.exact if exact is None else exact
    inst = ev.instance
    base, new = ev.pi, ev.pi_tilde
    train = list(fam.train)
    held_out = [k for k in range(fam.num_renderers) if k not in fam.train]
    gamma = np.asarray(mdp.gamma)
    one_minus_gamma = np.asarray(1 - gamma)
    p = fam.test_weights

    # T1c (CPO): the base policy's advantage of the new actions, per state.
    a_bar = engine.expected_advantage(base.A, new.sigma)  # (..., K, S)
    tv_states = tv(base.sigma, new.sigma)  # (..., K, S)
    tv_visits = sum_last(base.rho * tv_states)
    alpha_vis = one_minus_gamma[..., None] * tv_visits

    # Reachability: rho > 0, decided from zero patterns (engine.visitation_support).
    rho0_k, gamma_k = mdp.rho0[..., None, :], gamma[..., None]
    visited_base = engine.visitation_support(mdp.P, gamma_k, rho0_k, base.sigma).any(axis=-2)  # (..., S)
    visited_new = engine.visitation_support(mdp.P, gamma_k, rho0_k, new.sigma).any(axis=-2)
    visited_any = visited_base | visited_new
    R_state_base, R_state_new = state_robustness(base.sigma), state_robustness(new.sigma)  # (..., S)
    tv_train = tv_states[..., train, :]  # (..., T, S)

    # Visitation-weighted forms: the test-weighted mixture of the base policy's visitations.
    rho_mix = (p[..., :, None] * base.rho).sum(axis=-2)  # (..., S)

    # Visitation-weighted statements (G1v, G1vr, C1v). pair_tv[..., j, k, s] = TV(pi_{f_j}[s], pi_{f_k}[s]).
    pair_tv_base, pair_tv_new = pairwise_tv(base.sigma), pairwise_tv(new.sigma)  # (..., K, K, S)
    rho_target = base.rho[..., :, None, :]  # pi acting under the target renderer j
    g_jk, g_f = one_minus_gamma[..., None, None], one_minus_gamma[..., None]
    q_span_base = engine.q_span(base.Q)[..., None, :, :]  # span_a Q_{pi_{f_k}}[s, .] on the base renderer k

    values: dict[str, tuple[Any, tuple[str, ...]]] = {
        "gamma": (gamma, ()),
        "r_min": (min_last(min_last(mdp.r)), ()),
        "r_max": (max_last2(mdp.r), ()),
        # per renderer f: base pi, new pi~
        "eta_base": (base.eta, ("f",)),
        "eta_new": (new.eta, ("f",)),
        "pdl_sum": (sum_last(new.rho * a_bar), ("f",)),
        "L": (ev.L, ("f",)),
        "eps_f": (base.eps_per_renderer, ("f",)),
        "eps_f_new": (new.eps_per_renderer, ("f",)),
        "alpha": (ev.alpha, ("f",)),
        "alpha_vis": (alpha_vis, ("f",)),
        "Rv_f": (_visitation_mean(g_f, base.rho, pair_tv_base[..., :, train, :].max(axis=-2)), ("f",)),
        "Rv_f_new": (_visitation_mean(g_f, base.rho, pair_tv_new[..., :, train, :].max(axis=-2)), ("f",)),
        "Dv_f": (_visitation_mean(g_f, base.rho, tv_train.max(axis=-2)[..., None, :]), ("f",)),
        "epst": (max_last(np.abs(a_bar)), ("f",)),
        "tv_visits": (tv_visits, ("f",)),
        # the family
        "R_pi": (base.R, ()),
        "R_new": (new.R, ()),
        "D_train": (ev.D_train, ()),
        "eta_test_new": (new.eta_test, ()),
        "L_avg": (sum_last(p * ev.L), ()),
        "eps": (base.eps, ()),
        "eps_new": (new.eps, ()),
        "eta_test": (base.eta_test, ()),
        "eta_train": (base.eta_train, ()),
        "R_pi_reach": (_masked_max(R_state_base, visited_base), ()),
        "R_new_reach": (_masked_max(R_state_new, visited_base), ()),
        "D_train_reach": (max_last(_masked_max(tv_train, visited_base[..., None, :])), ()),
        "R_pi_reach_any": (_masked_max(R_state_base, visited_any), ()),
        "R_new_reach_any": (_masked_max(R_state_new, visited_any), ()),
        "D_train_reach_any": (max_last(_masked_max(tv_train, visited_any[..., None, :])), ()),
        "R_pi_vis": (one_minus_gamma * sum_last(rho_mix * R_state_base), ()),
        "R_new_vis": (one_minus_gamma * sum_last(rho_mix * R_state_new), ()),
        "D_train_vis": (max_last(alpha_vis[..., train]), ()),
        # pairs of renderers j (target), k (base) of the base policy pi
        "eta_j": (base.eta, ("j",)),
        "eta_k": (base.eta, ("k",)),
        "eps_j": (base.eps_per_renderer, ("j",)),
        "eps_k": (base.eps_per_renderer, ("k",)),
        "span_Q": (max_last(engine.q_span(base.Q)), ("k",)),
        "L_cross": (
            engine.surrogate(
                base.eta[..., None, :],
                base.rho[..., None, :, :],
                base.A[..., None, :, :, :],
                base.sigma[..., :, None, :, :],
            ),
            ("j", "k"),
        ),
        "tv_span_visits": (sum_last(rho_target * pair_tv_base * q_span_base), ("j", "k")),
        "Rv_jk": (_visitation_mean(g_jk, rho_target, pair_tv_base), ("j", "k")),
    }
    # C1v's penalty: p-weighted sum of C1v.f's penalty, evaluated from its one expression.
    per_renderer = {
        n: _layout(np.asarray(values[n][0]), values[n][1], C1v_F.indices, C1v_F.id, n) for n in C1v_F.quantity_names
    }
    values["penalty_v_avg"] = (
        sum_last(p * C1v_F.penalty_value(per_renderer, exact=exact, rational=rational)),
        (),
    )
    missing = {}
    if held_out:
        values["D_test"] = (max_last(ev.alpha[..., held_out]), ())
    else:
        missing["D_test"] = "every renderer is a training renderer (no held-out renderer to measure D_test on)"
    return StatementTerms(values, missing, exact, inst.batch_shape, fam.num_renderers, rational)
