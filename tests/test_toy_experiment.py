"""The toy experiment's statement records and tightest-instance search, against independent computations."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

from toymdp import MDP, Instance, RenderingFamily, evaluate, instance_from_dict
from toymdp.checking.checks import check_statement
from toymdp.toy_example.toy import build_family, softmax_policy
from toymdp.toy_example.toy_experiment import SearchConfig, measure, run_tightest_search


def test_statement_records_belong_to_the_right_agent():
    """Each agent's C1/T1 (agent as pi~, peer as pi) and G1.test/G1 (agent as pi) as recorded along
    training, against the checker run on instances built here one by one."""
    toy = build_family()
    rng = np.random.default_rng(11)
    W1, W2 = (rng.normal(size=(3, toy.num_features, 2)) for _ in range(2))
    m = measure(toy, W1, W2, ("C1", "T1", "G1", "G1.test"))
    for n in range(3):
        p1, p2 = softmax_policy(toy.features, W1[n]), softmax_policy(toy.features, W2[n])
        for agent, (me, peer) in enumerate(((p1, p2), (p2, p1))):
            as_new = evaluate(toy.instance(peer, me))
            as_base = evaluate(toy.instance(me, peer))
            c1 = check_statement("C1", as_new)
            assert m["statements"]["C1"]["lhs"][n, agent] == pytest.approx(float(c1.lhs), rel=1e-12)
            assert m["statements"]["C1"]["rhs"][n, agent] == pytest.approx(float(c1.rhs), rel=1e-12)
            t1 = check_statement("T1", as_new)
            worst = int(np.argmin(t1.slack))
            assert m["statements"]["T1"]["slack"][n, agent] == pytest.approx(float(t1.slack[worst]), rel=1e-12)
            assert m["statements"]["T1"]["holds"][n, agent] == bool(np.all(t1.holds))
            for sid in ("G1", "G1.test"):
                ref = check_statement(sid, as_base)
                assert m["statements"][sid]["lhs"][n, agent] == pytest.approx(float(ref.lhs), rel=1e-12)
                assert m["statements"][sid]["rhs"][n, agent] == pytest.approx(float(ref.rhs), rel=1e-12)
            # G1.test's left-hand side is the agent's own test return.
            assert m["statements"]["G1.test"]["lhs"][n, agent] == pytest.approx(m["eta_test"][n, agent], rel=1e-12)


def test_g1_is_attained_by_a_two_action_bandit():
    """By hand: one state, gamma = 0, rewards (1, 0); renderer 1 shows observation 0, renderer 2
    observation 1; pi plays (3/4, 1/4) on observation 0 and (1/4, 3/4) on observation 1. Then
    eta_1 - eta_2 = 3/4 - 1/4 = 1/2, R = TV = 1/2, span_a Q = 1: G1's right-hand side is
    1/2 * 1 / (1 - 0) = 1/2, equal to the left-hand side, so the tightness ratio is exactly 1."""
    F = Fraction
    mdp = MDP([[[1], [1]]], [[1, 0]], [1], 0, exact=True)
    family = RenderingFamily([[[1, 0]], [[0, 1]]], ["1/2", "1/2"], [0], [1], exact=True)
    pi = [[F(3, 4), F(1, 4)], [F(1, 4), F(3, 4)]]
    res = check_statement("G1", evaluate(Instance(mdp, family, pi, pi)))
    assert res.lhs == F(1, 2) and res.rhs == F(1, 2)
    assert res.tightness == 1 and res.holds


def test_tightest_search_records_reproduce_exactly():
    """Each saved instance, read back from its JSON record and checked in exact arithmetic, gives the
    recorded tightness; a holding lower bound (T1) has ratio <= 1, and G1's ratio is lhs / rhs <= 1."""
    out = run_tightest_search(SearchConfig(num_states=(2,), gammas=(None, 0.9), restarts=1))
    assert set(out["results"]) == {"T1", "G1"}
    for sid, rows in out["results"].items():
        assert [r["gamma_setting"] for r in rows] == ["optimised", 0.9]
        for row in rows:
            inst = instance_from_dict(row["instance"]).to_exact()
            res = check_statement(sid, evaluate(inst))
            ratios = [float(t) for t in np.atleast_1d(res.tightness).tolist() if t is not None]
            assert max(ratios) == pytest.approx(row["tightness"], rel=1e-12)
            assert row["holds"] and row["tightness"] <= 1
            if row["gamma_setting"] == 0.9:
                assert row["gamma"] == pytest.approx(0.9, abs=1e-12)


