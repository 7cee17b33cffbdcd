r"""The statements of the theory, each written once as a sympy relation (IDs of docs/theory.md).

A :class:`Statement` relates two sympy expressions over named scalar **quantities** (``eta_new``,
``L``, ``eps_f``, ``alpha``, ``gamma``, ...; see :data:`QUANTITIES` for what each one means). Its LaTeX,
its vectorised float evaluator (``sympy.lambdify`` over numpy arrays) and its exact evaluator
(the same expression printed with :class:`fractions.Fraction` constants, evaluated on fractions or on
``object`` arrays of fractions) are all derived from that one object; nothing here is typed twice.
Statements built from others are built by substitution (C1 and G2 from T1, G1r from G1), so that
the code says how they are derived.

Kinds of statement (``relation``):

* ``'>='``, a lower bound ``lhs >= rhs = first_order - penalty`` (T1, T1c, C1, G2, G1.test);
* ``'<='``, an upper bound ``lhs <= rhs`` (L1, G1, G1r, G1.eps);
* ``'=='``, an identity (PDL).

Slack is ``lhs - rhs`` for a lower bound, ``rhs - lhs`` for an upper bound (>= 0 when it holds) and
``-|lhs - rhs|`` for an identity. The tightness ratio is ``(first_order - lhs) / penalty`` for a
lower bound with a penalty (1: tight; <= 0: the first-order term alone bounds it) and ``lhs / rhs``
for an upper bound (1: tight; 0: loose). A bound is **vacuous** when it says no more than every
instance satisfies anyway: a lower bound on a return below ``r_min / (1-gamma)``, an upper bound on
a difference of returns above ``(r_max - r_min) / (1-gamma)``, an upper bound on a TV above 1.

Every quantity is evaluated on one rendering MDP by :mod:`toymdp.mdp.statement_terms` (exactly, or in a
float64 batch) and estimated from samples by ``procgen_checks``; this module knows neither.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp
from sympy.printing.lambdarepr import LambdaPrinter
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

__all__ = [
    "PROVENANCE",
    "Quantity",
    "QUANTITIES",
    "Statement",
    "StatementEvaluation",
    "STATEMENTS",
    "PARTS",
    "trpo_penalty",
    "SMALLEST_RETURN",
    "LARGEST_RETURN",
    "RETURN_RANGE",
    "smallest_return",
    "largest_return",
    "return_range",
]

#: Provenance labels and what they mean (docs/theory.md keeps them).
PROVENANCE = {
    "standard": "a published result (Kakade & Langford 2002; Schulman et al. 2015; Achiam et al. 2017)",
    "reconstruction": "our reconstruction of the paper's statement (its full text was not available)",
    "own": "this project's own statement",
    "variant": "a modification the argument does not support, searched for counterexamples",
}


# --------------------------------------------------------------------------------------------
# Quantities: the named scalars the statements are written in.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quantity:
    """A named scalar of the theory: its sympy symbol, its LaTeX and its definition in words."""

    symbol: sp.Symbol
    latex: str
    meaning: str


QUANTITIES: dict[str, Quantity] = {}


def _quantity(name: str, latex: str, meaning: str, **assumptions: bool) -> sp.Symbol:
    symbol = sp.Symbol(name, real=True, **assumptions)
    QUANTITIES[name] = Quantity(symbol, latex, meaning)
    return symbol


_NN = dict(nonnegative=True)

gamma = _quantity("gamma", r"\gamma", "discount factor, 0 <= gamma < 1", **_NN)
r_min = _quantity("r_min", r"r_{\min}", "smallest reward min_{s,a} r[s,a]")
r_max = _quantity("r_max", r"r_{\max}", "largest reward max_{s,a} r[s,a]")

# One renderer f, base policy pi and new policy pi~ (T1, T1c, PDL, L1).
eta_base = _quantity("eta_base", r"\eta_f(\pi)", "return of pi under renderer f")
eta_new = _quantity("eta_new", r"\eta_f(\tilde\pi)", "return of pi~ under renderer f")
pdl_sum = _quantity(
    "pdl_sum",
    r"\sum_s \rho_{\tilde\pi_f}(s) \sum_a \tilde\pi_f(s,a) A_{\pi_f}(s,a)",
    "the new policy's visitation times the base policy's advantage of the new policy's actions",
)
L = _quantity("L", r"L_{\pi_f}(\tilde\pi_f)", "TRPO's first-order surrogate of pi~_f around pi_f")
eps_f = _quantity("eps_f", r"\epsilon_f(\pi)", "max_{s,a} |A_{pi_f}(s,a)|, over all states", **_NN)
alpha = _quantity("alpha", r"\alpha_f", "alpha_f(pi, pi~) = max_s TV(pi_f[s], pi~_f[s]), over all states", **_NN)
epst = _quantity("epst", r"\tilde\epsilon_f", "max_s |sum_a pi~_f[s,a] A_{pi_f}[s,a]| (CPO's epsilon)", **_NN)
tv_visits = _quantity(
    "tv_visits",
    r"\sum_s \rho_{\pi_f}(s)\, \mathrm{TV}(\pi_f(s), \tilde\pi_f(s))",
    "the base policy's unnormalised visitation times the per-state TV to the new policy",
    **_NN,
)

# The whole family (L1, C1, G1, G2).
R_pi = _quantity("R_pi", r"R(\pi)", "robustness term max_s max_{j,k} TV(pi_{f_j}[s], pi_{f_k}[s])", **_NN)
R_new = _quantity("R_new", r"R(\tilde\pi)", "robustness term of pi~", **_NN)
D_train = _quantity("D_train", r"D_{\mathrm{train}}", "max_s max_{k in T} TV(pi_{f_k}[s], pi~_{f_k}[s])", **_NN)
eta_test_new = _quantity("eta_test_new", r"\eta_{\mathrm{test}}(\tilde\pi)", "sum_k p_k eta_{f_k}(pi~)")
L_avg = _quantity("L_avg", r"\sum_k p_k L_{\pi_{f_k}}(\tilde\pi_{f_k})", "test-weighted surrogate")
eps = _quantity("eps", r"\epsilon(\pi)", "max_k eps_{f_k}(pi)", **_NN)
eta_test = _quantity("eta_test", r"\eta_{\mathrm{test}}(\pi)", "sum_k p_k eta_{f_k}(pi)")
eta_train = _quantity("eta_train", r"\eta_{\mathrm{train}}(\pi)", "sum_{k in T} q_k eta_{f_k}(pi)")

# Two renderers j, k of one policy pi (G1, G1r, G2).
eta_j = _quantity("eta_j", r"\eta_{f_j}(\pi)", "return of pi under renderer j")
eta_k = _quantity("eta_k", r"\eta_{f_k}(\pi)", "return of pi under renderer k")
span_Q = _quantity(
    "span_Q",
    r"\max_s \operatorname{span}_a Q_{\pi_{f_k}}(s, \cdot)",
    "max_s (max_a Q_{pi_{f_k}}[s,a] - min_a Q_{pi_{f_k}}[s,a]), over all states",
    **_NN,
)
L_cross = _quantity("L_cross", r"L_{\pi_{f_k}}(\pi_{f_j})", "surrogate of pi_{f_j} around pi_{f_k}")
eps_k = _quantity("eps_k", r"\epsilon_{f_k}(\pi)", "max_{s,a} |A_{pi_{f_k}}(s,a)|", **_NN)

# Visitation-weighted robustness (G1v, G1vr, C1v): expectations under a discounted visitation, which
# on-policy samples estimate without bias, instead of maxima over all states.
tv_span_visits = _quantity(
    "tv_span_visits",
    r"\sum_s \rho_{\pi_{f_j}}(s)\, \mathrm{TV}(\pi_{f_j}(s), \pi_{f_k}(s))\, \operatorname{span}_a Q_{\pi_{f_k}}(s, \cdot)",
    "sum_s rho_{pi_{f_j}}[s] TV(pi_{f_j}[s], pi_{f_k}[s]) span_a Q_{pi_{f_k}}[s, .]",
    **_NN,
)
Rv_jk = _quantity(
    "Rv_jk",
    r"R^v_{jk}(\pi)",
    "(1-gamma) sum_s rho_{pi_{f_j}}[s] TV(pi_{f_j}[s], pi_{f_k}[s]): expected per-state TV under the "
    "normalised discounted visitation of pi acting under f_j, in [0, 1]",
    **_NN,
)
Rv_f = _quantity("Rv_f", r"R^v_f(\pi)", "(1-gamma) sum_s rho_{pi_f}[s] max_{t in T} TV(pi_f[s], pi_t[s])", **_NN)
Rv_f_new = _quantity(
    "Rv_f_new",
    r"R^v_f(\tilde\pi)",
    "(1-gamma) sum_s rho_{pi_f}[s] max_{t in T} TV(pi~_f[s], pi~_t[s]) (the base policy's visitation)",
    **_NN,
)
Dv_f = _quantity("Dv_f", r"D^v_f", "(1-gamma) sum_s rho_{pi_f}[s] max_{t in T} TV(pi_t[s], pi~_t[s])", **_NN)
penalty_v_avg = _quantity(
    "penalty_v_avg",
    r"\sum_k p_k \frac{2 \gamma \tilde\epsilon_{f_k} \left(R^v_{f_k}(\pi) + R^v_{f_k}(\tilde\pi) + D^v_{f_k}\right)}{(1-\gamma)^2}",
    "sum_f p_f times C1v.f's penalty 2 gamma epst_f (Rv_f(pi) + Rv_f(pi~) + Dv_f) / (1-gamma)^2",
    **_NN,
)


# --------------------------------------------------------------------------------------------
# Shared pieces of formulas (each written once).
# --------------------------------------------------------------------------------------------


def trpo_penalty(eps_: sp.Expr, gamma_: sp.Expr, alpha_: sp.Expr) -> sp.Expr:
    """TRPO's Theorem 1 penalty ``4 eps gamma alpha^2 / (1 - gamma)^2``."""
    return 4 * eps_ * gamma_ * alpha_**2 / (1 - gamma_) ** 2


