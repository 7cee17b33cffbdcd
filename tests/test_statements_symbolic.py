"""Symbolic facts about the statements, proved by sympy on the statements' own expressions.

* PDL for a generic 2-state, 2-action MDP whose entries are symbols: the engine's own functions
  (V, rho, Q, A, eta) run on sympy expressions and the identity simplifies to 0;
* every penalty is non-decreasing in R, R~, D_train and alpha (and in the other TV-like terms);
* T1c's penalty is at most T1's when epst <= 2 alpha eps_f and sum rho TV <= alpha / (1-gamma);
* C1's penalty is 4 eps gamma / (1-gamma)^2 times the six terms of (R + R~ + D)^2;
* G1r is G1 with span Q replaced by (r_max - r_min)/(1-gamma), a bound that follows from V's range.

Inequalities over 0 <= gamma < 1 are proved by writing gamma = t/(1+t) with t >= 0, which maps
[0, oo) onto [0, 1), and r_max = r_min + w with w >= 0: sympy then decides signs from the
non-negativity of every remaining symbol.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

import theory.statements as th
from theory.registry import get_statement
from theory.statements import PARTS, STATEMENTS
from theory.variants import VARIANTS
from toymdp.mdp import engine


def _nonneg(expr: sp.Expr) -> bool:
    """True when sympy proves ``expr >= 0`` for nonnegative symbols and 0 <= gamma < 1."""
    t, w = sp.Symbol("t", nonnegative=True), sp.Symbol("w", nonnegative=True)
    expr = expr.subs({th.gamma: t / (1 + t), th.r_max: th.r_min + w}, simultaneous=True)  # r_max >= r_min
    expr = sp.factor(sp.cancel(expr))
    names = {s: sp.Symbol(s.name, nonnegative=True) for s in expr.free_symbols if s != t}
    return bool(expr.subs(names).is_nonnegative)


def _object(rows) -> np.ndarray:
    out = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            out[i, j] = v
    return out


def test_pdl_generic_two_state_two_action_mdp():
    p, r = sp.symbols("p0:4"), sp.symbols("r0:4", real=True)
    x, y = sp.symbols("x0:2"), sp.symbols("y0:2")
    q, g = sp.symbols("q gamma")
    P = np.empty((2, 2, 2), dtype=object)
    for s in range(2):
        for a in range(2):
            P[s, a, 0], P[s, a, 1] = p[2 * s + a], 1 - p[2 * s + a]
    R = _object([[r[0], r[1]], [r[2], r[3]]])
    rho0 = np.array([q, 1 - q], dtype=object)
    sigma = _object([[x[0], 1 - x[0]], [x[1], 1 - x[1]]])
    sigma_new = _object([[y[0], 1 - y[0]], [y[1], 1 - y[1]]])
    V, _ = engine.values_and_occupancy(P, R, g, rho0, sigma)
    V_new, rho_new = engine.values_and_occupancy(P, R, g, rho0, sigma_new)
    A = engine.advantages(engine.q_values(P, R, g, V), V)
    lhs, rhs = th.PDL.exact(
        eta_base=engine.expected_return(rho0, V),
        eta_new=engine.expected_return(rho0, V_new),
        pdl_sum=(rho_new * engine.expected_advantage(A, sigma_new)).sum(),
    )
    assert sp.cancel(sp.together(lhs - rhs)) == 0
    # Not vacuous: the two sides are genuinely functions of the entries.
    assert {p[0], r[0], x[0], y[0], g} <= sp.together(lhs).free_symbols


PENALIZED = [s for s in list(STATEMENTS.values()) + list(PARTS.values()) if s.penalty is not None]
UPPER = [s for s in list(STATEMENTS.values()) + list(PARTS.values()) if s.relation == "<="]
MONOTONE_IN = [th.R_pi, th.R_new, th.D_train, th.alpha, th.epst, th.tv_visits, th.eps, th.eps_f, th.eps_k,
               th.Rv_f, th.Rv_f_new, th.Dv_f, th.penalty_v_avg]


@pytest.mark.parametrize("statement", PENALIZED, ids=lambda s: s.id)
def test_penalty_non_decreasing(statement):
    used = [v for v in MONOTONE_IN if v in statement.penalty.free_symbols]
    assert used, f"{statement.id}: its penalty uses none of {MONOTONE_IN}"
    for v in used:
        assert _nonneg(sp.diff(statement.penalty, v)), (statement.id, v)
    assert _nonneg(statement.penalty)


@pytest.mark.parametrize("statement", UPPER, ids=lambda s: s.id)
def test_upper_bound_non_decreasing(statement):
    for v in [th.R_pi, th.R_new, th.D_train, th.span_Q, th.eps, th.tv_span_visits, th.Rv_jk]:
        if v in statement.rhs.free_symbols:
            assert _nonneg(sp.diff(statement.rhs, v)), (statement.id, v)


def test_monotonicity_check_can_fail():
    assert not _nonneg(sp.diff(-th.trpo_penalty(th.eps, th.gamma, th.R_pi), th.R_pi))
    assert not _nonneg(th.R_pi - th.R_new)


def test_t1c_penalty_at_most_t1_penalty():
    """With epst = 2 alpha eps_f u and sum rho TV = alpha/(1-gamma) v for u, v in [0, 1]
    (u = 1/(1+a), v = 1/(1+b) with a, b >= 0), T1's penalty minus T1c's is non-negative."""
    a, b = sp.symbols("a b", nonnegative=True)
    u, v = 1 / (1 + a), 1 / (1 + b)
    t1c = th.T1c.penalty.subs({th.epst: 2 * th.alpha * th.eps_f * u, th.tv_visits: th.alpha / (1 - th.gamma) * v})
    assert _nonneg(th.T1.penalty - t1c)
    # At the hypotheses' extremes (u = v = 1) the two penalties coincide.
    assert sp.simplify(t1c.subs({a: 0, b: 0}) - th.T1.penalty) == 0


def test_c1_penalty_expands_to_six_terms():
    R, Rn, D = th.R_pi, th.R_new, th.D_train
    factor = 4 * th.eps * th.gamma / (1 - th.gamma) ** 2
    six = [R**2, Rn**2, D**2, 2 * R * Rn, 2 * R * D, 2 * Rn * D]
    expanded = sp.expand(th.C1.penalty / factor)
    assert sp.Add.make_args(expanded) and len(sp.Add.make_args(expanded)) == 6
    assert set(sp.Add.make_args(expanded)) == set(six)
    assert sp.expand(th.C1.penalty - factor * sum(six)) == 0


def test_g1r_constant_from_span_bound():
    # V lies in [r_min, r_max]/(1-gamma), so Q[s, a] - Q[s, a'] <= (r_max - r_min) + gamma (V_max - V_min):
    span_bound = (th.r_max - th.r_min) + th.gamma * (th.r_max / (1 - th.gamma) - th.r_min / (1 - th.gamma))
    assert sp.simplify(span_bound - th.RETURN_RANGE) == 0
    # G1's bound is non-decreasing in span_Q; at span_Q = the bound it is G1r's.
    assert _nonneg(sp.diff(th.G1.rhs, th.span_Q))
    assert sp.simplify(th.G1.rhs.subs(th.span_Q, th.RETURN_RANGE) - th.G1r.rhs) == 0
    assert sp.simplify(th.G1r.rhs - th.R_pi * (th.r_max - th.r_min) / (1 - th.gamma) ** 2) == 0


def test_derived_statements_are_substitutions():
    """C1 and G2 are T1 under a substitution; the penalties show it."""
    assert sp.simplify(th.C1.penalty - th.trpo_penalty(th.eps, th.gamma, th.R_pi + th.R_new + th.D_train)) == 0
    assert sp.simplify(th.G2.penalty - th.trpo_penalty(th.eps_k, th.gamma, th.R_pi)) == 0
    assert th.C1.first_order == th.L_avg and th.G2.first_order == th.L_cross


@pytest.mark.parametrize("variant", list(VARIANTS.values()), ids=lambda s: s.id)
def test_variant_differs_from_parent(variant):
    parent = get_statement(variant.parent)
    assert variant.relation == parent.relation and variant.provenance == "variant"
    assert sp.simplify(variant.rhs - parent.rhs) != 0


def test_no_square_and_one_minus_gamma_variants():
    X = th.R_pi + th.R_new + th.D_train
    assert sp.simplify(VARIANTS["C1-noSquare"].penalty - 4 * th.eps * th.gamma * X / (1 - th.gamma) ** 2) == 0
    assert sp.simplify(VARIANTS["T1-1mg"].penalty - 4 * th.eps_f * th.gamma * th.alpha**2 / (1 - th.gamma)) == 0
    assert sp.simplify(VARIANTS["G1r-1mg"].rhs - th.R_pi * (th.r_max - th.r_min) / (1 - th.gamma)) == 0


@pytest.mark.parametrize("statement", list(STATEMENTS.values()) + list(PARTS.values()) + list(VARIANTS.values()), ids=lambda s: s.id)
def test_numeric_and_exact_evaluators_agree(statement):
    """Both evaluators come from one expression: on random rationals they agree, and exact gives fractions."""
    rng = np.random.default_rng(len(statement.id))
    for _ in range(5):
        values = {n: Fraction(int(rng.integers(0, 40)), int(rng.integers(1, 20))) for n in statement.quantity_names}
        values["gamma"] = Fraction(int(rng.integers(0, 19)), 20) if "gamma" in values else None
        values = {k: v for k, v in values.items() if v is not None}
        ex = statement.evaluate(values, exact=True)
        fl = statement.evaluate({k: float(v) for k, v in values.items()}, exact=False)
        for name in ("lhs", "rhs", "slack", "tightness_numerator", "tightness_denominator"):
            e = getattr(ex, name)
            assert isinstance(e, (Fraction, int)), (name, type(e))
            assert float(getattr(fl, name)) == pytest.approx(float(e), rel=1e-12, abs=1e-12)


def test_latex_uses_theory_symbols():
    assert th.T1.latex() == (
        r"\eta_f(\tilde\pi) \geq L_{\pi_f}(\tilde\pi_f) - \frac{4 \alpha_f^{2} \epsilon_f(\pi) \gamma}{\left(1 - \gamma\right)^{2}}"
    )
    assert r"\left(R(\pi) + R(\tilde\pi) + D_{\mathrm{train}}\right)^{2}" in th.C1.latex()
    assert th.PDL.latex().startswith(r"\eta_f(\tilde\pi) - \eta_f(\pi) =")


def test_unknown_id_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown statement ID 'T9'.*PDL, T1, T1c"):
        get_statement("T9")


def test_evaluator_errors_name_the_missing_quantity():
    with pytest.raises(KeyError, match="T1 needs quantities"):
        th.T1.numeric(eta_new=1.0)
    with pytest.raises(TypeError, match="exact evaluation needs fractions"):
        th.L1.exact(alpha=0.5, R_pi=Fraction(0), R_new=Fraction(0), D_train=Fraction(1, 2))


def test_provenance_labels_follow_theory():
    labels = {sid: s.provenance for sid, s in STATEMENTS.items()}
    assert labels == {"PDL": "standard", "T1": "standard", "T1c": "standard", "L1": "reconstruction",
                      "C1": "reconstruction", "G1": "own", "G1r": "own", "G2": "own",
                      "G1v": "own", "G1vr": "own", "C1v": "own"}


def test_docs_show_the_statements_as_coded():
    """docs/theory.md prints each statement's LaTeX; it must be the LaTeX of the code's objects."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "theory.md").read_text()
    for statement in list(STATEMENTS.values()) + list(PARTS.values()):
        assert f"$${statement.latex()}$$" in text, statement.id



