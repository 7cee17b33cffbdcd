"""G1v, G1vr and C1v (visitation-weighted statements) on instances: hand computations, both engines, tightness at pairs."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from theory.registry import get_statement
from toymdp import MDP, Instance, RenderingFamily, evaluate
from toymdp.checking.checks import check_all
from toymdp.mdp.random_instances import random_instances
from toymdp.mdp.statement_terms import statement_terms
from toymdp.checking.tightest import TightestTally, tightest_bounds

F = Fraction
NEW = ["G1v", "G1vr", "C1v", "C1v.f"]


def _bandit():
    """One state, actions a0 (reward 1) and a1 (reward 0), gamma = 1/2; renderer k shows observation k.
    pi plays a_k on observation k; pi~ plays uniformly. Test weights 1/2, 1/2; training renderer 0."""
    return Instance(MDP([[[1], [1]]], [[1, 0]], [1], "1/2"),
                    RenderingFamily([[[1, 0]], [[0, 1]]], ["1/2", "1/2"], [0], [1]),
                    [[1, 0], [0, 1]], [["1/2", "1/2"], ["1/2", "1/2"]])


def test_bandit_by_hand():
    """By hand: rho = 1/(1-gamma) = 2 for every policy. Under f0 pi plays a0: V = 2, Q = (2, 1), A = (0, -1);
    under f1 it plays a1: V = 0, Q = (1, 0), A = (1, 0). pi~ = (1/2, 1/2): eta(pi~) = 1, expected advantages
    -1/2 and 1/2, so epst_f = 1/2 and L_f = 2 - 1 = 1 = 0 + 1.
    G1v: |2 - 0| = 2 <= rho TV span = 2 * 1 * 1 = 2 (tight). G1vr: Rv = (1/2) 2 * 1 = 1, bound 1 * 1 / (1/4) = 4.
    C1v: Rv_f(pi) = 0, 1 (TV to the training renderer 0), Rv_f(pi~) = 0, Dv_f = TV((1,0), (1/2,1/2)) = 1/2;
    penalties 2 (1/2)(1/2)(1/2)/(1/4) = 1 and 2 (1/2)(1/2)(3/2)/(1/4) = 3, average 2: bound 1 - 2 = -1.
    C1 for comparison: eps = 1, R = 1, R~ = 0, D_train = 1/2: 1 - 4 (1/2)(3/2)^2/(1/4) = -17."""
    ev = evaluate(_bandit())
    assert ev.exact
    terms = statement_terms(ev)
    assert terms.values["Rv_f"][0].tolist() == [0, 1] and terms.values["Rv_f_new"][0].tolist() == [0, 0]
    assert terms.values["Dv_f"][0].tolist() == [F(1, 2), F(1, 2)] and terms.values["epst"][0].tolist() == [F(1, 2), F(1, 2)]
    assert terms.values["Rv_jk"][0].tolist() == [[0, 1], [1, 0]]
    assert terms.values["tv_span_visits"][0].tolist() == [[0, 2], [2, 0]]
    assert terms.values["penalty_v_avg"][0] == 2
    res = check_all(ev, ["G1v", "G1vr", "C1v", "C1v.f", "C1"])
    g1v, g1vr, c1v = res["G1v"], res["G1vr"], res["C1v"]
    assert (g1v.lhs, g1v.rhs, g1v.slack, g1v.tightness) == (2, 2, 0, 1)
    assert (g1vr.lhs, g1vr.rhs, g1vr.tightness) == (2, 4, F(1, 2))
    assert (c1v.lhs, c1v.rhs, c1v.slack, c1v.tightness) == (1, -1, 2, 0)
    assert res["C1v.f"].rhs.tolist() == [0, -2] and res["C1"].rhs == -17
    assert c1v.vacuous and not g1v.vacuous  # -1 < r_min/(1-gamma) = 0; 2 <= return range 2
    # C1v is C1v.f averaged with p: the per-renderer penalty times p, summed, is the family penalty.
    assert sum(F(1, 2) * (1 - r) for r in res["C1v.f"].rhs.tolist()) == 1 - c1v.rhs == 2


def test_float_and_exact_terms_agree():
    """The float engine's visitation-weighted quantities equal the exact engine's on the same rational instances."""
    exact = random_instances(np.random.default_rng(3), 6, 3, 2, 3, 4, exact=True, sparsity=0.4)
    t_exact, t_float = statement_terms(evaluate(exact)), statement_terms(evaluate(exact.to_float()))
    for name in ("Rv_jk", "tv_span_visits", "Rv_f", "Rv_f_new", "Dv_f", "penalty_v_avg"):
        np.testing.assert_allclose(np.asarray(t_float.values[name][0], dtype=float),
                                   np.asarray(t_exact.values[name][0], dtype=float), rtol=1e-10, atol=1e-12, err_msg=name)
    res_e, res_f = check_all(evaluate(exact), NEW), check_all(evaluate(exact.to_float()), NEW)
    for sid in NEW:
        assert res_e[sid].holds.all() and res_f[sid].holds.all(), sid
        np.testing.assert_allclose(np.asarray(res_f[sid].rhs, float), np.asarray(res_e[sid].rhs, float), rtol=1e-10, atol=1e-12)


def test_visitation_terms_against_a_loop():
    """Rv_jk, Rv_f, Dv_f and G1v's sum recomputed state by state from V, Q and rho (an independent loop)."""
    inst = random_instances(np.random.default_rng(11), 1, 3, 3, 3, 4, exact=True)[0]
    ev = evaluate(inst)
    terms = statement_terms(ev)
    g = inst.mdp.gamma
    sig, sig_new, rho, Q = ev.pi.sigma, ev.pi_tilde.sigma, ev.pi.rho, ev.pi.Q
    K, S, A = sig.shape
    tv = lambda p, q: sum(abs(p[a] - q[a]) for a in range(A)) / 2  # noqa: E731
    train = list(inst.family.train)
    for j in range(K):
        assert terms.values["Rv_f"][0][j] == (1 - g) * sum(rho[j, s] * max(tv(sig[j, s], sig[t, s]) for t in train) for s in range(S))
        assert terms.values["Rv_f_new"][0][j] == (1 - g) * sum(rho[j, s] * max(tv(sig_new[j, s], sig_new[t, s]) for t in train) for s in range(S))
        assert terms.values["Dv_f"][0][j] == (1 - g) * sum(rho[j, s] * max(tv(sig[t, s], sig_new[t, s]) for t in train) for s in range(S))
        for k in range(K):
            span = [max(Q[k, s]) - min(Q[k, s]) for s in range(S)]
            assert terms.values["Rv_jk"][0][j, k] == (1 - g) * sum(rho[j, s] * tv(sig[j, s], sig[k, s]) for s in range(S))
            assert terms.values["tv_span_visits"][0][j, k] == sum(rho[j, s] * tv(sig[j, s], sig[k, s]) * span[s] for s in range(S))
    p = inst.family.test_weights
    pen = [2 * g * terms.values["epst"][0][f] * (terms.values["Rv_f"][0][f] + terms.values["Rv_f_new"][0][f] + terms.values["Dv_f"][0][f])
           / (1 - g) ** 2 for f in range(K)]
    assert terms.values["penalty_v_avg"][0] == sum(p[f] * pen[f] for f in range(K))