#: ``(r_max - r_min) / (1 - gamma)``: the largest possible difference of two returns, and (G1r) the
#: bound on ``span_a Q``.
RETURN_RANGE = (r_max - r_min) / (1 - gamma)
#: ``r_min / (1 - gamma)``: the smallest possible return.
SMALLEST_RETURN = r_min / (1 - gamma)
#: ``r_max / (1 - gamma)``: the largest possible return.
LARGEST_RETURN = r_max / (1 - gamma)

_RETURN_BOUNDS = {
    name: sp.lambdify((r_min, r_max, gamma), expr, modules="numpy")
    for name, expr in (("smallest", SMALLEST_RETURN), ("largest", LARGEST_RETURN), ("range", RETURN_RANGE))
}


def smallest_return(r_min_: Any, gamma_: Any) -> Any:
    """:data:`SMALLEST_RETURN` ``r_min / (1 - gamma)`` for numbers, fractions or numpy arrays."""
    return _RETURN_BOUNDS["smallest"](r_min_, 0, gamma_)


def largest_return(r_max_: Any, gamma_: Any) -> Any:
    """:data:`LARGEST_RETURN` ``r_max / (1 - gamma)`` for numbers, fractions or numpy arrays."""
    return _RETURN_BOUNDS["largest"](0, r_max_, gamma_)