def test_return_bounds_by_hand():
    # rewards in [-1, 2], gamma = 9/10: returns lie in [-10, 20], a span of 30
    assert th.smallest_return(Fraction(-1), Fraction(9, 10)) == Fraction(-10)
    assert th.largest_return(Fraction(2), Fraction(9, 10)) == Fraction(20)
    assert th.return_range(Fraction(-1), Fraction(2), Fraction(9, 10)) == Fraction(30)
    np.testing.assert_allclose(th.return_range(0.0, 1.0, np.array([0.0, 0.5, 0.75])), [1.0, 2.0, 4.0], rtol=0, atol=0)


# ---- visitation-weighted statements: each derivation step from its parent ------------------------


def _two_renderer_mdp():
    """A generic 2-state, 2-action MDP with symbolic entries and two symbolic state policies (renderers j, k)."""
    p, r = sp.symbols("p0:4"), sp.symbols("r0:4", real=True)
    x, y = sp.symbols("x0:2"), sp.symbols("y0:2")
    q, g = sp.symbols("q gamma")
    P = np.empty((2, 2, 2), dtype=object)
    for s in range(2):
        for a in range(2):
            P[s, a, 0], P[s, a, 1] = p[2 * s + a], 1 - p[2 * s + a]
    R = _object([[r[0], r[1]], [r[2], r[3]]])
    rho0 = np.array([q, 1 - q], dtype=object)
    sigma_j = _object([[x[0], 1 - x[0]], [x[1], 1 - x[1]]])
    sigma_k = _object([[y[0], 1 - y[0]], [y[1], 1 - y[1]]])
    return P, R, g, rho0, sigma_j, sigma_k


