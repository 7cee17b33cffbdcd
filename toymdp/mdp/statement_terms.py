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

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any

import numpy as np

from common.arrays import max_last, max_last2, min_last, sum_last
from theory.quantities import pairwise_tv, state_robustness, tv
from theory.statements import C1v_F, Statement

from . import engine
from .evaluation import Evaluation, ExactRows, FlintForm, LazyEvaluation, exact_arrays
from .model import Instance
from .numbers import FLINT, from_flint, is_flint

__all__ = [
    "NotApplicableError",
    "StatementTerms",
    "statement_terms",
    "exact_statement_terms",
    "exact_rows_statement_terms",
    "flint_statement_terms",
]


class NotApplicableError(ValueError):
    """A statement needs a quantity this instance does not define (e.g. D_test without held-out renderers)."""


@dataclass(frozen=True, eq=False)
class StatementTerms:
    """Every quantity of :data:`~theory.statements.QUANTITIES` for one evaluation (single or batch)."""

    values: Mapping[str, tuple[Any, tuple[str, ...]]]  #: name -> (array, renderer indices), computed when first read
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
    """The exact terms of ``instance`` (float or exact), each quantity computed when first read.

    With python-flint (:func:`~toymdp.mdp.numbers.flint_enabled`) they are FLINT rationals (``rational`` is
    ``flint.fmpq``), for a float instance the values of ``statement_terms(evaluate(instance.to_exact()),
    native=True)`` computed from each float's exact value with no :class:`fractions.Fraction` built; without it,
    fractions of ``instance.to_exact()``. Deciding only the rendering-gap statements (G1, G1v, ...) evaluates only
    the base policy."""
    mdp, family, pi, pi_tilde, rational = exact_arrays(instance)
    ev = LazyEvaluation(instance, mdp, family, pi, pi_tilde, exact=True)
    return _statement_terms(ev, mdp, family, rational, exact=True)


def exact_rows_statement_terms(exact_rows: ExactRows, rows: Iterable[int]) -> StatementTerms:
    """The exact terms of the instances ``rows`` of an :class:`~toymdp.mdp.evaluation.ExactRows` batch, each quantity
    computed when first read (as :func:`exact_statement_terms` of those instances gives them)."""
    ev, mdp, family = exact_rows.evaluation(np.asarray(list(rows), dtype=np.int64))
    return _statement_terms(ev, mdp, family, exact_rows.rational, exact=True)


def flint_statement_terms(flint: FlintForm) -> StatementTerms:
    """The terms of an evaluation on FLINT rationals (:func:`toymdp.mdp.evaluation.flint_evaluation`), kept as ``flint.fmpq``."""
    return _statement_terms(flint.evaluation, flint.mdp, flint.family, FLINT.fmpq, exact=True)