# ---- figures: drawn from a tiny run, checked on the matplotlib Figure objects --------------------------------------

#: the direction of each inequality, written out by hand (docs/theory.md)
DIRECTIONS = {"C1": ">=", "G1.test": ">=", "T1": ">=", "G1": "<=", "G1r": "<="}


@pytest.fixture(scope="module")
def tiny_figures():
    """Every toy figure of a tiny run (two alphas, one family, a tiny search): stem -> Figure."""
    import matplotlib

    matplotlib.use("Agg")
    from repconv.plots.toy import figure_jobs
    from toymdp.toy_example.distillation import DistillationConfig
    from toymdp.toy_example.toy_experiment import ToyExperimentConfig, run_toy_experiment

    config = ToyExperimentConfig(families=("opposed",), alphas=(0.0, 0.3), seeds=2, gammas=(0.5, 0.9),
                                 train=DistillationConfig(steps=10, eval_every=5),
                                 search=SearchConfig(num_states=(2,), restarts=1))
    results = run_toy_experiment(config, progress=False)
    figures = {stem: draw() for stem, draw in figure_jobs(results)}
    yield results, figures
    import matplotlib.pyplot as plt

    plt.close("all")


def test_toy_figures_label_every_axis_and_state_each_direction(tiny_figures):
    _, figures = tiny_figures
    assert set(figures) == {"toy_training_curves_opposed", "toy_bounds_vs_R_opposed", "toy_bounds_vs_gamma_opposed",
                            "toy_tightest_instances"}
    titled = {}
    for stem, fig in figures.items():
        for ax in fig.axes:
            if ax.axison:
                assert ax.get_xlabel() and ax.get_ylabel(), (stem, ax.get_title())
                head = ax.get_title().split("\n")[0]
                if ":" in head:
                    titled.setdefault(head.split(":")[0], set()).update(re.findall(r" (>=|<=|==) ", head))
    # every statement drawn with its relation in the panel title; C1 and G1.test in both bound figures
    assert titled == {sid: {rel} for sid, rel in DIRECTIONS.items()}
    legend = [t.get_text() for t in figures["toy_tightest_instances"].axes[0].get_legend().get_texts()]
    assert legend == ["T1: eta_new >= L - penalty", "G1: |eta_j - eta_k| <= bound"]


def test_toy_figures_one_colour_and_label_per_alpha_with_open_markers(tiny_figures):
    import matplotlib.colors as mcolors

    _, figures = tiny_figures
    for ax in figures["toy_bounds_vs_R_opposed"].axes:
        clouds = [c for c in ax.collections if c.get_label().endswith("actual (o)")]
        assert [c.get_label() for c in clouds] == ["independent: actual (o)", "distilled, alpha=0.3: actual (o)"]
        edges = {mcolors.to_hex(c.get_edgecolor()[0]) for c in clouds}
        assert len(edges) == 2
        assert all(len(c.get_facecolor()) == 0 or c.get_facecolor()[0][3] == 0 for c in clouds)  # open circles
    curves = figures["toy_training_curves_opposed"].axes[0]
    lines = [ln for ln in curves.get_lines() if ln.get_label().startswith(("independent", "distilled"))]
    assert [ln.get_label() for ln in lines] == ["independent", "distilled, alpha=0.3"]
    assert len({mcolors.to_hex(ln.get_color()) for ln in lines}) == 2


def test_empty_toy_panel_says_why(tiny_figures):
    import copy

    from repconv.plots.toy import bounds_vs_gamma

    results, _ = tiny_figures
    results = copy.deepcopy(results)
    rec = results["families"]["opposed"]["gamma_sweep"]["statements"]["G1"]
    for side in ("lhs", "rhs"):
        rec[side]["mean"] = np.full_like(np.asarray(rec[side]["mean"], dtype=float), np.nan).tolist()
    fig = bounds_vs_gamma(results, "opposed")
    g1 = [ax for ax in fig.axes if ax.get_title().startswith("G1:")]
    assert [t.get_text() for t in g1[0].texts] == ["no finite value of G1 at any discount"]
    others = [ax for ax in fig.axes if ax.axison and not ax.get_title().startswith("G1:")]
    assert all(not ax.texts for ax in others)