def test_g1v_from_pdl():
    """PDL with sigma~ = pi_{f_j}, sigma = pi_{f_k} and sum_a pi_{f_k} A = 0 gives, state by state,
    eta_j - eta_k = sum_s rho_j[s] sum_a (pi_j - pi_k)[s, a] Q_k[s, a]; with two actions the inner sum is
    (x_s - y_s)(Q_k[s,0] - Q_k[s,1]), whose absolute value is TV times span_a Q_k (the per-state bound with equality)."""
    P, R, g, rho0, sj, sk = _two_renderer_mdp()
    V_j, rho_j = engine.values_and_occupancy(P, R, g, rho0, sj)
    V_k, _ = engine.values_and_occupancy(P, R, g, rho0, sk)
    Q_k = engine.q_values(P, R, g, V_k)
    gap = engine.expected_return(rho0, V_j) - engine.expected_return(rho0, V_k)
    per_state = [(sj[s, 0] - sk[s, 0]) * (Q_k[s, 0] - Q_k[s, 1]) for s in range(2)]
    assert sp.cancel(sp.together(gap - sum(rho_j[s] * per_state[s] for s in range(2)))) == 0
    for s in range(2):
        tv_s = sp.Abs(sj[s, 0] - sk[s, 0])  # (|x - y| + |(1-x) - (1-y)|)/2
        assert sp.simplify((sp.Abs(sj[s, 0] - sk[s, 0]) + sp.Abs(sj[s, 1] - sk[s, 1])) / 2 - tv_s) == 0
    # With two actions the per-state term is d (Q0 - Q1) with |d| = TV and |Q0 - Q1| = span (equality in the
    # per-state bound); test_per_state_bound_three_actions proves the bound where it is strict.
    # Summing |.| over states with rho_j >= 0 is G1v's right-hand side; the left side's triangle inequality
    # is the only step left: |sum_s rho c_s| <= sum_s rho |c_s| for rho >= 0, checked here on its two-term form.
    rho = sp.symbols("rho0:2", nonnegative=True)
    for signs in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        cs = [sig * sp.Symbol(f"m{i}", nonnegative=True) for i, sig in enumerate(signs)]
        assert _nonneg(sum(rho[i] * abs_ for i, abs_ in enumerate(sp.Abs(v) for v in cs)) - sum(rho[i] * cs[i] for i in range(2)))
        assert _nonneg(sum(rho[i] * sp.Abs(cs[i]) for i in range(2)) + sum(rho[i] * cs[i] for i in range(2)))