def _statement_terms(
    ev: Evaluation | LazyEvaluation, mdp: Any, fam: Any, rational: type = Fraction, *, exact: bool | None = None
) -> StatementTerms:
    """The terms of ``ev`` on the arrays ``mdp`` and ``fam``; ``exact`` (default ``ev.exact``) says whether they are
    exact rationals (an evaluation on FLINT rationals of a float instance is).

    Each quantity, and each intermediate result, is computed when first read (:class:`_LazyValues`): deciding a
    few statements computes only their quantities; with a :class:`~toymdp.mdp.evaluation.LazyEvaluation`, the
    rendering-gap statements never evaluate the new policy.
    """
    exact = ev.exact if exact is None else exact
    inst = ev.instance
    train = list(fam.train)
    held_out = [k for k in range(fam.num_renderers) if k not in fam.train]
    gamma = np.asarray(mdp.gamma)
    one_minus_gamma = np.asarray(1 - gamma)
    p = fam.test_weights
    g_jk, g_f = one_minus_gamma[..., None, None], one_minus_gamma[..., None]
    rho0_k, gamma_k = mdp.rho0[..., None, :], gamma[..., None]
    # Intermediate results, each computed once, on first use.
    once = cache  # functools.cache of a function of no arguments: it runs on the first call only
    base = lambda: ev.pi  # noqa: E731
    new = lambda: ev.pi_tilde  # noqa: E731
    # T1c (CPO): the base policy's advantage of the new actions, per state.
    a_bar = once(lambda: engine.expected_advantage(base().A, new().sigma))  # (..., K, S)
    tv_states = once(lambda: tv(base().sigma, new().sigma))  # (..., K, S)
    tv_visits = once(lambda: sum_last(base().rho * tv_states()))
    alpha_vis = once(lambda: one_minus_gamma[..., None] * tv_visits())
    # Reachability: rho > 0, decided from zero patterns (engine.visitation_support).
    visited_base = once(
        lambda: engine.visitation_support(mdp.P, gamma_k, rho0_k, base().sigma).any(axis=-2)
    )  # (..., S)
    visited_new = once(lambda: engine.visitation_support(mdp.P, gamma_k, rho0_k, new().sigma).any(axis=-2))
    visited_any = once(lambda: visited_base() | visited_new())
    R_state_base = once(lambda: state_robustness(base().sigma))  # (..., S)
    R_state_new = once(lambda: state_robustness(new().sigma))
    tv_train = once(lambda: tv_states()[..., train, :])  # (..., T, S)
    # Visitation-weighted forms: the test-weighted mixture of the base policy's visitations.
    rho_mix = once(lambda: (p[..., :, None] * base().rho).sum(axis=-2))  # (..., S)
    # Visitation-weighted statements (G1v, G1vr, C1v). pair_tv[..., j, k, s] = TV(pi_{f_j}[s], pi_{f_k}[s]).
    pair_tv_base = once(lambda: pairwise_tv(base().sigma))  # (..., K, K, S)
    pair_tv_new = once(lambda: pairwise_tv(new().sigma))
    rho_target = once(lambda: base().rho[..., :, None, :])  # pi acting under the target renderer j
    q_span = once(lambda: engine.q_span(base().Q))  # span_a Q_{pi_{f_k}}[s, .] on the base renderer k
    L = once(lambda: ev.L)
    alpha = once(lambda: ev.alpha)

    builders: dict[str, tuple[Callable[[], Any], tuple[str, ...]]] = {
        "gamma": (lambda: gamma, ()),
        "r_min": (lambda: min_last(min_last(mdp.r)), ()),
        "r_max": (lambda: max_last2(mdp.r), ()),
        # per renderer f: base pi, new pi~
        "eta_base": (lambda: base().eta, ("f",)),
        "eta_new": (lambda: new().eta, ("f",)),
        "pdl_sum": (lambda: sum_last(new().rho * a_bar()), ("f",)),
        "L": (L, ("f",)),
        "eps_f": (lambda: base().eps_per_renderer, ("f",)),
        "eps_f_new": (lambda: new().eps_per_renderer, ("f",)),
        "alpha": (alpha, ("f",)),
        "alpha_vis": (alpha_vis, ("f",)),
        "Rv_f": (lambda: _visitation_mean(g_f, base().rho, pair_tv_base()[..., :, train, :].max(axis=-2)), ("f",)),
        "Rv_f_new": (lambda: _visitation_mean(g_f, base().rho, pair_tv_new()[..., :, train, :].max(axis=-2)), ("f",)),
        "Dv_f": (lambda: _visitation_mean(g_f, base().rho, tv_train().max(axis=-2)[..., None, :]), ("f",)),
        "epst": (lambda: max_last(np.abs(a_bar())), ("f",)),
        "tv_visits": (tv_visits, ("f",)),
        # the family
        "R_pi": (lambda: base().R, ()),
        "R_new": (lambda: new().R, ()),
        "D_train": (lambda: ev.D_train, ()),
        "eta_test_new": (lambda: new().eta_test, ()),
        "L_avg": (lambda: sum_last(p * L()), ()),
        "eps": (lambda: base().eps, ()),
        "eps_new": (lambda: new().eps, ()),
        "eta_test": (lambda: base().eta_test, ()),
        "eta_train": (lambda: base().eta_train, ()),
        "R_pi_reach": (lambda: _masked_max(R_state_base(), visited_base()), ()),
        "R_new_reach": (lambda: _masked_max(R_state_new(), visited_base()), ()),
        "D_train_reach": (lambda: max_last(_masked_max(tv_train(), visited_base()[..., None, :])), ()),
        "R_pi_reach_any": (lambda: _masked_max(R_state_base(), visited_any()), ()),
        "R_new_reach_any": (lambda: _masked_max(R_state_new(), visited_any()), ()),
        "D_train_reach_any": (lambda: max_last(_masked_max(tv_train(), visited_any()[..., None, :])), ()),
        "R_pi_vis": (lambda: one_minus_gamma * sum_last(rho_mix() * R_state_base()), ()),
        "R_new_vis": (lambda: one_minus_gamma * sum_last(rho_mix() * R_state_new()), ()),
        "D_train_vis": (lambda: max_last(alpha_vis()[..., train]), ()),
        # pairs of renderers j (target), k (base) of the base policy pi
        "eta_j": (lambda: base().eta, ("j",)),
        "eta_k": (lambda: base().eta, ("k",)),
        "eps_j": (lambda: base().eps_per_renderer, ("j",)),
        "eps_k": (lambda: base().eps_per_renderer, ("k",)),
        "span_Q": (lambda: max_last(q_span()), ("k",)),
        "L_cross": (
            lambda: engine.surrogate(
                base().eta[..., None, :],
                base().rho[..., None, :, :],
                base().A[..., None, :, :, :],
                base().sigma[..., :, None, :, :],
            ),
            ("j", "k"),
        ),
        "tv_span_visits": (
            lambda: sum_last(rho_target() * pair_tv_base() * q_span()[..., None, :, :]),
            ("j", "k"),
        ),
        "Rv_jk": (lambda: _visitation_mean(g_jk, rho_target(), pair_tv_base()), ("j", "k")),
    }
    values = _LazyValues(builders)

    def penalty_v_avg() -> Any:
        """C1v's penalty: p-weighted sum of C1v.f's penalty, evaluated from its one expression."""
        per_renderer = {
            n: _layout(np.asarray(values[n][0]), values[n][1], C1v_F.indices, C1v_F.id, n) for n in C1v_F.quantity_names
        }
        return sum_last(p * C1v_F.penalty_value(per_renderer, exact=exact, rational=rational))

    builders["penalty_v_avg"] = (penalty_v_avg, ())
    missing = {}
    if held_out:
        builders["D_test"] = (lambda: max_last(alpha()[..., held_out]), ())
    else:
        missing["D_test"] = "every renderer is a training renderer (no held-out renderer to measure D_test on)"
    return StatementTerms(values, missing, exact, inst.batch_shape, fam.num_renderers, rational)


class _LazyValues(Mapping):
    """``name -> (value, renderer indices)``, each value computed on first read from ``builders`` (kept after)."""

    def __init__(self, builders: dict[str, tuple[Callable[[], Any], tuple[str, ...]]]):
        self._builders = builders
        self._done: dict[str, tuple[Any, tuple[str, ...]]] = {}

    def __getitem__(self, name: str) -> tuple[Any, tuple[str, ...]]:
        if name not in self._done:
            build, tags = self._builders[name]
            self._done[name] = (build(), tags)
        return self._done[name]

    def __contains__(self, name: object) -> bool:  # Mapping's own would compute the value
        return name in self._builders

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)
