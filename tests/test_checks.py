"""Deciding statements on instances: hand-computed values, both engines, exact re-decision, shapes."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given

from repconv.cli import main
from theory.variants import VARIANTS
from toymdp import Instance, MDP, RenderingFamily, evaluate, instance_from_dict, load_instance
from toymdp.checking.checks import NotApplicableError, check_all, check_statement, default_ids
from toymdp.mdp.random_instances import random_instances
from toymdp.strategies import instances

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "two_renderers.json"
F = Fraction

# Two states, one renderer (the identity), gamma = 1/2. pi always plays a0 in state 0 (stay, reward 0),
# so state 1 is never visited by pi; pi~ moves to state 1 w.p. delta = 1/10 and then plays a1 (reward -1)
# where pi would play a0 (reward 1).
UNVISITED_STATE = {
    "P": [[[1, 0], [0, 1]], [[0, 1], [0, 1]]],
    "r": [[0, 0], [1, -1]], "rho0": [1, 0], "gamma": "1/2",
    "renderers": [[[1, 0], [0, 1]]], "test_weights": [1], "train": [0], "train_weights": [1],
    "policies": {"pi": [[1, 0], [1, 0]], "pi_tilde": [["9/10", "1/10"], [0, 1]]},
}


def _value(result, key="lhs"):
    return np.asarray(getattr(result, key)).reshape(-1)[0]


def test_unvisited_state_by_hand():
    """By hand (delta = 1/10, gamma = 1/2): V_pi(1) = 1/(1-gamma) = 2, eta(pi) = 0, A_pi(0, a1) = gamma * 2 = 1,
    A_pi(1, a1) = -1 + gamma*2 - 2 = -2, so eps = 2, L = rho_pi(0) * delta * 1 = 2/10 = 1/5;
    eta(pi~) = V~(0) with V~(1) = -2 and V~(0) = (1-delta) gamma V~(0) + delta gamma V~(1): -2 delta/(1+delta) = -2/11.
    T1: alpha = 1 (state 1), penalty 4*2*(1/2)*1/(1/4) = 16. T1c: epst = 2, sum rho TV = 2*delta = 1/5,
    penalty 2*(1/2)*2*(1/5)/(1/2) = 4/5. C1-reach and T1-mean see only state 0 (TV delta):
    penalty 16 delta^2 = 4/25, so their bound is 1/5 - 4/25 = 1/25 > -2/11: both fail."""
    ev = evaluate(instance_from_dict(UNVISITED_STATE, exact=True))
    res = check_all(ev, default_ids() + list(VARIANTS))
    assert _value(res["T1"]) == F(-2, 11) and _value(res["T1"], "rhs") == F(1, 5) - 16
    assert _value(res["T1c"], "rhs") == F(1, 5) - F(4, 5)
    assert _value(res["PDL"]) == F(-2, 11) == _value(res["PDL"], "rhs")
    assert _value(res["C1"], "rhs") == F(1, 5) - 16
    for sid in ("C1-reach", "T1-mean", "C1-mean"):
        assert _value(res[sid], "rhs") == F(1, 25), sid
        assert not res[sid].instance_holds(), sid
        assert _value(res[sid], "slack") == F(-2, 11) - F(1, 25)
    for sid in default_ids() + ["C1-reachAny", "T1-epsNew", "C1-epsNew", "C1-noSquare", "G1-reach"]:
        assert res[sid].instance_holds(), sid
    # Tightness of T1: (L - eta~)/penalty = (1/5 + 2/11)/16; L1 is tight (alpha = D_train = 1).
    assert _value(res["T1"], "tightness") == (F(1, 5) + F(2, 11)) / 16
    assert _value(res["L1"], "tightness") == 1


def _bandit(pi, gamma="1/2"):
    """One state, two actions with rewards 1 and 0; renderers show the state as observation 0 or 1."""
    return Instance(MDP([[[1], [1]]], [[1, 0]], [1], gamma),
                    RenderingFamily([[[1, 0]], [[0, 1]]], ["1/2", "1/2"], [0], [1]), pi, pi)


@pytest.mark.parametrize("pi, R", [([[1, 0], [0, 1]], 1), ([["3/4", "1/4"], ["1/4", "3/4"]], F(1, 2))])
def test_g1_is_an_equality_on_two_action_bandits(pi, R):
    """|eta_0 - eta_1| = |r . (pi_0 - pi_1)|/(1-gamma) = TV * span r /(1-gamma) = R span Q/(1-gamma)."""
    res = check_all(evaluate(_bandit(pi)), ["G1", "G1r", "G1r-1mg"])
    assert _value(res["G1"]) == 2 * R  # (R * 1) / (1/2)
    assert _value(res["G1"], "slack") == 0 and _value(res["G1"], "tightness") == 1
    assert _value(res["G1r"], "rhs") == 4 * R  # R (1 - 0) / (1/2)^2
    assert _value(res["G1r-1mg"], "slack") == 0


def test_example_file_statements_match_hand_values(tmp_path):
    out = tmp_path / "out.json"
    assert main(["eval", str(EXAMPLE), "--exact", "--json", str(out)]) == 0
    st = json.loads(out.read_text())["statements"]
    assert set(st) >= {"PDL", "T1", "T1c", "L1", "C1", "G1", "G1r", "G2"}
    # L1 by hand (see tests/test_instance_files.py): alpha = 1/4, 1/2; R(pi) + R(pi~) + D_train = 1/2 + 0 + 1/4.
    assert [(e["lhs"], e["rhs"], e["slack"], e["holds"]) for e in st["L1"]] == [("1/4", "3/4", "1/2", True), ("1/2", "3/4", "1/4", True)]
    assert [e["renderer"] for e in st["T1"]] == [0, 1] and len(st["G2"]) == 2
    assert st["G1"]["pair"] in ([0, 1], [1, 0]) and isinstance(st["C1"], dict)
    assert all(e["lhs"] == e["rhs"] for e in st["PDL"])
    # The float run gives the same decisions.
    out_f = tmp_path / "f.json"
    main(["eval", str(EXAMPLE), "--json", str(out_f)])
    st_f = json.loads(out_f.read_text())["statements"]
    assert st_f["C1"]["rhs"] == pytest.approx(float(Fraction(st["C1"]["rhs"])), rel=1e-12)
    assert [e["holds"] for e in st_f["T1"]] == [e["holds"] for e in st["T1"]]


def test_float_near_tie_is_redecided_exactly():
    """gamma = 0 makes T1 an equality (penalty 0, eta~ = L): floats cannot decide it; the exact engine does."""
    batch = random_instances(np.random.default_rng(5), 6, 3, 2, 2, 3, gamma=0.0)
    res = check_statement("T1", evaluate(batch))
    assert res.exact.all() and res.holds.all()
    assert (res.slack == 0).all()
    # Without re-decision the float results stay float-decided.
    raw = check_statement("T1", evaluate(batch), redecide_exactly=False)
    assert not raw.exact.any()


@given(instances(exact=True))
def test_float_and_exact_engines_agree(inst):
    ids = default_ids() + list(VARIANTS)
    exact = check_all(evaluate(inst), ids)
    approx = check_all(evaluate(inst.to_float()), ids)
    assert set(exact) == set(approx)
    for sid, e in exact.items():
        a = approx[sid]
        for name in ("lhs", "rhs", "slack"):
            np.testing.assert_allclose(np.asarray(getattr(a, name), dtype=float), np.asarray(getattr(e, name), dtype=float),
                                       rtol=1e-9, atol=1e-9, err_msg=f"{sid}.{name}")
        assert (a.holds == e.holds).all(), sid
        assert (a.vacuous == e.vacuous).all() or not a.exact.all(), sid


def test_batch_equals_one_by_one():
    batch = random_instances(np.random.default_rng(7), 9, 3, 2, 3, 4)
    ids = default_ids() + list(VARIANTS)
    together = check_all(evaluate(batch), ids)
    for i in range(len(batch)):
        alone = check_all(evaluate(batch[i]), ids)
        for sid in ids:
            np.testing.assert_allclose(together[sid].slack[i], alone[sid].slack, rtol=1e-12, atol=1e-12, err_msg=sid)
            if together[sid].pair is not None:
                assert (together[sid].pair[i] == alone[sid].pair).all() or np.isclose(together[sid].slack[i], 0).all()


def test_result_shapes():
    batch = random_instances(np.random.default_rng(8), 4, 3, 2, 3, 4)
    res = check_all(evaluate(batch))
    assert list(res) == default_ids()
    for sid in ("PDL", "T1", "T1c", "L1"):
        assert res[sid].slack.shape == (4, 3) and res[sid].pair is None
    assert res["G2"].slack.shape == (4, 3) and res["G2"].pair.shape == (4, 3, 2)
    assert (res["G2"].pair[..., 0] == np.arange(3)).all()
    for sid in ("G1", "G1r", "G1.eps"):
        assert res[sid].slack.shape == (4,) and res[sid].pair.shape == (4, 2)
    for sid in ("C1", "G1.test"):
        assert res[sid].slack.shape == (4,)


def test_variant_needing_held_out_renderer_does_not_apply():
    inst = load_instance(EXAMPLE, exact=True)
    everything_trains = Instance(inst.mdp, RenderingFamily(inst.family.renderers, inst.family.test_weights, [0, 1], ["1/2", "1/2"]),
                                 inst.pi, inst.pi_tilde)
    with pytest.raises(NotApplicableError, match="held-out renderer"):
        check_statement("C1-Dtest", evaluate(everything_trains))
    assert "C1-Dtest" not in check_all(evaluate(everything_trains), ["C1", "C1-Dtest"])
    assert check_statement("C1-Dtest", evaluate(inst)).holds


def test_vacuous_flag_against_smallest_return():
    """T1 on the example: renderer 1's bound is below r_min/(1-gamma) = 0 (vacuous); renderer 0's bound
    of T1c is 30510/361201 > 0 (not vacuous)."""
    res = check_all(evaluate(load_instance(EXAMPLE, exact=True)), ["T1", "T1c"])
    assert res["T1"].vacuous.tolist() == [True, True]
    assert res["T1c"].rhs[0] == F(30510, 361201) and res["T1c"].vacuous.tolist() == [False, True]