def test_per_state_bound_three_actions():
    """|sum_a (p - q)_a x_a| <= TV(p, q) span(x) for three actions: with x sorted, x = (m, m + a, m + a + b),
    and d = p - q = (u, v, -u - v), every sign pattern of (u, v, u + v) makes TV span -/+ sum d x nonnegative."""
    a, b, m = sp.Symbol("a", nonnegative=True), sp.Symbol("b", nonnegative=True), sp.Symbol("m", real=True)
    U, V = sp.Symbol("U", nonnegative=True), sp.Symbol("V", nonnegative=True)
    x = (m, m + a, m + a + b)
    # (u, v) with their signs and the sign of u + v, each written through nonnegative U, V.
    cases = [(U, V), (-U, -V), (U + V, -V), (U, -U - V), (-U - V, V), (-U, U + V)]
    for u, v in cases:
        d = (u, v, -u - v)
        tv = sum(sp.Abs(sp.expand(di)) for di in d) / 2
        inner = sp.expand(sum(di * xi for di, xi in zip(d, x)))
        assert sp.expand(inner).coeff(m) == 0
        for sign in (1, -1):
            assert _nonneg(sp.expand(tv * (a + b) - sign * inner)), (u, v, sign)
    # Not a tautology: the bound without the TV factor's 1/2 reversed fails.
    assert not _nonneg(sp.expand(sp.Rational(1, 4) * (U + V) * (a + b) - (U * a + (U + V) * b)))


def test_g1vr_from_g1v_with_the_span_bound():
    """span_a Q <= (r_max - r_min)/(1-gamma) at every state: G1v's sum is at most Rv_jk (r_max - r_min)/(1-gamma)^2.
    Two states with visitation rho_s >= 0, TV_s >= 0 and span_s = RETURN_RANGE - w_s (w_s >= 0)."""
    rho, tvs, w = (sp.symbols(f"{n}0:2", nonnegative=True) for n in ("rho", "tv", "w"))
    span = [th.RETURN_RANGE - w[s] for s in range(2)]
    g1v_rhs = th.G1v.rhs.subs(th.tv_span_visits, sum(rho[s] * tvs[s] * span[s] for s in range(2)))
    g1vr_rhs = th.G1vr.rhs.subs(th.Rv_jk, (1 - th.gamma) * sum(rho[s] * tvs[s] for s in range(2)))
    assert _nonneg(g1vr_rhs - g1v_rhs)
    assert sp.simplify((g1vr_rhs - g1v_rhs).subs({w[0]: 0, w[1]: 0})) == 0  # equal when every span is the range
    assert sp.simplify(th.G1vr.rhs - th.Rv_jk * (th.r_max - th.r_min) / (1 - th.gamma) ** 2) == 0
    assert th.G1vr.lhs == th.G1v.lhs == th.G1.lhs
    # G1vr is never weaker than G1r: Rv_jk <= R(pi).
    z = sp.Symbol("z", nonnegative=True)
    assert _nonneg(th.G1r.rhs - th.G1vr.rhs.subs(th.Rv_jk, th.R_pi - z).subs(th.R_pi, th.R_pi + z))
    assert not _nonneg(th.G1r.rhs - th.G1vr.rhs)  # without Rv_jk <= R it would not follow


