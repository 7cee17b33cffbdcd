"""Decide the statements of :mod:`theory.statements` (and their variants) on rendering MDPs.

:func:`check_statement` and :func:`check_all` take an :class:`~toymdp.mdp.evaluation.Evaluation` (one
instance or a batch, either engine) and return a :class:`CheckResult` per statement: ``lhs``,
``rhs``, ``slack``, ``holds``, the tightness ratio, the ``vacuous`` flag and whether each result was
decided ``exact``-ly.

* **Exact engine**: every comparison is between fractions, with no tolerance.
* **Float engine**: a result whose slack exceeds the round-off tolerance ``ROUND_OFF * (1 + |lhs| +
  |rhs| + |penalty|)`` holds. Any other result (within round-off of failing, or failing) is
  re-decided exactly before it is reported: the instance is converted with
  :meth:`~toymdp.mdp.model.Instance.to_exact` (each float's exact binary value; the rounding residual of
  each stochastic row on its largest entry), evaluated with the exact engine and decided with no
  tolerance. An identity (PDL) computed in floats can only be "equal within round-off"; a float
  difference beyond round-off is re-decided exactly, and ``--exact`` decides equality itself.

Result shapes: the evaluation's batch shape, plus a trailing renderer axis ``K`` for statements over
every renderer (PDL, T1, T1c, L1, C1v.f) and for G2 (per target renderer ``j``, the worst base ``k``, kept
in ``pair``). Statements over every pair (G1, G1r, G1.eps, G1v, G1vr) report the worst pair ``j, k`` (in
``pair``, ``j != k`` when there are two renderers or more): ``lhs``, ``rhs``, ``slack`` and ``holds`` at the smallest-slack pair, ``vacuous`` when the bound is
vacuous at some pair, and ``tightness`` the largest ratio over all pairs (for G2 over the bases ``k``).
In C1, T1 and T1c the base policy is ``instance.pi`` and the new policy ``instance.pi_tilde``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from theory.registry import get_statement
from theory.statements import STATEMENTS, Statement, tightness_ratio

from ..mdp.evaluation import Evaluation, ExactRows
from ..mdp.numbers import exact_to_float, format_number, from_flint
from ..mdp.statement_terms import (
    NotApplicableError,
    StatementTerms,
    exact_rows_statement_terms,
    exact_statement_terms,
    statement_terms,
)

__all__ = [
    "ROUND_OFF",
    "CheckResult",
    "NotApplicableError",
    "check_statement",
    "check_all",
    "default_ids",
    "statements_to_json",
]

#: Relative round-off tolerance of float decisions (the float engine's errors are ~1e-13 relative).
ROUND_OFF = 1e-9

#: Pair statements reported per target renderer j (worst base k) rather than as one worst pair.
_PER_TARGET = {"G2"}


@dataclass(frozen=True, eq=False)
class CheckResult:
    """A statement decided on an instance or a batch (see the module docstring for shapes).

    ``tightness`` is NaN (float) or ``None`` (exact) where the ratio is undefined (zero penalty or
    zero right-hand side, or an identity). ``pair`` holds renderer indices ``[..., (j, k)]`` for pair
    statements and is ``None`` otherwise.
    """

    statement_id: str
    lhs: np.ndarray
    rhs: np.ndarray
    slack: np.ndarray
    holds: np.ndarray
    tightness: np.ndarray
    vacuous: np.ndarray
    exact: np.ndarray
    pair: np.ndarray | None = None

    @property
    def statement(self) -> Statement:
        return get_statement(self.statement_id)

    @property
    def trailing_axes(self) -> int:
        """Axes after the batch shape: 1 for per-renderer results, else 0."""
        return 1 if _reduction(self.statement) in ("none_f", "worst_base") else 0

    def _over_trailing(self, x: np.ndarray, fn) -> np.ndarray:
        return fn(x, axis=-1) if self.trailing_axes else x

    def instance_holds(self) -> np.ndarray:
        """Per instance: the statement holds for every renderer (or pair)."""
        return np.asarray(self._over_trailing(np.asarray(self.holds, dtype=bool), np.all))

    def instance_slack(self) -> np.ndarray:
        """Per instance: the smallest slack over renderers."""
        return self._over_trailing(self.slack, np.min)

    def instance_exact(self) -> np.ndarray:
        return np.asarray(self._over_trailing(np.asarray(self.exact, dtype=bool), np.all))

    def to_json(self) -> Any:
        """JSON of a single instance: a dict, or a list of dicts over renderers (numbers as ``"p/q"`` when exact)."""
        if self.lhs.ndim != self.trailing_axes:
            raise ValueError("to_json describes one instance; check a single instance or index the batch")

        exact_engine = self.lhs.dtype == object
        num = lambda x: format_number(x, exact_engine)  # noqa: E731

        def entry(idx: tuple[int, ...]) -> dict[str, Any]:
            t = self.tightness[idx]
            out = {
                "lhs": num(self.lhs[idx]),
                "rhs": num(self.rhs[idx]),
                "slack": num(self.slack[idx]),
                "holds": bool(self.holds[idx]),
                "tightness": None if t is None or (not exact_engine and np.isnan(t)) else num(t),
                "vacuous": bool(self.vacuous[idx]),
                "exact": bool(self.exact[idx]),
            }
            if self.pair is not None:
                j, k = (int(v) for v in self.pair[idx])
                out["pair"] = [j, k]
            return out

        if self.trailing_axes:
            return [dict(renderer=k, **entry((k,))) for k in range(self.lhs.shape[-1])]
        return entry(())


def default_ids() -> list[str]:
    """The statements of THEORY.md in order, each followed by its parts (G1.eps, G1.test)."""
    out = []
    for sid, s in STATEMENTS.items():
        out += [sid, *s.parts]
    return out


def _reduction(stmt: Statement) -> str:
    if stmt.indices == ("j", "k"):
        return "worst_base" if stmt.id in _PER_TARGET or stmt.parent in _PER_TARGET else "worst_pair"
    return "none_f" if stmt.indices == ("f",) else "none"


def _gather(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.take_along_axis(x, idx[..., None], axis=-1)[..., 0]


def _raw_result(stmt: Statement, terms: StatementTerms) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Evaluate and reduce one statement: arrays ``lhs, rhs, slack, scale, tightness, vacuous`` and ``pair``; exact
    numbers in the terms' own type (FLINT rationals stay so, :class:`_Pending` converts them)."""
    exact = terms.exact
    values = terms.for_statement(stmt)
    out = stmt.evaluate(values, exact=exact, rational=terms.rational)
    K = terms.num_renderers
    shape = terms.batch_shape + (K,) * len(stmt.indices)
    arrays = {
        "lhs": out.lhs,
        "rhs": out.rhs,
        "slack": out.slack,
        "scale": out.scale,
        "tnum": out.tightness_numerator,
        "tden": out.tightness_denominator,
    }
    if out.trivial is not None:
        arrays["trivial"] = out.trivial
    arrays = {k: _broadcast(v, shape, exact) for k, v in arrays.items()}
    # FLINT rationals stay so through the ratios and reductions (C comparisons); only the reduced results
    # become fractions, at the end.
    tnum, tden = arrays.pop("tnum"), arrays.pop("tden")
    tight = (
        np.array(tightness_ratio(tnum, tden, exact=exact, rational=terms.rational))
        if stmt.tightness_expression
        else None
    )
    if tight is not None and not exact:
        # A denominator within round-off of 0 makes the ratio noise: undefined, like an exact 0.
        tight[np.abs(tden) <= ROUND_OFF * (1 + arrays["scale"])] = np.nan
    if tight is None:
        tight = _broadcast(None if exact else np.nan, arrays["lhs"].shape, exact)
    trivial = arrays.pop("trivial", None)
    if trivial is None or stmt.relation == "==":
        vacuous = np.zeros(arrays["lhs"].shape, dtype=bool)
    else:
        vacuous = np.array(
            (arrays["rhs"] < trivial) if stmt.relation == ">=" else (arrays["rhs"] > trivial), dtype=bool
        )
    pair = None
    how = _reduction(stmt)
    # Pair statements: holds and slack at the smallest-slack pair (decided over all pairs); vacuous when the
    # bound is vacuous at some pair; the tightness ratio at the pair where it is largest (at the
    # smallest-slack pair it would be under-reported).
    if how == "worst_pair":
        # Pairs j != k (a renderer against itself is a gap of 0); with one renderer, the pair (0, 0).
        pairs = np.array([j * K + k for j in range(K) for k in range(K) if j != k] or [0], dtype=np.int64)
        flatten = lambda v: v.reshape(v.shape[:-2] + (K * K,))[..., pairs]  # noqa: E731
        vacuous = flatten(vacuous).any(axis=-1)
        flat = {k: flatten(v) for k, v in arrays.items()}
        idx = np.asarray(np.argmin(flat["slack"], axis=-1), dtype=np.int64)
        arrays = {k: _gather(v, idx) for k, v in flat.items()}
        tight = _largest_ratio(flatten(tight), exact)
        idx = pairs[idx]
        pair = np.stack([idx // K, idx % K], axis=-1)
    elif how == "worst_base":
        idx = np.asarray(np.argmin(arrays["slack"], axis=-1), dtype=np.int64)
        arrays = {k: _gather(v, idx) for k, v in arrays.items()}
        tight = _largest_ratio(tight, exact)
        vacuous = vacuous.any(axis=-1)
        pair = np.stack(np.broadcast_arrays(np.arange(K), idx), axis=-1)
    arrays["tightness"] = tight
    arrays["vacuous"] = np.array(vacuous, dtype=bool)
    return arrays, pair


def _largest_ratio(tight: np.ndarray, exact: bool) -> np.ndarray:
    """Largest defined tightness ratio over the last axis; undefined (NaN / ``None``) where none is defined."""
    if not exact:
        defined = ~np.isnan(tight)
        best = np.where(defined, tight, -np.inf).max(axis=-1)
        return np.where(defined.any(axis=-1), best, np.nan)
    out = np.empty(tight.shape[:-1], dtype=object)
    for idx in np.ndindex(*out.shape):
        ratios = [t for t in tight[idx] if t is not None]
        out[idx] = max(ratios) if ratios else None
    return out


def _broadcast(v: Any, shape: tuple[int, ...], exact: bool) -> np.ndarray:
    if exact:
        arr = np.empty(shape, dtype=object)
        arr[...] = v
        return arr
    return np.array(np.broadcast_to(np.asarray(v, dtype=float), shape))


class _Pending:
    """A float result being assembled: provisional arrays, then exact re-decisions patched in."""

    def __init__(self, stmt: Statement, terms: StatementTerms, *, floats: bool = False):
        """``floats``: an exact result's numbers become floats (each exact value rounded to nearest) once decided,
        else fractions."""
        self.stmt = stmt
        arrays, self.pair = _raw_result(stmt, terms)
        self.exact_engine = terms.exact
        self.scale = arrays.pop("scale")
        self.arrays = arrays
        slack = arrays["slack"]
        if self.exact_engine:
            self.holds = np.array(slack >= 0, dtype=bool)
            self.decided_exactly = np.ones(slack.shape, dtype=bool)
            self.near = self.fails = np.zeros(slack.shape, dtype=bool)
            # Decided on the exact numbers, then converted once: to floats (each exact value rounded to nearest, an
            # undefined ratio, None, to NaN) or to fractions.
            if floats:
                self.arrays = {k: exact_to_float(v) if k != "vacuous" else v for k, v in arrays.items()}
            elif terms.rational is not Fraction:
                self.arrays = {k: from_flint(v) for k, v in arrays.items()}
            return
        tol = ROUND_OFF * (1 + self.scale)
        self.holds = np.array(slack >= -tol if stmt.relation == "==" else slack >= 0, dtype=bool)
        self.decided_exactly = np.zeros(slack.shape, dtype=bool)
        if stmt.relation == "==":
            self.near = np.zeros(slack.shape, dtype=bool)
            self.fails = slack < -tol
        else:
            self.near = np.abs(slack) <= tol
            self.fails = slack < -tol

    def _per_instance(self, x: np.ndarray) -> np.ndarray:
        trailing = 1 if _reduction(self.stmt) in ("none_f", "worst_base") else 0
        return x.any(axis=-1) if trailing else x

    def instances_to_redecide(self, max_violations: int | None) -> set[tuple[int, ...]]:
        """Batch indices to re-decide: every near tie, and the worst ``max_violations`` clear failures."""
        near = self._per_instance(self.near)
        fails = self._per_instance(self.fails) & ~near
        chosen = {tuple(int(i) for i in idx) for idx in np.argwhere(near)}
        failing = [tuple(int(i) for i in idx) for idx in np.argwhere(fails)]
        if max_violations is not None and len(failing) > max_violations:
            worst = self._per_instance_slack()
            failing.sort(key=lambda idx: worst[idx])
            failing = failing[:max_violations]
        return chosen | set(failing)

    def _per_instance_slack(self) -> np.ndarray:
        s = self.arrays["slack"]
        trailing = 1 if _reduction(self.stmt) in ("none_f", "worst_base") else 0
        return s.min(axis=-1) if trailing else s

    def patch(self, idx: tuple[int, ...], exact: CheckResult) -> None:
        for name in ("lhs", "rhs", "slack", "tightness"):
            self.arrays[name][idx] = exact_to_float(getattr(exact, name))
        self.arrays["vacuous"][idx] = exact.vacuous
        self.holds[idx] = exact.holds
        self.decided_exactly[idx] = True
        if self.pair is not None:
            self.pair[idx] = exact.pair

    def result(self) -> CheckResult:
        a = self.arrays
        return CheckResult(
            self.stmt.id,
            a["lhs"],
            a["rhs"],
            a["slack"],
            np.asarray(self.holds, dtype=bool),
            a["tightness"],
            a["vacuous"],
            self.decided_exactly,
            self.pair,
        )


def _redecide(evaluation: Evaluation, pending: dict[str, _Pending], todo: dict[tuple[int, ...], list[str]]) -> None:
    """Re-decide exactly, for each statement, the instances ``todo`` lists it for, and patch the results in.

    The instances are converted with ``to_exact`` (each float's exact value). Statements re-decided on the same
    instances share one lazy exact evaluation of those instances, which computes only the quantities they read;
    every policy is solved at most once per instance (:class:`~toymdp.mdp.evaluation.ExactRows`).
    """
    batch = evaluation.instance.batch_shape
    if len(batch) > 1:
        raise ValueError("exact re-decision needs a single instance or a batch with one axis; reshape the batch")
    if not batch:  # a single instance: one exact evaluation for every statement
        terms = exact_statement_terms(evaluation.instance)
        for sid in {sid for sids in todo.values() for sid in sids}:
            pending[sid].patch((), _Pending(pending[sid].stmt, terms, floats=True).result())
        return
    rows = sorted(todo)
    # One sub-batch converted at once: the same fractions as converting each instance (rows are independent).
    shared = ExactRows(evaluation.instance[np.array([i for (i,) in rows])])
    position = {idx: n for n, idx in enumerate(rows)}
    groups: dict[tuple[tuple[int, ...], ...], list[str]] = {}
    for sid in pending:
        mine = tuple(idx for idx in rows if sid in todo[idx])
        if mine:
            groups.setdefault(mine, []).append(sid)
    for mine, sids in groups.items():
        terms = exact_rows_statement_terms(shared, [position[idx] for idx in mine])
        for sid in sids:
            decided = _Pending(pending[sid].stmt, terms, floats=True).result()
            for n, idx in enumerate(mine):
                pending[sid].patch(idx, _index(decided, n))


def check_all(
    evaluation: Evaluation,
    ids: Iterable[str] | None = None,
    *,
    redecide_exactly: bool = True,
    max_violations: int | None = None,
    terms: StatementTerms | None = None,
    floats: bool = False,
) -> dict[str, CheckResult]:
    """Decide several statements (default: THEORY's eight and G1's parts) on one evaluation.

    Statements that do not apply to the instance (e.g. a variant needing a held-out renderer) are
    left out. With the float engine, near ties and failures are re-decided exactly (one exact
    evaluation per instance, shared by all statements); ``max_violations`` caps, per statement, the
    number of clear failures (beyond round-off) re-decided, worst first; the others stay float-decided
    (``exact`` False) and are counted as float violations by the caller. With the exact engine, ``floats=True``
    gives the numbers (``lhs, rhs, slack, tightness``) as floats, each exact value rounded to nearest, instead of
    fractions; the decisions are made on the exact numbers either way.
    """
    terms = terms or statement_terms(evaluation, native=True)
    pending: dict[str, _Pending] = {}
    for sid in list(ids) if ids is not None else default_ids():
        try:
            pending[sid] = _Pending(get_statement(sid), terms, floats=floats)
        except NotApplicableError:
            continue
    if redecide_exactly and not terms.exact:
        todo: dict[tuple[int, ...], list[str]] = {}
        for sid, p in pending.items():
            for idx in p.instances_to_redecide(max_violations):
                todo.setdefault(idx, []).append(sid)
        if todo:
            _redecide(evaluation, pending, todo)
    return {sid: p.result() for sid, p in pending.items()}


def _index(result: CheckResult, n: int) -> CheckResult:
    """Instance ``n`` of a batched result."""
    fields = ("lhs", "rhs", "slack", "holds", "tightness", "vacuous", "exact", "pair")
    picked: dict[str, Any] = {f: None if getattr(result, f) is None else getattr(result, f)[n] for f in fields}
    return CheckResult(result.statement_id, **picked)


def check_statement(statement_id: str, evaluation: Evaluation, *, redecide_exactly: bool = True) -> CheckResult:
    """Decide one statement, part or variant on an evaluation (see the module docstring).

    Raises :class:`~toymdp.mdp.statement_terms.NotApplicableError` when the instance lacks a quantity
    the statement needs.
    """
    get_statement(statement_id)  # a clear error for an unknown ID
    terms = statement_terms(evaluation, native=True)
    terms.for_statement(get_statement(statement_id))  # raises NotApplicableError
    return check_all(evaluation, [statement_id], redecide_exactly=redecide_exactly, terms=terms)[statement_id]


def statements_to_json(
    evaluation: Evaluation, ids: Iterable[str] | None = None, *, redecide_exactly: bool = True
) -> dict[str, Any]:
    """The ``statements`` record of ``repconv eval``: per ID, ``lhs, rhs, slack, holds`` (and tightness, vacuous)."""
    return {sid: r.to_json() for sid, r in check_all(evaluation, ids, redecide_exactly=redecide_exactly).items()}
