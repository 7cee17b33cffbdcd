"""The tightest valid bound on an instance: which proved statement says the most.

Two questions have several proved answers, none of which dominates the others everywhere:

* a **lower bound on the new policy's test return** ``eta_test(pi~)``: C1 (maxima, quadratic) or C1v
  (visitation-weighted, linear); the larger right-hand side is the tighter bound;
* an **upper bound on the rendering gap** ``max_{j != k} |eta_{f_j}(pi) - eta_{f_k}(pi)|``: G1, G1r, G1v or G1vr,
  each bound taken at its largest pair ``j != k``; the smaller is the tighter. (G1v <= G1vr <= G1r and G1v <= G1
  hold by construction, so G1v is always among the tightest; among the bounds that need no policy evaluation,
  G1vr is never weaker than G1r.)

Every value comes from the statement's own right-hand side (:meth:`theory.statements.Statement.evaluate`) on
the quantities of :mod:`toymdp.mdp.statement_terms`; nothing is recomputed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from theory.registry import get_statement

from ..mdp.statement_terms import StatementTerms

__all__ = ["LABELS", "QUESTIONS", "TightestBounds", "TightestTally", "tightest_bounds"]

#: question -> (statement IDs compared, True when larger is tighter)
QUESTIONS: dict[str, tuple[tuple[str, ...], bool]] = {
    "lower_bound_on_eta_test_new": (("C1", "C1v"), True),
    "upper_bound_on_rendering_gap": (("G1", "G1r", "G1v", "G1vr"), False),
}

#: question -> what is bounded, in words
LABELS = {
    "lower_bound_on_eta_test_new": "lower bound on eta_test(pi~) (larger is tighter)",
    "upper_bound_on_rendering_gap": "upper bound on the rendering gap max_{j!=k} |eta_j(pi) - eta_k(pi)| (smaller is tighter)",
}

#: Relative tolerance under which two float bounds count as equally tight (the float engine's round-off).
TIE = 1e-9


@dataclass(frozen=True)
class TightestBounds:
    """Per question: each statement's bound per instance, and which statements attain the tightest one.

    ``bounds[question][id]`` has the batch shape (float, or exact fractions); ``defined[question]`` is False where
    the question has no answer (the rendering gap with a single renderer). ``best[question][id]`` is True where the
    statement's bound is the tightest (ties within :data:`TIE` relative count for every statement attaining it).
    """

    bounds: dict[str, dict[str, np.ndarray]]
    defined: dict[str, np.ndarray]
    best: dict[str, dict[str, np.ndarray]]

    def to_json(self) -> dict[str, Any]:
        """One instance: per question, each statement's bound (``"p/q"`` when exact) and the tightest IDs."""
        from ..mdp.numbers import format_number

        return {
            q: {
                "bounds": {sid: format_number(np.asarray(v)[()], _is_exact(v)) for sid, v in vals.items()},
                "tightest": self.winner(q),
            }
            if bool(np.asarray(self.defined[q])[()])
            else None
            for q, vals in self.bounds.items()
        }

    def winner(self, question: str, index: tuple[int, ...] = ()) -> list[str]:
        """The IDs attaining the tightest bound on instance ``index`` (empty where undefined)."""
        if not bool(np.asarray(self.defined[question])[index]):
            return []
        return [sid for sid, b in self.best[question].items() if bool(np.asarray(b)[index])]


def _is_exact(v: Any) -> bool:
    return np.asarray(v).dtype == object


def _bound(sid: str, terms: StatementTerms) -> tuple[np.ndarray, np.ndarray]:
    """The statement's right-hand side per instance (pair statements: the largest over pairs j != k) and where defined."""
    st = get_statement(sid)
    rhs = st.evaluate(terms.for_statement(st), exact=terms.exact, rational=terms.rational).rhs
    K = terms.num_renderers
    shape = terms.batch_shape + (K,) * len(st.indices)
    rhs = np.broadcast_to(np.asarray(rhs, dtype=object if terms.exact else float), shape)
    if st.indices != ("j", "k"):
        return rhs, np.ones(terms.batch_shape, dtype=bool)
    off = [j * K + k for j in range(K) for k in range(K) if j != k]
    if not off:
        return np.zeros(terms.batch_shape, dtype=rhs.dtype), np.zeros(terms.batch_shape, dtype=bool)
    return rhs.reshape(terms.batch_shape + (K * K,))[..., off].max(axis=-1), np.ones(terms.batch_shape, dtype=bool)


def tightest_bounds(terms: StatementTerms, questions: tuple[str, ...] | None = None) -> TightestBounds:
    """Which statement gives the tightest bound, per instance of ``terms`` (one instance or a batch)."""
    bounds: dict[str, dict[str, Any]] = {}
    defined: dict[str, np.ndarray] = {}
    best: dict[str, dict[str, np.ndarray]] = {}
    for question in questions or tuple(QUESTIONS):
        ids, larger_is_tighter = QUESTIONS[question]
        values = {}
        for sid in ids:
            values[sid], ok = _bound(sid, terms)
        stack = np.stack([values[sid] for sid in ids])
        top = stack.max(axis=0) if larger_is_tighter else stack.min(axis=0)
        if terms.exact:
            tol: Any = 0
        else:
            tol = TIE * (1 + np.abs(top))
        best[question] = {
            sid: np.asarray((values[sid] >= top - tol) if larger_is_tighter else (values[sid] <= top + tol), dtype=bool)
            & ok
            for sid in ids
        }
        bounds[question], defined[question] = values, ok
    return TightestBounds(bounds, defined, best)


@dataclass
class TightestTally:
    """Counts over many instances: per question, the instances compared and how often each statement is tightest.

    ``best`` counts ties for every statement attaining the tightest bound; ``sole_best`` only strict winners.
    """

    instances: dict[str, int]
    best: dict[str, dict[str, int]]
    sole_best: dict[str, dict[str, int]]

    @classmethod
    def empty(cls, questions: tuple[str, ...] | None = None) -> TightestTally:
        qs = questions or tuple(QUESTIONS)
        return cls(
            {q: 0 for q in qs},
            {q: dict.fromkeys(QUESTIONS[q][0], 0) for q in qs},
            {q: dict.fromkeys(QUESTIONS[q][0], 0) for q in qs},
        )

    def record(self, result: TightestBounds) -> None:
        for q in self.instances:
            ok = np.asarray(result.defined[q], dtype=bool)
            self.instances[q] += int(ok.sum())
            attained = {sid: np.asarray(b, dtype=bool) & ok for sid, b in result.best[q].items()}
            alone = sum(a.astype(int) for a in attained.values()) == 1
            for sid, a in attained.items():
                self.best[q][sid] += int(a.sum())
                self.sole_best[q][sid] += int((a & alone).sum())

    def to_json(self) -> dict[str, Any]:
        return {
            q: {
                "statements": list(QUESTIONS[q][0]),
                "instances": self.instances[q],
                "best": dict(self.best[q]),
                "sole_best": dict(self.sole_best[q]),
            }
            for q in self.instances
        }