def test_c1v_from_t1c_with_the_triangle_inequality():
    """T1c per renderer, with TV(pi_f, pi~_f) <= a_s + b_s + c_s at each state (a_s = max_t TV(pi_f, pi_t),
    b_s = max_t TV(pi~_f, pi~_t), c_s = max_t TV(pi_t, pi~_t)) summed with rho_{pi_f}: C1v.f's bound is at most
    T1c's; C1v is C1v.f averaged with p."""
    rho, a, b, c, w = (sp.symbols(f"{n}0:2", nonnegative=True) for n in ("rho", "a", "b", "c", "w"))
    tv_states = [a[s] + b[s] + c[s] - w[s] for s in range(2)]  # the triangle inequality, slack w_s >= 0
    t1c_rhs = th.T1c.rhs.subs(th.tv_visits, sum(rho[s] * tv_states[s] for s in range(2)))
    visit = lambda x: (1 - th.gamma) * sum(rho[s] * x[s] for s in range(2))  # noqa: E731
    c1vf_rhs = th.PARTS["C1v.f"].rhs.subs({th.Rv_f: visit(a), th.Rv_f_new: visit(b), th.Dv_f: visit(c)}, simultaneous=True)
    assert _nonneg(t1c_rhs - c1vf_rhs)
    assert sp.simplify((t1c_rhs - c1vf_rhs).subs({w[0]: 0, w[1]: 0})) == 0
    # The p-average: C1v's slack is sum_f p_f times C1v.f's slack when its quantities are the p-averages.
    p0 = sp.Symbol("p0", nonnegative=True)
    p = (p0, 1 - p0)
    per_f = [{q: sp.Symbol(f"{q.name}_{f}", real=True) for q in (th.eta_new, th.L, th.epst, th.Rv_f, th.Rv_f_new, th.Dv_f)}
             for f in range(2)]
    part = th.PARTS["C1v.f"]
    family = {th.eta_test_new: sum(p[f] * per_f[f][th.eta_new] for f in range(2)),
              th.L_avg: sum(p[f] * per_f[f][th.L] for f in range(2)),
              th.penalty_v_avg: sum(p[f] * part.penalty.subs(per_f[f]) for f in range(2))}
    slack_c1v = th.C1v.slack_expression.subs(family, simultaneous=True)
    assert sp.simplify(slack_c1v - sum(p[f] * part.slack_expression.subs(per_f[f]) for f in range(2))) == 0


def test_c1v_never_weaker_than_c1():
    """epst_f <= 2 eps alpha_f <= 2 eps X (|sum_a (pi~ - pi) A| <= 2 TV max|A|, and L1) and
    Rv_f(pi) + Rv_f(pi~) + Dv_f <= R + R~ + D_train = X (an average is at most the maximum): with epst_f = 2 eps X u
    and the visitation sum X v for u, v in [0, 1], C1v.f's penalty is at most C1's, hence so is their p-average."""
    a, b = sp.symbols("a b", nonnegative=True)
    u, v = 1 / (1 + a), 1 / (1 + b)
    X = th.R_pi + th.R_new + th.D_train
    part = th.PARTS["C1v.f"]
    c1v_f = part.penalty.subs({th.epst: 2 * th.eps * X * u, th.Rv_f: X * v, th.Rv_f_new: 0, th.Dv_f: 0}, simultaneous=True)
    assert _nonneg(th.C1.penalty - c1v_f)
    assert sp.simplify(c1v_f.subs({a: 0, b: 0}) - th.C1.penalty) == 0  # equal at the hypotheses' extremes
    assert not _nonneg(th.C1.penalty - part.penalty.subs({th.epst: 2 * th.eps * X, th.Rv_f: 2 * X, th.Rv_f_new: 0, th.Dv_f: 0}))