def return_range(r_min_: Any, r_max_: Any, gamma_: Any) -> Any:
    """:data:`RETURN_RANGE` ``(r_max - r_min) / (1 - gamma)`` for numbers, fractions or numpy arrays."""
    return _RETURN_BOUNDS["range"](r_min_, r_max_, gamma_)


# --------------------------------------------------------------------------------------------
# Statements
# --------------------------------------------------------------------------------------------


class _ExactPrinter(LambdaPrinter):
    """Prints rationals as ``Fraction(p, q)`` so that the generated code never rounds."""

    def _print_Rational(self, expr: sp.Rational) -> str:  # noqa: N802 (sympy's printer API)
        return f"Fraction({expr.p}, {expr.q})"

    _print_Half = _print_Rational  # noqa: N815

    def _print_Float(self, expr: sp.Float) -> str:  # noqa: N802
        raise TypeError(f"statement contains a float constant {expr}; write it as a rational")


class _TheoryLatexPrinter(LatexPrinter):
    """sympy's LaTeX, with the positive terms of a sum first (``r_max - r_min``, not ``- r_min + r_max``)."""

    def _as_ordered_terms(self, expr, order=None):  # noqa: ANN001 (sympy's printer API)
        return sorted(super()._as_ordered_terms(expr, order=order), key=lambda t: t.could_extract_minus_sign())


def _exact_abs(x: Any) -> Any:
    return np.abs(x) if isinstance(x, np.ndarray) else abs(x)


_RELATIONS = {">=": r"\geq", "<=": r"\leq", "==": "="}


class _PlainPrinter(StrPrinter):
    """sympy's plain text with ``|x|`` for ``Abs(x)``, as the figures write it."""

    def _print_Abs(self, expr: sp.Abs) -> str:  # noqa: N802 (sympy's printer API)
        return f"|{self._print(expr.args[0])}|"


@dataclass(frozen=True)
class StatementEvaluation:
    """Values of a statement's derived expressions on given quantities (arrays broadcast together).

    ``tightness_numerator / tightness_denominator`` is the tightness ratio (undefined where the
    denominator is 0); ``trivial`` is the vacuity threshold (``None`` when the statement has none).
    """

    lhs: Any
    rhs: Any
    slack: Any
    scale: Any
    tightness_numerator: Any
    tightness_denominator: Any
    trivial: Any


