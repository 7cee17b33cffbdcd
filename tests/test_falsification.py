"""Falsification: saved counterexamples replay exactly; the optimiser and ``repconv check`` find and report them."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from repconv.cli import main
from toymdp import evaluate, load_instance
from toymdp.checks import check_all, check_statement, default_ids
from toymdp.falsification import all_ids, run_checks, save_counterexamples
from toymdp.search import optimise

COUNTEREXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples" / "counterexamples").glob("*.json"))


def test_counterexample_files_exist():
    assert {p.stem for p in COUNTEREXAMPLES} >= {"T1-mean", "C1-mean", "G1r-1mg", "C1-reach"}


@pytest.mark.parametrize("path", COUNTEREXAMPLES, ids=lambda p: p.stem)
def test_counterexample_replays_exactly(path):
    """The saved instance makes its variant fail with the recorded exact slack, while every statement holds."""
    record = json.loads(path.read_text())["counterexample"]
    inst = load_instance(path, exact=True)
    results = check_all(evaluate(inst), default_ids() + [record["statement"]])
    res = results[record["statement"]]
    assert not np.all(res.instance_holds())
    slack = res.slack if record["renderer"] is None else res.slack[record["renderer"]]
    assert slack == Fraction(record["slack"]) < 0
    for sid in default_ids():
        assert np.all(results[sid].instance_holds()), sid


def test_optimiser_finds_g1r_one_minus_gamma_counterexample():
    found = optimise("G1r-1mg", "tightness", 3, 2, 2, 3, restarts=1, rng=np.random.default_rng(0), iterations=15, population=16)
    assert found.result.exact and not found.result.holds  # decided exactly
    assert found.value < -1  # tightness ratio above 1
    assert not check_statement("G1r-1mg", evaluate(found.instance.to_exact())).holds


def test_optimiser_maximises_tightness_of_a_true_statement():
    found = optimise("G1", "tightness", 2, 2, 2, 2, restarts=1, rng=np.random.default_rng(1), iterations=10, population=16)
    assert found.result.holds and -1 <= found.value < 0  # a ratio in (0, 1]: tight, never above 1


def test_optimiser_where_the_objective_is_undefined():
    """One renderer: G1 compares a rendering with itself (0 <= 0), its tightness ratio is undefined everywhere."""
    found = optimise("G1", "tightness", 2, 2, 1, 2, restarts=2, rng=np.random.default_rng(2), iterations=2, population=4)
    assert found.result.holds and found.result.slack == 0 and found.value == np.inf


def test_run_checks_finds_no_counterexample_to_the_statements(tmp_path):
    report = run_checks(120, seed=3, restarts=1, iterations=4, population=8, hypothesis_examples=10, progress=False)
    assert list(report.tallies) == all_ids()
    for sid in default_ids():
        t = report.tallies[sid]
        assert t.instances == 120 and t.holds == 120 and t.total_counterexamples == 0, sid
        assert t.searched["hypothesis"] == 10 and t.searched["optimiser"] > 0
    written = save_counterexamples(report, tmp_path)
    for path in written:  # whatever was found replays
        rec = json.loads(path.read_text())["counterexample"]
        res = check_statement(rec["statement"], evaluate(load_instance(path, exact=True)))
        assert not np.all(res.instance_holds())


def test_smoke_check_command(tmp_path):
    out = tmp_path / "check.json"
    code = main(["check", "--n", "40", "--restarts", "0", "--hypothesis", "0", "--no-progress", "--json", str(out),
                 "--ids", "T1,C1,C1-reach"])
    assert code == 0
    rec = json.loads(out.read_text())
    assert [r["id"] for r in rec["statements"]] == ["T1", "C1"] and [r["id"] for r in rec["variants"]] == ["C1-reach"]
    assert rec["statements"][0]["instances"] == 40 and rec["run_metadata"]["config"]["n"] == 40
    assert {"holds", "min_slack", "median_tightness", "pct_vacuous", "counterexamples"} <= set(rec["statements"][0])


def test_check_command_rejects_unknown_id(capsys):
    assert main(["check", "--ids", "T9", "--no-progress"]) == 2
    assert "unknown ID 'T9'" in capsys.readouterr().err


def test_reach_only_new_kind_refutes_c1_reach_and_keeps_its_structure():
    """The structured kind: pi never visits the last state (R over pi's visited states is 0, the renderers agree
    there), pi~ does; C1-reach fails on some instances (decided exactly), while C1, C1v and C1-reachAny hold."""
    from toymdp.search import random_batch
    from toymdp.statement_terms import statement_terms

    batch = random_batch(np.random.default_rng(0), "reach_only_new", 64)
    ev = evaluate(batch)
    terms = statement_terms(ev)
    assert (np.asarray(terms.values["R_pi_reach"][0]) == 0).all() and (np.asarray(terms.values["R_new_reach"][0]) == 0).all()
    assert (np.abs(ev.pi.rho[..., -1]) < 1e-12).all() and (ev.pi_tilde.rho[..., -1] > 1e-6).all()
    res = check_all(ev, ["C1-reach", "C1", "C1v", "C1-reachAny"])
    failed = ~res["C1-reach"].instance_holds() & res["C1-reach"].instance_exact()
    assert failed.any()
    for sid in ("C1", "C1v", "C1-reachAny"):
        assert res[sid].instance_holds().all(), sid


def test_check_fails_on_a_counterexample_to_a_proved_variant(monkeypatch, capsys):
    """A proved variant is checked like a statement: a counterexample makes the exit status 1, an unproved one does not."""
    import dataclasses

    from theory import variants

    bogus = dataclasses.replace(variants.VARIANTS["G1r-1mg"], proved=True)
    monkeypatch.setitem(variants.VARIANTS, "G1r-1mg", bogus)
    args = ["check", "--n", "300", "--restarts", "0", "--hypothesis", "0", "--no-progress", "--ids", "G1r-1mg"]
    assert main(args) == 1
    assert "PROVED, yet counterexample" in capsys.readouterr().out
    monkeypatch.setitem(variants.VARIANTS, "G1r-1mg", dataclasses.replace(bogus, proved=False))
    assert main(args) == 0


def test_reach_only_new_kind_drawn_exactly_keeps_its_structure():
    """`repconv check --exact` draws this kind as rationals: pi's exact visitation of the last state is exactly 0,
    pi~'s is positive, and C1-reach is refuted on some instance with no tolerance."""
    from toymdp.search import random_batch

    batch = random_batch(np.random.default_rng(2), "reach_only_new", 24, exact=True)
    assert batch.exact
    ev = evaluate(batch)
    assert all(x == 0 for x in ev.pi.rho[..., -1].ravel()) and all(x > 0 for x in ev.pi_tilde.rho[..., -1].ravel())
    res = check_all(ev, ["C1-reach", "C1"])
    assert (~res["C1-reach"].instance_holds()).any()
    assert res["C1"].instance_holds().all()
