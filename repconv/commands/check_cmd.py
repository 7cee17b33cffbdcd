"""``repconv check``: every statement and falsification variant on random instances, with counterexample search."""

from __future__ import annotations

import argparse
import math
import time

from repconv.cli import CommandError
from repconv.options import add_dataclass_arguments, dataclass_values
from repconv.outputs import OVERWRITE_HELP, check_output_dir, check_output_file
from common.files import atomic_write_json, run_metadata
from toymdp.config import CheckConfig


class CheckInterrupted(CommandError):
    """Ctrl-C during the checks (exit status 130)."""

    exit_code = 130


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="check every statement and variant on random instances; search for counterexamples",
        description=(
            "Decide every statement of docs/theory.md (PDL, T1, T1c, L1, C1, G1 with its parts G1.eps and "
            "G1.test, G1r, G2, and the visitation-weighted G1v, G1vr, C1v with its part C1v.f) and every falsification variant on N random rendering MDPs (mixed shapes and "
            "edge cases), then search for counterexamples with a small optimiser and with hypothesis. Float "
            "results within round-off of failing, or failing, are re-decided exactly. Prints a table (ID, "
            "instances, holds, min slack, median tightness, % vacuous, counterexamples), a falsification "
            "table (variants whose proof is in docs/theory.md are marked proved) and, per random instance, which proved statement gives the tightest bound (C1 vs C1v on "
            "eta_test(pi~); G1, G1r, G1v, G1vr on the rendering gap), with counts of wins; exits with status 1 if a statement or a proved variant has a counterexample."
        ),
    )
    add_dataclass_arguments(p, CheckConfig, only=("n", "exact", "seed"))
    p.add_argument("--json", metavar="OUT", help="write the tables and run metadata to OUT (JSON)")
    add_dataclass_arguments(p, CheckConfig, only=("restarts", "iterations", "population", "hypothesis_examples",
                                                  "max_redecide"),
                            flags={"hypothesis_examples": "--hypothesis"}, metavars={"hypothesis_examples": "EXAMPLES"})
    p.add_argument("--counterexamples", metavar="DIR", help="save the smallest counterexample of each ID as DIR/ID.json")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP + " (counterexamples in DIR)")
    add_dataclass_arguments(p, CheckConfig, only=("ids", "workers"))
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _num(x: float | None, fmt: str = ".3g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, fmt)


def _statement_table(rows: list[dict], title: str) -> str:
    head = f"{'ID':14}{'provenance':>15}{'instances':>10}{'holds':>8}{'min slack':>12}{'med tight':>11}{'% vacuous':>11}{'cex':>6}"
    lines = [title, head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['id']:14}{r['provenance']:>15}{r['instances']:>10}{r['holds']:>8}{_num(r['min_slack_random']):>12}"
            f"{_num(r['median_tightness']):>11}{_num(r['pct_vacuous'], '.1f'):>11}{r['counterexamples_by_method']['random']:>6}"
        )
    return "\n".join(lines)


def _falsification_table(rows: list[dict]) -> str:
    head = f"{'ID':14}{'searched':>10}{'random':>8}{'optim.':>8}{'hypo.':>8}{'cex':>6}{'min slack':>12}{'max tight':>11}  verdict"
    lines = ["Falsification (every search; a counterexample is decided exactly)", head, "-" * (len(head) + 30)]
    for r in rows:
        verdict = (f"counterexample ({r['counterexamples']} found)" if r["counterexamples"]
                   else f"no counterexample found in {r['instances_searched']} instances")
        if r["kind"] == "variant" and r.get("proved"):
            verdict = ("PROVED, yet " if r["counterexamples"] else "proved (docs/theory.md); ") + verdict
        s = r["searched"]
        lines.append(
            f"{r['id']:14}{r['instances_searched']:>10}{s['random']:>8}{s['optimiser']:>8}{s['hypothesis']:>8}"
            f"{r['counterexamples']:>6}{_num(r['min_slack']):>12}{_num(r['max_tightness']):>11}  {verdict}"
        )
    return "\n".join(lines)


