"""Checking every statement and variant at scale, and searching for counterexamples.

:func:`run_checks` is what ``repconv check`` runs. Three searches, each deciding every statement,
part and variant:

* **random**: ``n`` random instances of mixed shapes and edge cases (:func:`toymdp.checking.search.random_batches`),
  in float64 batches (exact re-decision of near ties and failures) or, with ``exact=True``, exactly;
* **optimiser**: for each ID, :func:`toymdp.checking.search.optimise_runs` maximises the tightness ratio (a ratio
  above 1 is a violation; PDL, which has none, minimises its slack) over a few small shapes;
* **hypothesis**: the strategies of :mod:`toymdp.strategies` (edge cases included) with hypothesis'
  targeted search pushing every ID towards a violation.

A counterexample is an instance on which a statement fails when decided exactly. For each ID the
smallest one found (fewest states, renderers, observations, then most negative slack) is kept and can
be saved as an instance file (:func:`save_counterexamples`), rounded to small denominators when the
rounded instance still fails exactly.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial, wraps
from pathlib import Path
from typing import Any

import numpy as np

from common.files import atomic_write_json
from theory.registry import get_statement

from ..config import CheckConfig
from ..mdp import engine
from ..mdp.evaluation import Evaluation, evaluate, flint_evaluation
from ..mdp.instance_io import instance_to_dict
from ..mdp.model import Instance
from ..mdp.numbers import flint_enabled, format_number, use_flint
from ..mdp.statement_terms import StatementTerms, flint_statement_terms, statement_terms
from .checks import CheckResult, check_all, default_ids
from .hypothesis_search import hypothesis_search
from .search import OptimiserShape, optimise_runs, random_batch_plan, random_batches
from .tightest import QUESTIONS, TightestBounds, TightestTally, tightest_bounds

__all__ = [
    "METHODS",
    "CheckConfig",
    "Tally",
    "CheckReport",
    "all_ids",
    "run_checks",
    "exact_counterexample",
    "save_counterexamples",
]

METHODS = ("random", "optimiser", "hypothesis")

#: Shapes ``(S, A, K, O)`` the optimiser searches, one restart each, in this order.
OPTIMISER_SHAPES = (
    (2, 2, 2, 2),
    (3, 2, 2, 3),
    (3, 2, 3, 3),
    (4, 2, 2, 4),
    (2, 3, 2, 3),
    (3, 2, 1, 3),
    (5, 2, 3, 5),
    (4, 3, 2, 4),
)


def all_ids() -> list[str]:
    """Every statement (with its parts), then every variant."""
    from theory.variants import VARIANTS

    return default_ids() + list(VARIANTS)


@dataclass
class Counterexample:
    """A failing instance (float instances are re-decided exactly when saved) and how it was found."""

    instance: Instance
    slack: float
    method: str

    def size_key(self) -> tuple:
        m, f = self.instance.mdp, self.instance.family
        return (m.num_states, f.num_renderers, f.num_observations, m.num_actions, self.slack)


@dataclass
class Tally:
    """Everything ``repconv check`` reports for one statement, part or variant."""

    statement_id: str
    kind: str
    searched: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))
    counterexamples: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))
    float_violations: int = 0  #: failures beyond round-off left float-decided (over the re-decision cap)
    instances: int = 0  #: random instances the statement applies to
    holds: int = 0  #: random instances on which it holds (for every renderer or pair)
    min_slack: float = float("inf")  #: over every search
    min_slack_method: str = ""
    random_min_slack: float = float("inf")  #: over the random instances only
    max_tightness: float = float("-inf")  #: over every search
    elements: int = 0  #: random (instance, renderer) results
    vacuous: int = 0
    tightness: list[np.ndarray] = field(default_factory=list)  #: finite tightness ratios of the random search
    example: Counterexample | None = None

    @property
    def total_searched(self) -> int:
        return sum(self.searched.values())

    @property
    def total_counterexamples(self) -> int:
        return sum(self.counterexamples.values())

    def tightness_quantile(self, q: float) -> float:
        """Quantile of the finite tightness ratios of the random search (NaN when there are none)."""
        values = np.concatenate(self.tightness) if self.tightness else np.zeros(0)
        return float(np.quantile(values, q)) if values.size else float("nan")

    def median_tightness(self) -> float:
        return self.tightness_quantile(0.5)

    def share_first_order_suffices(self) -> float:
        """Share of finite tightness ratios <= 0: the first-order term alone already bounds the left side."""
        values = np.concatenate(self.tightness) if self.tightness else np.zeros(0)
        return float((values <= 0).mean()) if values.size else float("nan")

    def record(self, method: str, result: CheckResult, instances: Callable[[int], Instance], *, random: bool) -> None:
        """Add the results of one batch (``instances(i)`` gives instance ``i``)."""
        holds, exact = np.atleast_1d(result.instance_holds()), np.atleast_1d(result.instance_exact())
        slack = np.atleast_1d(np.asarray(result.instance_slack(), dtype=float))
        tight = np.asarray(result.tightness, dtype=float).reshape(len(holds), -1)
        self.searched[method] += len(holds)
        failed = ~holds & exact
        self.counterexamples[method] += int(failed.sum())
        self.float_violations += int((~holds & ~exact).sum())
        if slack.size and slack.min() < self.min_slack:
            self.min_slack, self.min_slack_method = float(slack.min()), method
        finite = tight[np.isfinite(tight)]
        if finite.size:
            self.max_tightness = max(self.max_tightness, float(finite.max()))
        if random:
            if slack.size:
                self.random_min_slack = min(self.random_min_slack, float(slack.min()))
            self.instances += len(holds)
            self.holds += int(holds.sum())
            self.elements += tight.size
            self.vacuous += int(np.asarray(result.vacuous, dtype=bool).sum())
            self.tightness.append(finite)
        for i in np.flatnonzero(failed):
            candidate = Counterexample(instances(int(i)), float(slack[i]), method)
            if self.example is None or candidate.size_key() < self.example.size_key():
                self.example = candidate

    def to_json(self) -> dict[str, Any]:
        finite = lambda x: x if np.isfinite(x) else None  # noqa: E731
        return {
            "id": self.statement_id,
            "kind": self.kind,
            "provenance": get_statement(self.statement_id).provenance,
            "instances": self.instances,
            "holds": self.holds,
            "min_slack": finite(self.min_slack),
            "min_slack_method": self.min_slack_method or None,
            "median_tightness": finite(self.median_tightness()),
            "tightness_q90": finite(self.tightness_quantile(0.9)),
            "tightness_q99": finite(self.tightness_quantile(0.99)),
            "share_tightness_at_most_0": finite(self.share_first_order_suffices()),
            "max_tightness": finite(self.max_tightness),
            "pct_vacuous": 100.0 * self.vacuous / self.elements if self.elements else None,
            "counterexamples": self.total_counterexamples,
            "counterexamples_by_method": dict(self.counterexamples),
            "float_violations_not_redecided": self.float_violations,
            "searched": dict(self.searched),
            "instances_searched": self.total_searched,
        }


@dataclass
class CheckReport:
    tallies: dict[str, Tally]
    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  #: wall time of each search
    tightest: TightestTally | None = None  #: which proved statement is tightest on the random instances


def _kind(sid: str) -> str:
    s = get_statement(sid)
    return "variant" if s.provenance == "variant" else ("part" if s.parent else "statement")


def _always(instance: Instance) -> Callable[[int], Instance]:
    """The example getter of a tally for one found instance (every index gives it)."""
    return lambda i: instance


def _progress(iterable: Iterable | None = None, **kw: Any) -> Any:
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)


def _decide_batch(
    batch: Instance, ids: list[str], max_redecide: int, questions: tuple[str, ...]
) -> tuple[dict[str, CheckResult], TightestBounds | None]:
    """Every ID decided on one random batch, and which proved statement is tightest on it, reduced to what the
    tallies read: the numbers as floats (each exact value rounded to nearest, the floats :meth:`Tally.record` would
    compute from fractions; rounding keeps the order, so minima agree) and no bound values. Exact fractions cost
    about as much to pickle back from a worker process as a fifth of deciding an exact batch, and building them as
    much again."""
    ev, terms = _evaluation_and_terms(batch)
    results = check_all(ev, ids, max_violations=max_redecide, terms=terms, floats=True)
    if not questions:
        return results, None
    bounds = tightest_bounds(terms, questions)
    return results, TightestBounds({}, bounds.defined, bounds.best)


#: Batches per worker process kept in flight (enough to keep every worker busy, few enough to bound memory).
_IN_FLIGHT = 3
#: With ``workers=0``, a run of fewer random batches than this decides them in its own process (starting
#: worker processes costs about a second each).
_MIN_BATCHES_FOR_WORKERS = 32


def _worker_setup(use_flint_rationals: bool) -> None:
    """A worker process decides as the parent does: numpy's solver, FLINT rationals when the parent uses them.
    It ignores Ctrl-C: the parent handles it and stops the workers. Its cyclic garbage collector leaves alone what
    it inherited (``gc.freeze``: the parent's modules, never garbage here) and runs its youngest generation every
    100,000 allocations instead of 700: exact arithmetic allocates millions of short-lived numbers and builds
    almost no reference cycles (about 4% of a worker's time at the defaults)."""
    import gc
    import signal

    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    engine.FLOAT_SOLVER = "numpy"
    use_flint(use_flint_rationals).__enter__()  # for the worker's whole life


def _available_cpus() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _fork() -> bool:
    """Whether worker processes are forked: on Linux. Forked, nothing of the caller's script is imported again,
    so run_checks works from any script, notebook or standard input. Where fork is not the platform's way (macOS,
    Windows) workers are spawned, which re-imports the calling script (it needs the usual
    ``if __name__ == "__main__":`` guard), so there only an explicit ``workers`` starts them."""
    import multiprocessing

    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def _resolve_workers(workers: int, n_batches: int) -> int:
    """The number of processes deciding ``n_batches`` random batches for ``workers`` (``0``: automatic; 1: this
    process alone)."""
    if workers == 0:
        workers = _available_cpus() if _fork() and n_batches >= _MIN_BATCHES_FOR_WORKERS else 1
    return max(1, min(workers, n_batches))


def _decided_batches(
    batches: Iterable[tuple[str, Instance]], workers: int, decide: Callable[[Instance], Any]
) -> Iterator[tuple[Instance, Any]]:
    """``(batch, decide(batch))`` for every batch, in the order drawn, decided in this process (``workers`` 1) or in
    ``workers`` processes. The batches are drawn here, on one generator, so the results are the same."""
    import multiprocessing

    if workers <= 1:
        for _, batch in batches:
            yield batch, decide(batch)
        return
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    # A forked worker runs only numpy and FLINT code (never torch): OpenBLAS re-creates its threads after a fork.
    context = multiprocessing.get_context("fork" if _fork() else "spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_setup, initargs=(flint_enabled(),))
    try:
        pending: deque = deque()
        for _, batch in batches:
            pending.append((batch, pool.submit(decide, batch)))
            if len(pending) >= _IN_FLIGHT * workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        # On Ctrl-C or an error: batches not started are dropped, the ones running finish (a fraction of a second).
        pool.shutdown(wait=True, cancel_futures=True)


def _evaluation_and_terms(batch: Instance) -> tuple[Evaluation, StatementTerms]:
    """The evaluation of a random batch and its statement terms. An exact batch is evaluated and decided on
    FLINT rationals when python-flint is installed, with no fractions built for its evaluation (the statements'
    reduced results still are fractions)."""
    if batch.exact and flint_enabled():
        flint = flint_evaluation(batch)
        return flint.evaluation, flint_statement_terms(flint)
    ev = evaluate(batch)
    return ev, statement_terms(ev, native=True)


def _numpy_solver(fn: Callable[..., CheckReport]) -> Callable[..., CheckReport]:
    """Run ``fn`` with the numpy float solver: for small systems (S <= 5) numpy's per-matrix LAPACK beats torch's
    batched LU."""

    @wraps(fn)
    def with_numpy_solver(*args: Any, **kwargs: Any) -> CheckReport:
        with engine.float_solver("numpy"):
            return fn(*args, **kwargs)

    return with_numpy_solver


@_numpy_solver
def run_checks(
    n: int = CheckConfig.n,
    *,
    exact: bool = CheckConfig.exact,
    seed: int = CheckConfig.seed,
    ids: list[str] | None = CheckConfig.ids,
    batch_size: int | None = None,
    max_redecide: int = CheckConfig.max_redecide,
    restarts: int = CheckConfig.restarts,
    iterations: int = CheckConfig.iterations,
    population: int = CheckConfig.population,
    hypothesis_examples: int = CheckConfig.hypothesis_examples,
    progress: bool = True,
    workers: int = CheckConfig.workers,
) -> CheckReport:
    """Decide every ID on ``n`` random instances, then search with the optimiser and hypothesis.

    ``max_redecide`` caps, per ID and random batch, the clear float failures re-decided exactly
    (near ties are always re-decided); ``restarts`` is the number of optimiser shapes per ID
    (:data:`OPTIMISER_SHAPES`, one restart each); ``hypothesis_examples = 0`` skips hypothesis.
    ``workers`` processes decide the random batches (``0``: on Linux one per CPU for runs of at least 32 batches); the
    batches are drawn in this process, so the report does not depend on it.
    """
    if workers < 0:
        raise ValueError(f"workers is {workers}, expected >= 0 (0: automatic)")
    ids = ids or all_ids()
    for sid in ids:
        get_statement(sid)  # a clear error for an unknown ID
    rng = np.random.default_rng(seed)
    tallies = {sid: Tally(sid, _kind(sid)) for sid in ids}
    notes: list[str] = []
    batch_size = batch_size or (50 if exact else 256)

    seconds: dict[str, float] = {}
    questions = tuple(q for q, (qids, _) in QUESTIONS.items() if set(qids) <= set(ids))
    tightest = TightestTally.empty(questions) if questions else None
    start = time.perf_counter()
    processes = _resolve_workers(workers, len(random_batch_plan(n, batch_size=batch_size)))
    batches = random_batches(rng, n, exact=exact, batch_size=batch_size)
    decide = partial(_decide_batch, ids=ids, max_redecide=max_redecide, questions=questions)
    with _progress(total=n, desc="random instances", unit="inst", disable=not progress) as bar:
        for batch, (results, bounds) in _decided_batches(batches, processes, decide):
            if tightest is not None:
                tightest.record(bounds)
            for sid, res in results.items():
                tallies[sid].record("random", res, batch.__getitem__, random=True)
            bar.update(len(batch))

    seconds["random"] = time.perf_counter() - start

    start = time.perf_counter()
    if restarts > 0:
        # One run per ID and shape, in this order on one generator; the runs of a shape advance together.
        runs = [
            (sid, "slack" if get_statement(sid).tightness_expression is None else "tightness", OptimiserShape(*shape))
            for sid in ids
            for shape in OPTIMISER_SHAPES[:restarts]
        ]
        with _progress(total=len(runs), desc="optimiser", unit="run", disable=not progress) as bar:
            optimised = optimise_runs(runs, rng, iterations=iterations, population=population, progress=bar.update)
        for (sid, _, _), found in zip(runs, optimised):
            if found is None:  # the statement needs a held-out renderer (K = 1 has none)
                continue
            tallies[sid].record("optimiser", found.result, _always(found.instance), random=False)
            tallies[sid].searched["optimiser"] += found.evaluations - 1

    seconds["optimiser"] = time.perf_counter() - start

    start = time.perf_counter()
    if hypothesis_examples > 0:
        hypothesis_search(ids, hypothesis_examples, tallies, exact=exact, seed=seed, progress=progress)

    config = dict(
        n=n,
        exact=exact,
        seed=seed,
        ids=ids,
        batch_size=batch_size,
        max_redecide=max_redecide,
        optimiser=dict(
            shapes=[list(s) for s in OPTIMISER_SHAPES[:restarts]], iterations=iterations, population=population
        ),
        hypothesis_examples=hypothesis_examples,
        workers=workers,
        worker_processes=processes,
    )
    seconds["hypothesis"] = time.perf_counter() - start
    return CheckReport(tallies, config, notes, seconds, tightest)


def exact_counterexample(example: Counterexample, statement_id: str) -> tuple[Instance, CheckResult] | None:
    """The exact instance to save for a counterexample, and its exact result.

    A float instance is rounded to fractions with denominators at most 100, 1000, ... (the first
    rounding on which the statement still fails exactly is kept), else converted exactly.
    Returns ``None`` if no conversion fails exactly (cannot happen for a confirmed counterexample
    unless it was only a float violation).
    """
    inst = example.instance
    candidates = [inst] if inst.exact else [inst.to_exact(d) for d in (100, 1000, 10**4, 10**6)] + [inst.to_exact()]
    for cand in candidates:
        try:
            ev = evaluate(cand)
        except ValueError:
            continue
        result = check_all(ev, [statement_id])[statement_id]
        if not bool(np.all(result.instance_holds())):
            return cand, result
    return None


def save_counterexamples(report: CheckReport, directory: str | Path) -> list[Path]:
    """Write one instance file per ID with a counterexample: ``DIRECTORY/ID.json``."""
    directory = Path(directory)
    written = []
    for sid, tally in report.tallies.items():
        if tally.example is None:
            continue
        found = exact_counterexample(tally.example, sid)
        if found is None:
            continue
        inst, result = found
        worst = int(np.argmin(np.atleast_1d(result.slack))) if result.trailing_axes else None

        def pick(x: Any, worst: int | None = worst) -> Any:
            return np.asarray(x)[worst] if worst is not None else np.asarray(x)[()]

        data = instance_to_dict(inst)
        data["note"] = f"counterexample to {sid}: {get_statement(sid).reading}"
        data["counterexample"] = {
            "statement": sid,
            "renderer": worst,
            "pair": None if result.pair is None else [int(v) for v in np.asarray(pick(result.pair)).reshape(-1)],
            "lhs": format_number(pick(result.lhs), True),
            "rhs": format_number(pick(result.rhs), True),
            "slack": format_number(pick(result.slack), True),
            "found_by": tally.example.method,
            "seed": report.config.get("seed"),
        }
        path = directory / f"{sid}.json"
        atomic_write_json(path, data)
        written.append(path)
    return written