@dataclass(frozen=True, eq=False)
class Statement:
    """One statement of the theory: ``lhs relation rhs`` over the named quantities.

    ``indices`` names the free renderer indices of the statement: ``('f',)`` (it holds for every
    renderer f), ``('j', 'k')`` (for every pair), or ``()`` (for the family as a whole).
    """

    id: str
    relation: str
    lhs: sp.Expr
    rhs: sp.Expr
    provenance: str
    reading: str
    hypotheses: tuple[str, ...]
    first_order: sp.Expr | None = None
    penalty: sp.Expr | None = None
    trivial: sp.Expr | None = None
    indices: tuple[str, ...] = ()
    derivation: str = ""
    parent: str | None = None
    expectation: str = ""
    parts: tuple[str, ...] = field(default=())
    #: for a variant: its proof is written in docs/theory.md ("Variants that are theorems"); checked like a statement
    proved: bool = False

    def __post_init__(self) -> None:
        if self.relation not in _RELATIONS:
            raise ValueError(f"{self.id}: relation {self.relation!r}, expected one of {', '.join(_RELATIONS)}")
        if self.provenance not in PROVENANCE:
            raise ValueError(f"{self.id}: provenance {self.provenance!r}, expected one of {', '.join(PROVENANCE)}")
        if (self.first_order is None) != (self.penalty is None):
            raise ValueError(f"{self.id}: give both first_order and penalty, or neither")
        if self.penalty is not None and sp.simplify(self.rhs - (self.first_order - self.penalty)) != 0:
            raise ValueError(f"{self.id}: rhs is not first_order - penalty")
        unknown = {s.name for s in self.symbols} - set(QUANTITIES)
        if unknown:
            raise ValueError(f"{self.id}: unknown quantities {sorted(unknown)}")

    # ---- derived expressions -------------------------------------------------------------

    @property
    def slack_expression(self) -> sp.Expr:
        """``lhs - rhs`` (lower bound), ``rhs - lhs`` (upper bound) or ``-|lhs - rhs|`` (identity)."""
        if self.relation == ">=":
            return self.lhs - self.rhs
        if self.relation == "<=":
            return self.rhs - self.lhs
        return -sp.Abs(self.lhs - self.rhs)

    @property
    def tightness_expression(self) -> tuple[sp.Expr, sp.Expr] | None:
        """``(numerator, denominator)`` of the tightness ratio, or ``None`` for an identity."""
        if self.penalty is not None:
            return self.first_order - self.lhs, self.penalty
        if self.relation == "<=":
            return self.lhs, self.rhs
        return None

    @property
    def scale_expression(self) -> sp.Expr:
        """Magnitude of the terms compared, for float round-off: ``|lhs| + |rhs| + |penalty|``."""
        return sp.Abs(self.lhs) + sp.Abs(self.rhs) + (sp.Abs(self.penalty) if self.penalty is not None else 0)

    def _expressions(self, *, scale: bool = True) -> list[sp.Expr]:
        """The evaluators' outputs; ``scale=False`` leaves the round-off scale out (as 0), sparing sympy the ``Abs``
        of every term where no tolerance is used."""
        num, den = self.tightness_expression or (sp.Integer(0), sp.Integer(0))
        trivial = self.trivial if self.trivial is not None else sp.Integer(0)
        magnitude = self.scale_expression if scale else sp.Integer(0)
        return [self.lhs, self.rhs, self.slack_expression, magnitude, num, den, trivial]

    @cached_property
    def symbols(self) -> list[sp.Symbol]:
        """The quantities the statement uses, sorted by name (the evaluators' keyword arguments)."""
        exprs = [self.lhs, self.rhs] + [e for e in (self.first_order, self.penalty, self.trivial) if e is not None]
        return sorted(set().union(*(e.free_symbols for e in exprs)), key=lambda s: s.name)

    @cached_property
    def quantity_names(self) -> list[str]:
        return [s.name for s in self.symbols]

    # ---- evaluators ------------------------------------------------------------------------

    @cached_property
    def _numeric_fn(self) -> Callable:
        return sp.lambdify(self.symbols, self._expressions(), modules="numpy", cse=True)

    @cached_property
    def _exact_fns(self) -> dict[type, Callable]:
        return {}

    def _exact_fn(self, rational: type) -> Callable:
        """The exact evaluator whose constants are ``rational(p, q)`` (one per number type, built once)."""
        if rational not in self._exact_fns:
            # Exact decisions need no round-off scale: it is left out (as 0) to save fraction arithmetic.
            exprs = self._expressions(scale=False)
            namespace = {"Fraction": rational, "abs": _exact_abs}
            self._exact_fns[rational] = sp.lambdify(
                self.symbols, exprs, modules=[namespace], printer=_ExactPrinter, cse=True
            )
        return self._exact_fns[rational]

    def _arguments(self, values: Mapping[str, Any], exact: bool, rational: type) -> list[Any]:
        missing = [n for n in self.quantity_names if n not in values]
        if missing:
            raise KeyError(f"{self.id} needs quantities {missing} (it uses {', '.join(self.quantity_names)})")
        args = [values[n] for n in self.quantity_names]
        if not exact:
            return [np.asarray(a, dtype=float) for a in args]
        return [_as_fraction(a) for a in args] if rational is Fraction else args

    def evaluate(self, values: Mapping[str, Any], *, exact: bool, rational: type = Fraction) -> StatementEvaluation:
        """Every derived expression on ``values`` (name -> number or array), float or exact.

        ``rational`` is the exact number type of ``values`` (default :class:`fractions.Fraction`); another
        exact rational type (e.g. ``flint.fmpq``) is used as given, with the constants built as
        ``rational(p, q)``, and the results are of that type.
        """
        fn = self._exact_fn(rational) if exact else self._numeric_fn
        with np.errstate(divide="ignore", invalid="ignore"):
            out = fn(*self._arguments(values, exact, rational))
        if not exact:
            out = np.broadcast_arrays(*[np.asarray(x, dtype=float) for x in out])
        elif any(isinstance(x, np.ndarray) for x in out):
            shape = np.broadcast_shapes(*[np.shape(x) for x in out])
            out = [_broadcast_object(x, shape) for x in out]
        lhs, rhs, slack, scale, numerator, denominator = out[:6]
        trivial = out[6] if self.trivial is not None else None
        return StatementEvaluation(lhs, rhs, slack, scale, numerator, denominator, trivial)

    def numeric(self, **values: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(lhs, rhs)`` in float64, vectorised over numpy arrays that broadcast together."""
        ev = self.evaluate(values, exact=False)
        return ev.lhs, ev.rhs

    def exact(self, **values: Any) -> tuple[Any, Any]:
        """``(lhs, rhs)`` as fractions (numbers, or ``object`` arrays of fractions)."""
        ev = self.evaluate(values, exact=True)
        return ev.lhs, ev.rhs

    def slack(self, *, exact: bool = False, **values: Any) -> Any:
        return self.evaluate(values, exact=exact).slack

    def tightness(self, *, exact: bool = False, **values: Any) -> Any:
        """The tightness ratio; NaN (float) or ``None`` (exact) where its denominator is 0."""
        ev = self.evaluate(values, exact=exact)
        return (
            tightness_ratio(ev.tightness_numerator, ev.tightness_denominator, exact=exact)
            if self.tightness_expression
            else None
        )

    # ---- text ------------------------------------------------------------------------------

    @cached_property
    def _penalty_fns(self) -> dict[type | None, Callable]:
        return {}

    def penalty_value(self, values: Mapping[str, Any], *, exact: bool, rational: type = Fraction) -> Any:
        """The penalty on ``values`` (name -> number or array), float or exact, for statements built from it.

        ``rational`` is the exact number type of ``values``, as in :meth:`evaluate`.
        """
        if self.penalty is None:
            raise ValueError(f"{self.id} has no penalty")
        key = rational if exact else None
        if key not in self._penalty_fns:
            if exact:
                namespace = {"Fraction": rational, "abs": _exact_abs}
                self._penalty_fns[key] = sp.lambdify(
                    self.symbols, self.penalty, modules=[namespace], printer=_ExactPrinter
                )
            else:
                self._penalty_fns[key] = sp.lambdify(self.symbols, self.penalty, modules="numpy")
        return self._penalty_fns[key](*self._arguments(values, exact, rational))

    def latex(self) -> str:
        """The statement in LaTeX, in THEORY's symbols."""
        names = {q.symbol: q.latex for q in QUANTITIES.values()}
        tex = lambda e: _TheoryLatexPrinter(dict(symbol_names=names, order="rev-lex")).doprint(e)  # noqa: E731
        rhs = tex(self.rhs)
        if self.penalty is not None:
            rhs = f"{tex(self.first_order)} - {tex(self.penalty)}"
        return f"{tex(self.lhs)} {_RELATIONS[self.relation]} {rhs}"

    def plain_text(self, lhs: str | None = None, bound: str = "bound") -> str:
        """``"ID: lhs <= bound"`` in plain text, the relation read from the statement (for figure titles).

        ``lhs`` replaces the statement's own left-hand side (e.g. the figure's name for the same quantity); a
        lower bound with a penalty reads ``lhs >= first_order - penalty``, any other ``lhs <relation> bound``.
        """
        left = lhs if lhs is not None else _PlainPrinter().doprint(self.lhs)
        right = bound
        if self.penalty is not None:
            right = f"{_PlainPrinter().doprint(self.first_order)} - {'penalty' if bound == 'bound' else bound}"
        return f"{self.id}: {left} {self.relation} {right}"

    def substitute(self, id: str, substitutions: Mapping[sp.Expr, sp.Expr], **changes: Any) -> Statement:
        """A new statement with ``substitutions`` applied to every expression (metadata from ``changes``)."""
        sub = lambda e: None if e is None else sp.sympify(e).subs(dict(substitutions), simultaneous=True)  # noqa: E731
        return replace(
            self,
            id=id,
            lhs=sub(self.lhs),
            rhs=sub(self.rhs),
            first_order=sub(self.first_order),
            penalty=sub(self.penalty),
            trivial=sub(self.trivial),
            parts=(),
            **changes,
        )

    def __repr__(self) -> str:
        return f"Statement({self.id}: {self.lhs} {self.relation} {self.rhs})"


def _as_fraction(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        if x.dtype != object:
            raise TypeError("exact evaluation needs fractions (object arrays), got a float array")
        if all(type(v) is Fraction for v in x.reshape(-1).tolist()):
            return x
        return (
            np.vectorize(lambda v: v if isinstance(v, sp.Basic) else Fraction(v), otypes=[object])(x) if x.size else x
        )
    if isinstance(x, float):
        raise TypeError("exact evaluation needs fractions, got a float")
    return x if isinstance(x, sp.Basic) else Fraction(x)


def _broadcast_object(x: Any, shape: tuple[int, ...]) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return np.broadcast_to(x, shape)
    out = np.empty(shape, dtype=object)
    out[...] = x
    return out


def tightness_ratio(numerator: Any, denominator: Any, *, exact: bool, rational: type = Fraction) -> Any:
    """``numerator / denominator``; NaN (float) or ``None`` (exact) where the denominator is 0.

    ``rational`` is the exact number type of the ratio (as in :meth:`Statement.evaluate`).
    """
    if not exact:
        num, den = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)
    if isinstance(numerator, np.ndarray) or isinstance(denominator, np.ndarray):
        num, den = np.broadcast_arrays(np.asarray(numerator, dtype=object), np.asarray(denominator, dtype=object))
        # One ufunc pass over the pairs (no index loop); a 0-d result is made an array again.
        ratio = np.frompyfunc(lambda n, d: None if d == 0 else rational(n) / rational(d), 2, 1)(num, den)
        return ratio if isinstance(ratio, np.ndarray) else np.asarray(ratio, dtype=object)
    return None if denominator == 0 else rational(numerator) / rational(denominator)


# ---- the eight statements ------------------------------------------------------------------

PDL = Statement(
    id="PDL",
    relation="==",
    lhs=eta_new - eta_base,
    rhs=pdl_sum,
    provenance="standard",
    reading="the gain of a new policy is the base policy's advantage of the new actions, summed over the new policy's visits",
    hypotheses=(
        "finite MDP, 0 <= gamma < 1",
        "sigma = pi_f and sigma~ = pi~_f, state policies of one renderer f",
        "rho unnormalised: sum_s rho(s) = 1/(1-gamma)",
    ),
    indices=("f",),
    derivation="Kakade & Langford (2002), Lemma 6.1, with unnormalised visitation",
)

T1 = Statement(
    id="T1",
    relation=">=",
    lhs=eta_new,
    rhs=L - trpo_penalty(eps_f, gamma, alpha),
    first_order=L,
    penalty=trpo_penalty(eps_f, gamma, alpha),
    trivial=SMALLEST_RETURN,
    provenance="standard",
    reading="under each renderer, the new policy's return is at least its first-order surrogate minus a penalty quadratic in the largest per-state TV",
    hypotheses=(
        "finite MDP, 0 <= gamma < 1",
        "eps_f from the base policy pi_f, max over all states and actions",
        "alpha_f = max over all states of TV(pi_f[s], pi~_f[s])",
    ),
    indices=("f",),
    derivation="Schulman et al. (2015), Theorem 1 (coupling), for the state policies pi_f and pi~_f; the paper's Theorem 3.3",
)

T1c = Statement(
    id="T1c",
    relation=">=",
    lhs=eta_new,
    rhs=L - 2 * gamma * epst * tv_visits / (1 - gamma),
    first_order=L,
    penalty=2 * gamma * epst * tv_visits / (1 - gamma),
    trivial=SMALLEST_RETURN,
    provenance="standard",
    reading="CPO's bound: the penalty is the base policy's visitation-weighted TV times the largest expected advantage of the new policy",
    hypotheses=(
        "finite MDP, 0 <= gamma < 1",
        "epst = max_s |sum_a pi~_f[s,a] A_{pi_f}[s,a]|",
        "TV weighted by the base policy's unnormalised visitation rho_{pi_f}",
    ),
    indices=("f",),
    derivation="Achiam et al. (2017), Corollary 1, with unnormalised visitation",
)

L1 = Statement(
    id="L1",
    relation="<=",
    lhs=alpha,
    rhs=R_pi + R_new + D_train,
    trivial=sp.Integer(1),
    provenance="reconstruction",
    reading="the largest change of action distribution under any renderer is at most both policies' robustness plus the training divergence",
    hypotheses=(
        "f any renderer of the family",
        "R, D_train and alpha_f are maxima over all states",
        "the training subset T is non-empty",
    ),
    indices=("f",),
    derivation="triangle inequality for TV at each state, through a training renderer t: pi_f -> pi_t -> pi~_t -> pi~_f",
)

C1 = T1.substitute(
    "C1",
    {eta_new: eta_test_new, L: L_avg, eps_f: eps, alpha: R_pi + R_new + D_train},
    provenance="reconstruction",
    reading="the test return of the new policy is at least its test-weighted surrogate minus a penalty in both robustness terms and the training divergence",
    hypotheses=(
        "finite MDP, 0 <= gamma < 1",
        "eps = max_k eps_{f_k}(pi), from the base policy pi",
        "R, R~ and D_train are maxima over all states",
        "p_k test weights over the whole family",
    ),
    indices=(),
    derivation="T1 for each renderer, alpha_f <= R + R~ + D_train (L1) and eps_f <= eps, averaged with weights p_k; the paper's Corollary 3.8 as we reconstruct it",
)

G1 = Statement(
    id="G1",
    relation="<=",
    lhs=sp.Abs(eta_j - eta_k),
    rhs=R_pi * span_Q / (1 - gamma),
    trivial=RETURN_RANGE,
    provenance="own",
    reading="a policy whose action distribution changes little across renderings has nearly the same return under every rendering",
    hypotheses=(
        "finite MDP, 0 <= gamma < 1",
        "j, k any two renderers of the family",
        "span_Q of the base renderer k, max over all states; R over all states",
    ),
    indices=("j", "k"),
    derivation="PDL with sigma = pi_{f_k}, sigma~ = pi_{f_j}; sum_a pi_{f_k}[s,a] A[s,a] = 0; |sum_a (p-q)_a x_a| <= TV(p,q) span(x); sum_s rho = 1/(1-gamma)",
    parts=("G1.eps", "G1.test"),
)

#: ``2 eps R / (1 - gamma)``: G1's bound in terms of the largest advantage.
_G1_EPS_BOUND = 2 * eps * R_pi / (1 - gamma)

G1_EPS = Statement(
    id="G1.eps",
    relation="<=",
    lhs=G1.rhs,
    rhs=_G1_EPS_BOUND,
    provenance="own",
    reading="G1's second inequality: span_a Q is at most twice the largest advantage",
    hypotheses=("span_a Q = span_a A <= 2 max_a |A| <= 2 eps(pi)",),
    indices=("j", "k"),
    derivation="span_a Q_{pi_{f_k}}[s, .] = span_a A_{pi_{f_k}}[s, .] <= 2 eps_{f_k}(pi) <= 2 eps(pi)",
    parent="G1",
)

G1_TEST = Statement(
    id="G1.test",
    relation=">=",
    lhs=eta_test,
    rhs=eta_train - _G1_EPS_BOUND,
    first_order=eta_train,
    penalty=_G1_EPS_BOUND,
    trivial=SMALLEST_RETURN,
    provenance="own",
    reading="G1's consequence: the test return is at least the training return minus 2 eps R / (1-gamma)",
    hypotheses=("p and q any weights over the family and the training subset",),
    derivation="eta_test - eta_train = sum_{k,t} p_k q_t (eta_k - eta_t) and G1 with its second inequality",
    parent="G1",
)

G1r = G1.substitute(
    "G1r",
    {span_Q: RETURN_RANGE},
    provenance="own",
    reading="G1 with span_a Q replaced by its reward-only bound: no policy evaluation needed",
    hypotheses=("finite MDP, 0 <= gamma < 1", "r_min, r_max over all states and actions", "R over all states"),
    derivation="G1 with span_a Q <= (r_max - r_min)/(1-gamma), since V lies in [r_min, r_max]/(1-gamma)",
)

G2 = T1.substitute(
    "G2",
    {eta_new: eta_j, L: L_cross, eps_f: eps_k, alpha: R_pi},
    provenance="own",
    reading="second order: the return under renderer j is at least the surrogate around renderer k minus a penalty quadratic in R",
    hypotheses=(
        "finite MDP, 0 <= gamma < 1",
        "j, k any two renderers",
        "eps_{f_k} from the base state policy pi_{f_k}",
    ),
    indices=("j", "k"),
    derivation="T1 with base state policy pi_{f_k} and new state policy pi_{f_j}, whose largest per-state TV is at most R(pi)",
)

# ---- visitation-weighted statements (own) ---------------------------------------------------

G1v = Statement(
    id="G1v",
    relation="<=",
    lhs=sp.Abs(eta_j - eta_k),
    rhs=tv_span_visits,
    trivial=RETURN_RANGE,
    provenance="own",
    reading="the rendering gap of one policy is at most its per-state TV between the two renderings times span_a Q, "
    "summed over the states it visits under the target rendering",
    hypotheses=(
        "finite MDP, 0 <= gamma < 1",
        "j, k any two renderers of the family",
        "rho of pi acting under the target renderer j (unnormalised); span_Q of the base renderer k",
    ),
    indices=("j", "k"),
    derivation="PDL with sigma = pi_{f_k}, sigma~ = pi_{f_j}; sum_a pi_{f_k}[s,a] A[s,a] = 0; "
    "|sum_a (p-q)_a x_a| <= TV(p,q) span(x), state by state",
)

G1vr = G1v.substitute(
    "G1vr",
    {tv_span_visits: Rv_jk / (1 - gamma) * RETURN_RANGE},
    provenance="own",
    reading="G1v with span_a Q replaced by its reward-only bound: the expected per-state TV times (r_max - r_min)/(1-gamma)^2",
    hypotheses=(
        "finite MDP, 0 <= gamma < 1",
        "r_min, r_max over all states and actions",
        "Rv_jk under the normalised visitation of pi acting under the target renderer j",
    ),
    derivation="G1v with span_a Q_{pi_{f_k}}[s, .] <= (r_max - r_min)/(1-gamma) at every state, "
    "and sum_s rho_{pi_{f_j}}[s] TV = Rv_jk / (1-gamma)",
)

#: C1v's per-renderer step: T1c with the visitation-weighted TV bounded through a training renderer.
C1v_F = T1c.substitute(
    "C1v.f",
    {tv_visits: (Rv_f + Rv_f_new + Dv_f) / (1 - gamma)},
    provenance="own",
    parent="C1v",
    reading="per renderer, the new policy's return is at least its surrogate minus CPO's penalty with the visitation-weighted "
    "TV split into both policies' visitation-weighted robustness and training divergence",
    hypotheses=(
        "finite MDP, 0 <= gamma < 1",
        "epst as in T1c",
        "Rv_f(pi), Rv_f(pi~), Dv_f weighted by the base policy's normalised visitation under f",
        "the training subset T is non-empty",
    ),
    derivation="T1c; at each state TV(pi_f, pi~_f) <= TV(pi_f, pi_t) + TV(pi_t, pi~_t) + TV(pi~_t, pi~_f) for any t in T, each "
    "term at most its max over T; summed with rho_{pi_f}: tv_visits <= (Rv_f(pi) + Rv_f(pi~) + Dv_f)/(1-gamma)",
)

C1v = Statement(
    id="C1v",
    relation=">=",
    lhs=eta_test_new,
    rhs=L_avg - penalty_v_avg,
    first_order=L_avg,
    penalty=penalty_v_avg,
    trivial=SMALLEST_RETURN,
    provenance="own",
    reading="the test return of the new policy is at least its test-weighted surrogate minus the test-weighted CPO penalties "
    "in visitation-weighted robustness and training divergence",
    hypotheses=(
        "finite MDP, 0 <= gamma < 1",
        "p_k test weights over the whole family",
        "epst_f as in T1c",
        "Rv_f(pi), Rv_f(pi~), Dv_f weighted by the base policy's normalised visitation under f",
    ),
    indices=(),
    derivation="C1v.f for each renderer, averaged with weights p_f (penalty_v_avg = sum_f p_f times C1v.f's penalty)",
    parts=("C1v.f",),
)

#: The statements of THEORY.md, by ID.
STATEMENTS: dict[str, Statement] = {s.id: s for s in (PDL, T1, T1c, L1, C1, G1, G1r, G2, G1v, G1vr, C1v)}
#: Further inequalities claimed by a statement (G1's chain and its consequence, C1v's per-renderer step), by ID.
PARTS: dict[str, Statement] = {s.id: s for s in (G1_EPS, G1_TEST, C1v_F)}