def test_pair_tightness_is_the_largest_ratio():
    """Pair statements: slack at the smallest-slack pair, tightness the largest lhs/rhs over all pairs."""
    inst = random_instances(np.random.default_rng(5), 1, 3, 2, 3, 3, exact=True)[0]
    ev = evaluate(inst)
    terms = statement_terms(ev)
    for sid in ("G1", "G1r", "G1v", "G1vr"):
        st = get_statement(sid)
        out = st.evaluate(terms.for_statement(st), exact=True)
        K = inst.family.num_renderers
        lhs, rhs = np.broadcast_to(out.lhs, (K, K)), np.broadcast_to(out.rhs, (K, K))
        ratios = [lhs[j, k] / rhs[j, k] for j in range(K) for k in range(K) if j != k and rhs[j, k] != 0]
        slacks = [rhs[j, k] - lhs[j, k] for j in range(K) for k in range(K) if j != k]
        res = check_all(ev, [sid])[sid]
        assert res.tightness == max(ratios) and res.slack == min(slacks), sid


def test_tightest_bound_on_the_bandit_by_hand():
    """The bandit of test_bandit_by_hand: C1v's -1 beats C1's -17; on the gap G1 and G1v tie at 2 (R span/(1-gamma)
    = 1 * 1 / (1/2)), G1r and G1vr give 4."""
    t = tightest_bounds(statement_terms(evaluate(_bandit())))
    assert t.bounds["lower_bound_on_eta_test_new"] == {"C1": -17, "C1v": -1}
    assert t.bounds["upper_bound_on_rendering_gap"] == {"G1": 2, "G1r": 4, "G1v": 2, "G1vr": 4}
    assert t.winner("lower_bound_on_eta_test_new") == ["C1v"]
    assert t.winner("upper_bound_on_rendering_gap") == ["G1", "G1v"]
    tally = TightestTally.empty()
    tally.record(t)
    assert tally.best["upper_bound_on_rendering_gap"] == {"G1": 1, "G1r": 0, "G1v": 1, "G1vr": 0}
    assert tally.sole_best["upper_bound_on_rendering_gap"] == {"G1": 0, "G1r": 0, "G1v": 0, "G1vr": 0}
    assert tally.sole_best["lower_bound_on_eta_test_new"] == {"C1": 0, "C1v": 1}


def test_tightest_bound_batch_against_its_statements():
    """On a float batch, each bound is the statement's rhs (pair statements: their largest over j != k) and the winners are the argmax / argmin."""
    batch = random_instances(np.random.default_rng(21), 40, 3, 2, 3, 4)
    ev = evaluate(batch)
    terms = statement_terms(ev)
    t = tightest_bounds(terms)
    res = check_all(ev, ["C1", "C1v"])
    np.testing.assert_array_equal(t.bounds["lower_bound_on_eta_test_new"]["C1"], res["C1"].rhs)
    np.testing.assert_array_equal(t.bounds["lower_bound_on_eta_test_new"]["C1v"], res["C1v"].rhs)
    low = t.bounds["lower_bound_on_eta_test_new"]
    assert (t.best["lower_bound_on_eta_test_new"]["C1v"] == (low["C1v"] >= low["C1"] - 1e-9 * (1 + np.abs(low["C1v"])))).all()
    gap = t.bounds["upper_bound_on_rendering_gap"]
    # The orders proved in docs/theory.md: G1v <= G1, G1v <= G1vr <= G1r; and C1v >= C1.
    assert (gap["G1v"] <= gap["G1"] + 1e-12).all() and (gap["G1v"] <= gap["G1vr"] + 1e-12).all()
    assert (gap["G1vr"] <= gap["G1r"] + 1e-12).all() and (low["C1v"] >= low["C1"] - 1e-9).all()
    # The rendering gap itself is below every bound.
    eta = ev.pi.eta
    measured = np.abs(eta[:, :, None] - eta[:, None, :]).max(axis=(1, 2))
    for sid, b in gap.items():
        assert (measured <= b + 1e-9).all(), sid
