"""``repconv eval``: every quantity of one instance file, float or exact."""

from __future__ import annotations

import argparse
import json
import sys
from fractions import Fraction

from repconv.cli import CommandError
from common.files import atomic_write_json, run_metadata


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate an instance file (MDP, renderers, two policies)",
        description=(
            "Evaluate every quantity of THEORY's tables on an instance file: eta_test, eta_train, "
            "R(pi), R(pi_tilde), D_train, eps, and per renderer eta, alpha, eps and the surrogate L; and decide "
            "every statement of docs/theory.md (key 'statements': lhs, rhs, slack, holds, tightness, vacuous; "
            "a list over renderers for PDL, T1, T1c, L1, C1v.f and G2, the worst pair j, k for G1, G1r, G1v and G1vr). "
            "An instance file is JSON with keys P, r, rho0, gamma, renderers, test_weights, train, "
            "train_weights, policies {pi, pi_tilde}; numbers may be JSON numbers or \"p/q\" strings."
        ),
    )
    p.add_argument("instance", help="instance JSON file")
    p.add_argument("--exact", action="store_true", help="exact rational arithmetic; values are written as \"p/q\" strings")
    p.add_argument("--json", metavar="OUT", help="write the results to OUT (JSON); '-' for standard output")
    p.set_defaults(func=run)


def _summary(record: dict) -> str:
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
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from toymdp import InvalidInstanceError, evaluate, load_instance
    from toymdp.checks import statements_to_json

    try:
        instance = load_instance(args.instance, exact=args.exact)
    except InvalidInstanceError as err:
        raise CommandError(str(err)) from None
    evaluation = evaluate(instance)
    record = evaluation.to_json()
    record["statements"] = statements_to_json(evaluation)
    record["meta"] = run_metadata(config={"instance": args.instance, "exact": args.exact})
    if args.json == "-":
        json.dump(record, sys.stdout, indent=2)
        print()
    else:
        print(_summary(record))
        if args.json:
            atomic_write_json(args.json, record)
            print(f"wrote {args.json}")
    return 0
