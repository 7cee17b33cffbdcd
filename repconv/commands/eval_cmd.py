"""``repconv eval``: every quantity of one instance file, float or exact."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from fractions import Fraction

import numpy as np

from repconv.cli import CommandError
from repconv.outputs import check_output_file
from common.files import atomic_write_json, run_metadata

#: Largest number of states for which float mode re-decides near ties exactly by default: exact rational
#: evaluation grows like S^3 with growing fractions and takes minutes already at a few hundred states.
EXACT_REDECIDE_MAX_STATES = 100


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate an instance file (MDP, renderers, two policies)",
        description=(
            "Evaluate every quantity of THEORY's tables on an instance file: eta_test, eta_train, "
            "R(pi), R(pi_tilde), D_train, eps, and per renderer eta, alpha, eps and the surrogate L; and decide "
            "every statement of docs/theory.md (key 'statements': lhs, rhs, slack, holds, tightness, vacuous; "
            "key 'tightest_bound': C1 vs C1v on eta_test(pi~) and G1, G1r, G1v, G1vr on the rendering gap, "
            "each bound and the tightest IDs; "
            "a list over renderers for PDL, T1, T1c, L1, C1v.f and G2, the worst pair j, k for G1, G1r, G1v and G1vr). "
            "An instance file is JSON with keys P, r, rho0, gamma, renderers, test_weights, train, "
            "train_weights, policies {pi, pi_tilde}; numbers may be JSON numbers or \"p/q\" strings."
        ),
    )
    p.add_argument("instance", help="instance JSON file")
    p.add_argument("--exact", action="store_true", help="exact rational arithmetic; values are written as \"p/q\" strings")
    p.add_argument("--json", metavar="OUT", help="write the results to OUT (JSON); '-' for standard output")
    p.add_argument("--variants", action="store_true",
                   help="also decide the falsification variants (e.g. replay a counterexample saved by `repconv check`)")
    p.add_argument("--no-exact-redecide", action="store_true",
                   help="float mode: keep float decisions of near ties instead of re-deciding them exactly "
                        f"(automatic above {EXACT_REDECIDE_MAX_STATES} states)")
    p.add_argument("--no-progress", action="store_true", help="no progress messages on standard error")
    p.set_defaults(func=run)


def _summary(record: dict) -> str:
    from toymdp.checking.tightest import LABELS

    lines = [
        f"{'':14}{'pi':>24}{'pi_tilde':>24}",
        f"{'eta_test':14}{record['eta_test']['pi']!s:>24}{record['eta_test']['pi_tilde']!s:>24}",
        f"{'eta_train':14}{record['eta_train']['pi']!s:>24}{record['eta_train']['pi_tilde']!s:>24}",
        f"{'R':14}{record['R_pi']!s:>24}{record['R_pi_tilde']!s:>24}",
        f"{'eps':14}{record['eps']['pi']!s:>24}{record['eps']['pi_tilde']!s:>24}",
        f"D_train = {record['D_train']}",
        "",
        f"{'statement':14}{'holds':>8}{'smallest slack':>16}",
    ]
    for sid, entry in record["statements"].items():
        entries = entry if isinstance(entry, list) else [entry]
        worst = min(float(Fraction(e["slack"])) if isinstance(e["slack"], str) else e["slack"] for e in entries)
        lines.append(f"{sid:14}{str(all(e['holds'] for e in entries)):>8}{worst:>16.6g}")
    for question, entry in record.get("tightest_bound", {}).items():
        if entry is not None:
            lines.append(f"tightest {LABELS.get(question, question)}: {', '.join(entry['tightest'])}")
    return "\n".join(lines)


class _Stages:
    """One line per stage on standard error, with the time the previous stage took."""

    def __init__(self, enabled: bool):
        self.enabled, self.start, self.last = enabled, time.perf_counter(), None

    def __call__(self, text: str) -> None:
        now = time.perf_counter()
        if self.enabled:
            took = f" (previous step {now - self.last:.1f} s)" if self.last is not None else ""
            print(f"repconv eval: {text}{took}", file=sys.stderr, flush=True)
        self.last = now


def _refuse_overflow(record: dict, instance) -> None:
    """Float64 overflow (huge rewards, gamma near 1) turns bounds into inf/nan: refuse rather than print 'False'."""
    for sid, entry in record["statements"].items():
        for e in entry if isinstance(entry, list) else [entry]:
            values = [e[k] for k in ("lhs", "rhs", "slack")]
            if not all(isinstance(v, (int, float)) and np.isfinite(v) for v in values):
                r_max = float(np.max(np.abs(instance.mdp.r)))
                raise CommandError(
                    f"{sid} overflows float64 (|r| up to {r_max:.3g}, gamma {float(instance.mdp.gamma):g}); "
                    "rescale the rewards or decide exactly with --exact")


def run(args: argparse.Namespace) -> int:
    from toymdp import InvalidInstanceError, evaluate, load_instance
    from toymdp.checking.checks import default_ids, statements_to_json
    from toymdp.checking.falsification import all_ids
    from toymdp.mdp.statement_terms import statement_terms
    from toymdp.checking.tightest import tightest_bounds

    if args.json is not None and args.json != "-":
        check_output_file(args.json, "--json")
    large = os.path.getsize(args.instance) > 1_000_000 if os.path.isfile(args.instance) else False
    stage = _Stages(large and not args.no_progress and args.json != "-")  # large files only: seconds to minutes
    stage(f"reading {args.instance}")
    try:
        instance = load_instance(args.instance, exact=args.exact)
    except InvalidInstanceError as err:
        raise CommandError(str(err)) from None
    S = instance.mdp.num_states
    notes = []
    redecide = not args.exact and not args.no_exact_redecide
    if redecide and S > EXACT_REDECIDE_MAX_STATES:
        redecide = False
        notes.append(f"near ties are float-decided, not re-decided exactly: {S} states is above the limit of "
                     f"{EXACT_REDECIDE_MAX_STATES} (decide exactly with --exact)")
    elif not args.exact and args.no_exact_redecide:
        notes.append("near ties are float-decided (--no-exact-redecide)")
    stage(f"evaluating both policies on {S} states ({'exact' if args.exact else 'float64'})")
    # Overflow shows up as inf/nan, which _refuse_overflow turns into one line; numpy's warnings would be noise.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        evaluation = evaluate(instance)
        ids = all_ids() if args.variants else default_ids()
        stage(f"deciding {len(ids)} statements{' and variants' if args.variants else ''}"
              + (" (near ties re-decided exactly)" if redecide else ""))
        record = evaluation.to_json()
        record["statements"] = statements_to_json(evaluation, ids, redecide_exactly=redecide)
        record["tightest_bound"] = tightest_bounds(statement_terms(evaluation)).to_json()
    stage("done")
    if not args.exact:
        _refuse_overflow(record, instance)
    for note in notes:
        print(f"repconv eval: note: {note}", file=sys.stderr)
    record["notes"] = notes
    record["meta"] = run_metadata(config={"instance": args.instance, "exact": args.exact, "variants": args.variants,
                                          "exact_redecide": redecide})
    if args.json == "-":
        json.dump(record, sys.stdout, indent=2)
        print()
    else:
        print(_summary(record))
        if args.json:
            atomic_write_json(args.json, record)
            print(f"wrote {args.json}")
    return 0
