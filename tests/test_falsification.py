"""Falsification: saved counterexamples replay exactly; the optimiser and ``repconv check`` find and report them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from repconv.cli import main
from toymdp import evaluate, load_instance
from toymdp.mdp import engine
from toymdp.checking.checks import check_all, check_statement, default_ids
from toymdp.mdp.statement_terms import statement_terms
from toymdp.checking.falsification import all_ids, run_checks, save_counterexamples
from toymdp.checking.search import OptimiserShape, _build, objective_values, optimise, optimise_runs

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


def _one_run(sid, objective, S, A, K, O, rng, iterations, population):
    """The optimiser's (1+lambda) strategy as one run on its own: the reference for the lockstep runs.

    Returns ``None`` when the statement does not apply (after the first population is drawn, as the
    search did when its first evaluation failed), else ``(instance, value, result)``.
    """
    T = max(1, K // 2)
    shapes = {"P": (S, A, S), "rho0": (S,), "r": (S, A), "gamma": (), "renderers": (K, S, O), "test_weights": (K,),
              "train_weights": (T,), "pi": (O, A), "pi_tilde": (O, A)}

    def score(theta):
        ev = evaluate(_build(theta, T, 0.01, None, None))
        res = check_all(ev, [sid], redecide_exactly=False, terms=statement_terms(ev))
        if sid not in res:
            return None
        vals = objective_values(res[sid], objective)
        return np.where(np.isnan(vals), np.inf, vals)

    theta = {k: rng.normal(0, 2.0, (population,) + s) for k, s in shapes.items()}
    vals = score(theta)
    if vals is None:
        return None
    i = int(np.argmin(vals))
    cur, cur_val, step = {k: v[i] for k, v in theta.items()}, float(vals[i]), 1.0
    for _ in range(iterations):
        theta = {k: v[None] + step * rng.normal(0, 1, (population,) + v.shape) for k, v in cur.items()}
        for k in theta:
            theta[k][0] = cur[k]
        vals = score(theta)
        i = int(np.argmin(vals))
        if vals[i] < cur_val:
            cur, cur_val, step = {k: v[i] for k, v in theta.items()}, float(vals[i]), min(step * 1.3, 4.0)
        else:
            step = max(step * 0.8, 0.02)
    inst = _build({k: v[None] for k, v in cur.items()}, T, 0.01, None, None)[0]
    return inst, cur_val, check_statement(sid, evaluate(inst))


def test_optimiser_runs_in_lockstep_as_one_after_another():
    """Runs of one shape advanced together draw, find and decide what the runs one after another do.

    C1-Dtest needs a held-out renderer: with K = 1 it does not apply, and its run only draws its first population.
    """
    shapes = [(2, 2, 2, 2), (3, 2, 1, 3), (3, 2, 2, 3)]
    runs = [(sid, objective, shape) for sid, objective in [("G1", "tightness"), ("C1-Dtest", "tightness"),
                                                            ("PDL", "slack"), ("G1r-1mg", "tightness")]
            for shape in shapes]
    reference_rng, lockstep_rng = np.random.default_rng(5), np.random.default_rng(5)
    with engine.float_solver("numpy"):  # as the optimiser solves
        expected = [_one_run(sid, obj, *shape, reference_rng, 6, 8) for sid, obj, shape in runs]
    found = optimise_runs([(sid, obj, OptimiserShape(*shape)) for sid, obj, shape in runs], lockstep_rng,
                          iterations=6, population=8)
    assert reference_rng.random() == lockstep_rng.random()  # the same draws, in the same order
    assert [f is None for f in found] == [e is None for e in expected]
    assert [sid for (sid, _, shape), e in zip(runs, expected) if e is None] == ["C1-Dtest"]
    for (sid, _, _), f, e in zip(runs, found, expected):
        if e is None:
            continue
        inst, value, result = e
        assert f.value == value, sid
        for name in ("P", "r", "rho0", "gamma"):
            np.testing.assert_array_equal(getattr(f.instance.mdp, name), getattr(inst.mdp, name))
        for name in ("renderers", "test_weights", "train_weights"):
            np.testing.assert_array_equal(getattr(f.instance.family, name), getattr(inst.family, name))
        np.testing.assert_array_equal(f.instance.pi, inst.pi)
        np.testing.assert_array_equal(f.instance.pi_tilde, inst.pi_tilde)
        for name in ("slack", "lhs", "rhs", "holds", "exact"):
            np.testing.assert_array_equal(getattr(f.result, name), getattr(result, name))
        np.testing.assert_array_equal(np.asarray(f.result.tightness, dtype=float), np.asarray(result.tightness, dtype=float))
        assert f.evaluations == 7 * 8


def test_optimise_does_not_apply_without_a_held_out_renderer():
    with pytest.raises(ValueError, match="C1-Dtest does not apply to instances with K=1"):
        optimise("C1-Dtest", "tightness", 2, 2, 1, 2, restarts=2, rng=np.random.default_rng(0), iterations=2, population=4)


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


def test_worker_processes_decide_the_random_batches_as_this_process_does():
    """Batches drawn here and decided in two worker processes give the same tallies, counterexample
    examples and tightest-bound counts as deciding them in this process (exact kinds included); the report
    records the processes used (automatic: this process alone for fewer than 32 batches)."""
    kw = dict(seed=5, batch_size=16, restarts=0, hypothesis_examples=0, progress=False)
    here = run_checks(200, workers=1, **kw)
    apart = run_checks(200, workers=2, **kw)
    assert here.config["workers"] == 1 and apart.config["workers"] == 2
    assert here.config["worker_processes"] == 1 and apart.config["worker_processes"] == 2
    assert here.tightest.to_json() == apart.tightest.to_json()
    for sid, tally in here.tallies.items():
        other = apart.tallies[sid]
        assert tally.to_json() == other.to_json(), sid
        assert tally.random_min_slack == other.random_min_slack, sid
        assert (tally.example is None) == (other.example is None), sid
    assert run_checks(64, workers=0, **kw).config["worker_processes"] == 1  # 4 batches
    with pytest.raises(ValueError, match="workers"):
        run_checks(10, workers=-1, **kw)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers fork on Linux only")
def test_worker_processes_start_from_a_script_read_on_standard_input():
    """Forked workers do not re-import the calling script: run_checks with workers works from ``python -``
    (spawned workers would try to run a file named <stdin>) and from a script without a __main__ guard."""
    script = "from toymdp.checking.falsification import run_checks\n" \
             "r = run_checks(64, seed=1, batch_size=8, workers=2, restarts=0, hypothesis_examples=0, progress=False)\n" \
             "print(r.tallies['G1'].instances)\n"
    done = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["64"]


def _children(pid: int) -> list[str]:
    tasks = Path(f"/proc/{pid}/task")
    return [c for t in tasks.iterdir() for c in (t / "children").read_text().split()] if tasks.exists() else []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers fork on Linux only")
def test_ctrl_c_stops_the_workers_and_says_nothing_was_written(tmp_path):
    """Ctrl-C (SIGINT to the process group) while worker processes decide batches: one line, exit status 130, no
    traceback from the workers, no process left, no output file."""
    import signal
    import time

    out = tmp_path / "check.json"
    cmd = [sys.executable, "-m", "repconv", "check", "--n", "100000", "--workers", "2", "--restarts", "0",
           "--hypothesis", "0", "--no-progress", "--json", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            cwd=Path(__file__).resolve().parents[1])
    deadline = time.monotonic() + 120
    while len(_children(proc.pid)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    workers = _children(proc.pid)
    assert len(workers) >= 2, "the workers did not start"
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted before the checks finished; nothing was written" in err and "Traceback" not in err, err
    assert not out.exists()
    assert not any(Path(f"/proc/{w}").exists() for w in workers)


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
    from toymdp.checking.search import random_batch
    from toymdp.mdp.statement_terms import statement_terms

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
    from toymdp.checking.search import random_batch

    batch = random_batch(np.random.default_rng(2), "reach_only_new", 24, exact=True)
    assert batch.exact
    ev = evaluate(batch)
    assert all(x == 0 for x in ev.pi.rho[..., -1].ravel()) and all(x > 0 for x in ev.pi_tilde.rho[..., -1].ravel())
    res = check_all(ev, ["C1-reach", "C1"])
    assert (~res["C1-reach"].instance_holds()).any()
    assert res["C1"].instance_holds().all()
