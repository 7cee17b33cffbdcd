"""Bounds with estimated terms: the right estimate reaches the right quantity (values computed by hand)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("theory.statements")

from procgen_checks.bounds import bounds_for_records  # noqa: E402


def _record(label, R, eta_train, eta_test, eps_mc, gammas=(0.5, 0.9)):
    return {
        "label": label,
        "R_hat": {"all_renderers": R},
        "reward_range": {"r_min": 0.0, "r_max": 10.0, "source": "given"},
        "eps": {
            "critic": None,
            "monte_carlo": {"eps": eps_mc},
            "reward_range_bound": None,
            "by_gamma": {"gammas": list(gammas), "monte_carlo": [eps_mc] * len(gammas), "reward_range_bound": [None] * len(gammas)},
        },
        "returns": {"discounted": {"gammas": list(gammas), "train": [eta_train] * len(gammas), "test": [eta_test] * len(gammas),
                                   "gap": [eta_train - eta_test] * len(gammas)}},
    }


def test_bound_rows_by_hand():
    recs = [_record("pi", 0.1, 5.0, 4.5, 2.0), _record("pi~", 0.05, 6.0, 5.0, 1.0)]
    pairs = [{"a": 0, "b": 1, "d_train": {"max": 0.05}}]
    out = bounds_for_records(recs, pairs, SimpleNamespace(gamma=0.5))
    rows = {r["statement"]: r for r in out[0]["at_gamma"]}
    # G1r: R (r_max - r_min) / (1-gamma)^2 = 0.1 * 10 / 0.25 = 4 <= return range 10 / 0.5 = 20: not vacuous
    assert rows["G1r"]["bound"] == pytest.approx(4.0) and rows["G1r"]["measured"] == pytest.approx(0.5)
    assert rows["G1r"]["vacuous"] is False and rows["G1r"]["holds"] is True
    # G1.test: eta_train - 2 eps R / (1-gamma) = 5 - 2 * 2 * 0.1 / 0.5 = 4.2 above r_min/(1-gamma) = 0
    assert rows["G1.test"]["bound"] == pytest.approx(4.2) and rows["G1.test"]["measured"] == pytest.approx(4.5)
    assert rows["G1.test"]["vacuous"] is False and rows["G1.test"]["holds"] is True
    # C1 with pi~ = the other record: L_avg at its best r_max/(1-gamma) = 20, penalty
    # 4 eps gamma (R + R~ + D)^2 / (1-gamma)^2 = 4 * 2 * 0.5 * 0.2^2 / 0.25 = 0.64 -> 19.36; measured eta_test(pi~) = 5
    assert rows["C1"]["bound"] == pytest.approx(19.36) and rows["C1"]["measured"] == pytest.approx(5.0)
    assert rows["C1"]["vacuous"] is False and rows["C1"]["pi_tilde"] == "pi~"


def test_long_horizons_make_the_bounds_vacuous():
    recs = [_record("pi", 0.1, 5.0, 4.5, 2.0, gammas=(0.5, 0.9, 0.95))]
    out = bounds_for_records(recs, [], SimpleNamespace(gamma=0.95))[0]
    g1r = {r["statement"]: r for r in out["at_gamma"]}["G1r"]
    # gamma = 0.95: 0.1 * 10 / 0.05^2 = 400 > return range 10 / 0.05 = 200: vacuous
    assert g1r["bound"] == pytest.approx(400.0) and g1r["vacuous"] is True
    curves = out["by_gamma"]
    assert curves["gammas"] == [0.5, 0.9, 0.95]
    # gamma = 0.9: 100, exactly the return range 100: not beyond it, so not vacuous (strict, as the toy checks)
    assert curves["curves"]["G1r"] == pytest.approx([4.0, 100.0, 400.0])
    assert curves["return_range"] == pytest.approx([20.0, 100.0, 200.0])
    # G1.test drawn as the implied bound on the gap: 2 eps R / (1-gamma) = 0.8, 4 and 8
    assert curves["curves"]["G1.test [eps: monte_carlo]"] == pytest.approx([0.8, 4.0, 8.0])


def test_rendering_gap_bounds_by_hand():
    from procgen_checks.bounds import rendering_gap_bounds

    gammas = [0.5, 0.9, 0.99]
    rec = {
        "game_reward_range": {"r_min": 0.0, "r_max": 10.0, "source": "given"},
        "rendering_gap": {"randconv": {"test": {
            "by_gamma": {"gammas": gammas, "eta_ref": [4.0, 20.0, 50.0], "eta_k": [3.0, 10.0, 30.0],
                         "gap": [1.0, 10.0, 20.0], "ci": [[0.5, 1.5], [2.0, 18.0], [-5.0, 45.0]]},
            "tv_max": 0.8}}},
        "Rv_hat": {"randconv": {"test": {"gammas": gammas, "upper": [0.1, 0.05, 0.02]}}},
    }
    rows = rendering_gap_bounds(rec)["per_renderer"]["randconv"]["test"]
    # G1vr: Rv_upper (r_max - r_min) / (1 - gamma)^2 = 0.1 * 10 / 0.25 = 4; 0.05 * 10 / 0.01 = 50; 0.02 * 10 / 1e-4 = 2000
    assert rows["G1vr"]["bound"] == pytest.approx([4.0, 50.0, 2000.0])
    # return range 10 / (1 - gamma) = 20, 100, 1000: informative at 0.5 and 0.9, not at 0.99
    assert rows["return_range"] == pytest.approx([20.0, 100.0, 1000.0])
    assert rows["G1vr"]["informative"] == [True, True, False] and rows["G1vr"]["largest_informative_gamma"] == 0.9
    # G1r with R = 0.8: 32, 800, 80000 -> informative at no gamma of the grid
    assert rows["G1r"]["bound"] == pytest.approx([32.0, 800.0, 80000.0]) and rows["G1r"]["largest_informative_gamma"] is None
    assert rows["G1vr"]["held"] == [True, True, True] and rows["G1vr"]["all_held"] is True
    # a gap whose whole interval lies above the bound is a violation
    rec["rendering_gap"]["randconv"]["test"]["by_gamma"]["ci"][0] = [4.5, 6.0]
    rows = rendering_gap_bounds(rec)["per_renderer"]["randconv"]["test"]
    assert rows["G1vr"]["held"][0] is False and rows["G1vr"]["all_held"] is False