def _tightest_table(record: dict) -> str:
    """Which proved statement gives the tightest bound, counted over the random instances."""
    from toymdp.checking.tightest import LABELS

    lines = ["Tightest valid bound on the random instances (best: attains the tightest bound, ties counted for each; "
             "sole: strictly tightest)"]
    for q, entry in record.items():
        lines.append(f"  {LABELS.get(q, q)}, {entry['instances']} instances:")
        for sid in entry["statements"]:
            lines.append(f"    {sid:8}best {entry['best'][sid]:>7}   sole {entry['sole_best'][sid]:>7}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from theory.registry import get_statement
    from toymdp.checking.falsification import all_ids, run_checks, save_counterexamples

    config = CheckConfig(**dataclass_values(args, CheckConfig))
    if (args.n < 0 or args.restarts < 0 or args.hypothesis_examples < 0 or args.iterations < 1 or args.population < 2
            or args.workers < 0):
        raise CommandError("--n, --restarts, --hypothesis and --workers must be >= 0, --iterations >= 1, "
                           "--population >= 2")
    if args.seed < 0:
        raise CommandError(f"--seed is {args.seed}, expected >= 0")
    if args.json is not None:
        check_output_file(args.json, "--json")
    if args.counterexamples is not None:
        check_output_dir(args.counterexamples, "--counterexamples", results=["*.json"], overwrite=args.overwrite)
    ids = config.ids or None
    if ids:
        known = all_ids()
        unknown = [s for s in ids if s not in known]
        if unknown:
            raise CommandError(f"unknown ID {unknown[0]!r}; known: {', '.join(known)}")
    start = time.perf_counter()
    try:
        report = run_checks(
            config.n, exact=config.exact, seed=config.seed, ids=ids, max_redecide=config.max_redecide,
            restarts=config.restarts, iterations=config.iterations, population=config.population,
            hypothesis_examples=config.hypothesis_examples, progress=not args.no_progress, workers=config.workers,
        )
    except KeyboardInterrupt:
        # The tables exist only once every ID is decided: there is nothing partial to write.
        targets = [t for t in (args.json, args.counterexamples) if t]
        raise CheckInterrupted("interrupted before the checks finished; nothing was written"
                               + (f" (to {' or '.join(targets)})" if targets else "")) from None
    elapsed = time.perf_counter() - start
    rows = []
    for tally in report.tallies.values():
        row = tally.to_json()
        row["min_slack_random"] = tally.random_min_slack if math.isfinite(tally.random_min_slack) else None
        row["expectation"] = get_statement(tally.statement_id).expectation or None
        row["proved"] = True if tally.kind != "variant" else get_statement(tally.statement_id).proved
        rows.append(row)
    engine = "exact rational arithmetic" if args.exact else "float64 batches, exact re-decision of near ties and failures"
    statements = [r for r in rows if r["kind"] != "variant"]
    variants = [r for r in rows if r["kind"] == "variant"]
    if statements:
        print(_statement_table(statements, f"Statements on {args.n} random instances ({engine})"))
        print()
    if variants:
        print(_statement_table(variants, f"Variants on {args.n} random instances"))
        print()
    print(_falsification_table(rows))
    tightest = report.tightest.to_json() if report.tightest is not None else None
    if tightest:
        print()
        print(_tightest_table(tightest))
    for note in report.notes:
        print(f"note: {note}")
    print(f"time: {elapsed:.1f} s (" + ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items()) + ")")
    failures = []  # one output that cannot be written must not cost the others
    if args.json:
        record = {
            "statements": statements,
            "variants": variants,
            "tightest_bound": tightest,
            "notes": report.notes,
            "seconds": {**report.seconds, "total": elapsed},
            "run_metadata": run_metadata(config=report.config, seed=args.seed),
        }
        try:
            atomic_write_json(args.json, record)
            print(f"wrote {args.json}")
        except OSError as err:
            failures.append(f"--json {args.json}: {err.strerror or err}")
    if args.counterexamples:
        try:
            for path in save_counterexamples(report, args.counterexamples):
                print(f"wrote {path}")
        except OSError as err:
            failures.append(f"--counterexamples {args.counterexamples}: {err.strerror or err}")
    if failures:
        raise CommandError("could not write " + "; ".join(failures))
    failed = [r["id"] for r in rows if r["counterexamples"] and r["proved"]]
    if failed:
        print(f"repconv check: statements or proved variants with a counterexample: {', '.join(failed)}")
        return 1
    return 0
