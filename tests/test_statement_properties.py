"""Property tests: every statement holds on generated instances, with both engines and on each edge case.

Float instances are decided with exact re-decision of anything within round-off of failing, so a
failure here is an exact counterexample, not round-off. The edge cases also have values known
independently (R = 0, alpha = 0, gamma = 0 make terms vanish), checked exactly.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from toymdp import MDP, Instance, evaluate
from toymdp.checking.checks import check_all, default_ids
from toymdp.mdp import engine
from toymdp.mdp.statement_terms import statement_terms
from toymdp.strategies import instances, mdps

EDGE_CASES = {
    "generic": {},
    "deterministic_renderers": dict(deterministic_renderers=True),
    "single_renderer": dict(num_renderers=1),
    "identical_renderers": dict(identical_renderers=True),
    "same_policy": dict(same_policy=True),
    "gamma_zero": dict(gamma=0),
    "deterministic_policies": dict(deterministic_policies=True),
}


def _all_hold(inst):
    results = check_all(evaluate(inst))
    assert list(results) == default_ids()
    failing = {sid: r for sid, r in results.items() if not np.all(r.instance_holds())}
    assert not failing, {sid: (r.lhs, r.rhs, r.slack) for sid, r in failing.items()}
    return results


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "float"])
@pytest.mark.parametrize("case", list(EDGE_CASES))
@given(data=st.data())
def test_every_statement_holds(case, exact, data):
    kwargs = dict(EDGE_CASES[case])
    if "gamma" in kwargs and not exact:
        kwargs["gamma"] = 0.0
    inst = data.draw(instances(exact=exact, **kwargs))
    results = _all_hold(inst)
    if exact:
        _edge_case_values(case, results)


def _edge_case_values(case, res):
    """Values that follow from the edge case alone, independently of the statements' formulas."""
    if case in ("identical_renderers", "single_renderer"):
        assert (res["G1"].lhs == 0).all() and (res["G1"].rhs == 0).all()  # R = 0 and every rendering is the same policy
        assert (res["G2"].lhs == res["G2"].rhs).all()  # eta_j = L_{pi_k}(pi_j) = eta_k when pi_j = pi_k
    if case == "same_policy":
        assert (res["T1"].lhs == res["T1"].rhs).all() and (res["PDL"].lhs == 0).all()  # alpha = 0: L = eta
    if case == "gamma_zero":
        for sid in ("T1", "T1c", "C1"):
            assert (res[sid].slack == 0).all(), sid  # no penalty, and eta~ = L when gamma = 0


@given(instances(exact=True, num_states=st.integers(1, 4)), st.data())
def test_unreachable_states(inst, data):
    """rho0 on one state and deterministic transitions: some states are never visited, by either policy."""
    S = inst.mdp.num_states
    mdp = data.draw(mdps(S, inst.mdp.num_actions, exact=True, deterministic=True))
    start = np.array([Fraction(int(s == 0)) for s in range(S)], dtype=object)
    inst = Instance(MDP(mdp.P, mdp.r, start, mdp.gamma), inst.family, inst.pi, inst.pi_tilde)
    _all_hold(inst)


@given(instances(exact=True))
def test_t1c_hypotheses_and_penalty_order(inst):
    """epst <= 2 alpha eps_f and sum rho TV <= alpha/(1-gamma), hence T1c's penalty <= T1's (exactly)."""
    terms = statement_terms(evaluate(inst))
    v = {k: np.asarray(x) for k, (x, _) in terms.values.items()}
    gamma = v["gamma"][()]
    assert (v["epst"] <= 2 * v["alpha"] * v["eps_f"]).all()
    assert (v["tv_visits"] <= v["alpha"] / (1 - gamma)).all()
    res = check_all(evaluate(inst), ["T1", "T1c"])
    # Both bounds are L minus a penalty: T1c's rhs >= T1's rhs is T1c's penalty <= T1's.
    assert (res["T1c"].rhs >= res["T1"].rhs).all()


@given(instances(exact=True))
def test_span_of_q_within_reward_range(inst):
    ev = evaluate(inst)
    gamma = inst.mdp.gamma
    bound = (inst.mdp.r.max() - inst.mdp.r.min()) / (1 - gamma)
    assert (engine.q_span(ev.pi.Q) <= bound).all()


@given(instances(exact=True))
def test_surrogate_gap_in_both_policies_values(inst):
    """The identity behind T1-epsNew (eps of the new policy):
    L_pi(pi~) - eta(pi~) = gamma sum_s rho_pi(s) sum_a (pi - pi~)(s, a) P(s, a) . (V_pi~ - V_pi), per renderer."""
    ev = evaluate(inst)
    base, new = ev.pi, ev.pi_tilde
    zero_r = np.zeros(inst.mdp.r.shape, dtype=object)
    zero_r[...] = Fraction(0)
    gamma = np.asarray(inst.mdp.gamma)[..., None]
    next_gap = engine.q_values(inst.mdp.P, zero_r, gamma, new.V - base.V)  # gamma P(s, a) . (V~ - V)
    rhs = (base.rho * engine.expected_advantage(next_gap, base.sigma - new.sigma)).sum(axis=-1)
    assert (ev.L - new.eta == rhs).all()
