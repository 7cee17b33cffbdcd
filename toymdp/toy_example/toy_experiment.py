"""The toy experiment: independent versus mutually distilled agents on the toy families, measured exactly.

For each family preset (:data:`toymdp.toy_example.toy.PRESETS`), each distillation weight ``alpha`` and each
seed, two agents are trained with :func:`toymdp.toy_example.distillation.train` (all runs of a family in one
batch). Along training every quantity is computed from the model (never sampled) by
:func:`toymdp.evaluate`, with the **peer as the base policy** ``pi`` and the agent as ``pi~``: agent
1 is measured on the instance ``(pi = pi_2, pi~ = pi_1)`` and agent 2 on ``(pi = pi_1, pi~ = pi_2)``,
so ``D_train`` is the divergence between the two agents. The statements are decided by
:func:`toymdp.checking.checks.check_statement`.

:func:`run_toy_experiment` returns one JSON-ready dictionary; figures and tables are drawn from it
(``repconv plot``), never from live objects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from common.stats import mean_ci
from theory.statements import smallest_return

from ..checking.checks import check_statement
from ..checking.search import run_tightest_search
from ..config import SearchConfig, ToyExperimentConfig
from ..mdp import engine
from ..mdp.evaluation import Evaluation, evaluate
from .distillation import initial_weights, train
from .toy import PRESETS, ToyFamily, build_family, softmax_policy

__all__ = [
    "SearchConfig",
    "ToyExperimentConfig",
    "METRICS",
    "measure",
    "statement_record",
    "run_family",
    "run_tightest_search",
    "run_toy_experiment",
    "summary_table",
]

#: Per-agent metrics recorded along training (``D_train`` is per pair). ``R_sum`` is the argument
#: ``R(pi) + R(pi~) + D_train(pi, pi~)`` of C1's penalty, with the peer as ``pi``.
METRICS = ("eta_own", "eta_train", "eta_test", "gap", "R", "eps", "R_sum")


def _policies(toy: ToyFamily, W1: np.ndarray, W2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observation policies of both agents, ``(..., O, A)`` each."""
    return softmax_policy(toy.features, W1), softmax_policy(toy.features, W2)


def agent_instance(toy: ToyFamily, pi1: np.ndarray, pi2: np.ndarray):
    """Agent instances with one flat batch axis: row ``2 n`` is ``(pi = pi_2, pi~ = pi_1)`` and row
    ``2 n + 1`` is ``(pi = pi_1, pi~ = pi_2)`` for the ``n``-th run of the batch ``...`` of ``pi1, pi2``.

    One axis, because the checker re-decides doubtful float results exactly row by row.
    """
    O, A = pi1.shape[-2:]
    return toy.instance(
        np.stack([pi2, pi1], axis=-3).reshape(-1, O, A), np.stack([pi1, pi2], axis=-3).reshape(-1, O, A)
    )


#: Statements about one policy, THEORY's ``pi`` (the base policy of an instance). On the agent
#: instances of :func:`agent_instance` the base policy is the peer, so their agent axis is flipped
#: to report each agent's own statement.
ABOUT_BASE_POLICY = frozenset({"G1", "G1r", "G1.eps", "G1.test", "G2"})


def statement_record(statement_id: str, evaluation: Evaluation, batch: tuple[int, ...]) -> dict[str, np.ndarray]:
    """``lhs, rhs, slack, holds, tightness, vacuous`` of a statement on agent instances, shape ``batch + (2,)``.

    ``evaluation`` is of :func:`agent_instance` for runs of batch shape ``batch``. Decided by
    :func:`toymdp.checking.checks.check_statement`: a float result that fails or lies within round-off of
    failing is re-decided exactly there. A per-renderer statement (T1) is reduced to its worst
    renderer: the smallest slack (``holds`` iff it holds for every renderer), with that renderer's
    lhs, rhs, tightness and vacuity. Index ``i`` of the agent axis is agent ``i``'s statement: as
    ``pi~`` (C1, T1) or, for :data:`ABOUT_BASE_POLICY`, as ``pi``.
    """
    res = check_statement(statement_id, evaluation)
    fields = {name: np.asarray(getattr(res, name)) for name in ("lhs", "rhs", "slack", "holds", "tightness", "vacuous")}
    if res.trailing_axes:  # per renderer: a trailing K axis
        shape = fields["slack"].shape
        worst = np.argmin(fields["slack"].astype(float), axis=-1)[..., None]
        fields = {k: np.take_along_axis(np.broadcast_to(v, shape), worst, axis=-1)[..., 0] for k, v in fields.items()}
        fields["holds"] = np.asarray(res.holds, dtype=bool).all(axis=-1)
    fields = {k: _as_float_or_bool(v).reshape(batch + (2,)) for k, v in fields.items()}
    if statement_id in ABOUT_BASE_POLICY:
        fields = {k: v[..., ::-1] for k, v in fields.items()}
    return fields


def _as_float_or_bool(x: np.ndarray) -> np.ndarray:
    """Exactly re-decided entries come back as fractions (and undefined tightness as None): floats for the record."""
    if x.dtype == bool:
        return x
    if x.dtype == object:
        return np.array([np.nan if v is None else float(v) for v in x.reshape(-1).tolist()]).reshape(x.shape)
    return x.astype(float)


def measure(toy: ToyFamily, W1: np.ndarray, W2: np.ndarray, statements: tuple[str, ...] = ()) -> dict[str, Any]:
    """Exact measurements of both agents at weights ``W1, W2`` (batch ``...``): per-agent arrays ``(..., 2)``.

    ``eta_own`` is the return on the agent's own training renderers, ``eta_train`` on the family's
    whole training set ``T`` (both agents' renderers), ``eta_test`` on the test renderers,
    ``gap = eta_train - eta_test``; ``R`` and ``eps`` are the agent's, ``D_train`` (``(...)``) the pair's.
    """
    batch = W1.shape[:-2]
    pi1, pi2 = _policies(toy, W1, W2)
    ev = evaluate(agent_instance(toy, pi1, pi2))
    unflat = lambda x: np.asarray(x).reshape(batch + (2,) + np.shape(x)[1:])  # noqa: E731
    agent, peer = ev.pi_tilde, ev.pi
    eta = unflat(agent.eta)  # (..., 2, K)
    own = np.stack(
        [
            eta[..., 0, list(toy.agent_renderers[0])].mean(axis=-1),
            eta[..., 1, list(toy.agent_renderers[1])].mean(axis=-1),
        ],
        axis=-1,
    )
    out: dict[str, Any] = {
        "eta_own": own,
        "eta_train": unflat(agent.eta_train),
        "eta_test": unflat(agent.eta_test),
        "gap": unflat(agent.eta_train - agent.eta_test),
        "R": unflat(agent.R),
        "eps": unflat(agent.eps),
        "R_sum": unflat(peer.R + agent.R + ev.D_train),
        "D_train": unflat(ev.D_train)[..., 0],
    }
    if statements:
        out["statements"] = {sid: statement_record(sid, ev, batch) for sid in statements}
    return out


def _tolist(x: Any, significant: int = 7) -> Any:
    """Nested lists for JSON, floats rounded to ``significant`` digits (the record is data, not a log)."""
    x = np.asarray(x)
    if x.dtype == bool:
        return x.tolist()
    x = x.astype(float)
    finite = np.isfinite(x) & (x != 0)
    magnitude = np.floor(np.log10(np.abs(np.where(finite, x, 1.0))))
    scale = 10.0 ** (significant - 1 - magnitude)
    return np.where(finite, np.round(x * scale) / scale, x).tolist()


def _summary(x: np.ndarray, confidence: float) -> dict[str, Any]:
    """Mean and confidence interval over the seed axis (axis 1 of ``(alphas, seeds, ...)``)."""
    m = mean_ci(x, axis=1, confidence=confidence)
    return {"mean": _tolist(m.mean), "low": _tolist(m.low), "high": _tolist(m.high), "n": m.n}


def _nan_summary(x: np.ndarray) -> dict[str, Any]:
    """Mean over seeds and agents (axes 1, 2) of a ratio that may be undefined (NaN), and how many are defined."""
    defined = ~np.isnan(x)
    count = defined.sum(axis=(1, 2))
    total = np.where(defined, x, 0.0).sum(axis=(1, 2))
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return {"mean": _tolist(mean), "defined": count.tolist(), "n": int(x.shape[1] * x.shape[2])}


def run_family(
    name: str,
    config: ToyExperimentConfig,
    *,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train and measure every ``(alpha, seed)`` run of family preset ``name``; a JSON-ready record."""
    toy = build_family(PRESETS[name])
    alphas = np.asarray(config.alphas, dtype=float)
    seeds = list(range(config.first_seed, config.first_seed + config.seeds))
    W1, W2, steps, history = _train_and_measure(toy, alphas, seeds, config, progress)

    curves = {k: np.stack([h[k] for h in history], axis=-1) for k in METRICS + ("D_train",)}
    statements = {
        sid: {f: np.stack([h["statements"][sid][f] for h in history], axis=-1) for f in history[0]["statements"][sid]}
        for sid in config.statements
    }
    # Seed-level values: the mean of the two agents (D_train belongs to the pair).
    seed_level = {
        k: v if k == "D_train" else v.mean(axis=-2) for k, v in curves.items()
    }  # (alphas, seeds, checkpoints)
    curve_summary = {k: _summary(v, config.confidence) for k, v in seed_level.items()}
    final = {k: v[..., -1] for k, v in seed_level.items()}
    table = {k: _summary(v, config.confidence) for k, v in final.items()}
    paired = {k: _summary(v - v[:1], config.confidence) for k, v in final.items()}
    pi1, pi2 = _policies(toy, W1, W2)
    return {
        "family": _family_description(toy, name),
        "alphas": alphas.tolist(),
        "seeds": seeds,
        "steps": steps,
        "curves": {k: _tolist(v) for k, v in curves.items()},
        "curve_summary": curve_summary,
        # Along training: both sides and the decision; at the end: slack, tightness and vacuity too.
        "statements": {
            sid: {
                **{f: _tolist(rec[f]) for f in ("lhs", "rhs", "holds")},
                "final": {f: _tolist(rec[f][..., -1]) for f in ("slack", "tightness", "vacuous")},
            }
            for sid, rec in statements.items()
        },
        "final": table,
        "paired_difference_vs_independent": paired,
        "statement_summary": _statement_summary(statements, config.confidence),
        "gamma_sweep": gamma_sweep(toy, pi1, pi2, config) if config.statements else None,
        "final_weights": {"agent1": _tolist(W1), "agent2": _tolist(W2)},
    }


def _train_and_measure(
    toy: ToyFamily,
    alphas: np.ndarray,
    seeds: list[int],
    config: ToyExperimentConfig,
    progress: Callable[[int], None] | None,
) -> tuple[np.ndarray, np.ndarray, list[int], list[dict[str, Any]]]:
    """Train every (alpha, seed) pair of agents at once; the final weights and the measurements at each checkpoint."""
    d, A = toy.num_features, toy.mdp.num_actions
    W1 = np.empty((len(alphas), len(seeds), d, A))
    W2 = np.empty_like(W1)
    for n, seed in enumerate(seeds):
        W1[:, n], W2[:, n] = initial_weights(toy, seed, config.train.init_scale)
    alpha_grid = np.broadcast_to(alphas[:, None], (len(alphas), len(seeds)))

    steps: list[int] = []
    history: list[dict[str, Any]] = []

    def record(step: int, w1: np.ndarray, w2: np.ndarray) -> None:
        steps.append(step)
        history.append(measure(toy, w1, w2, config.statements))

    W1, W2 = train(toy, W1, W2, alpha_grid, config.train, record=record, progress=progress)
    return W1, W2, steps, history


def _statement_summary(statements: dict[str, dict[str, np.ndarray]], confidence: float) -> dict[str, Any]:
    """Per statement: whether it held at every checkpoint, how often, and its final slack, tightness and vacuity."""
    return {
        sid: {
            "holds_all_checkpoints": _tolist(rec["holds"].all(axis=(-1, -2))),  # (alphas, seeds)
            "holds_fraction": _tolist(rec["holds"].mean(axis=(1, 2, 3))),  # per alpha, over seeds, agents, checkpoints
            "final_slack": _summary(rec["slack"][..., -1].mean(axis=-1), confidence),
            "final_tightness": _nan_summary(rec["tightness"][..., -1]),
            "final_vacuous_fraction": _tolist(rec["vacuous"][..., -1].mean(axis=(1, 2))),
        }
        for sid, rec in statements.items()
    }


def _family_description(toy: ToyFamily, name: str) -> dict[str, Any]:
    """The family as the results file records it: preset, renderers and their roles, sizes, optimal return, rewards."""
    optimal = np.eye(toy.mdp.num_actions)[list(toy.correct_actions)]
    eta_optimal = float(
        engine.expected_return(toy.mdp.rho0, engine.values(toy.mdp.P, toy.mdp.r, toy.mdp.gamma, optimal))
    )
    return {
        "preset": name,
        "config": toy.config.to_json(),
        "correct_actions": list(toy.correct_actions),
        "renderers": [{"direction": k, "correlation": c, "role": _role(toy, i)} for i, (k, c) in enumerate(toy.specs)],
        "num_states": toy.mdp.num_states,
        "num_observations": toy.family.num_observations,
        "num_features": toy.num_features,
        "eta_optimal": eta_optimal,
        "r_min": float(toy.mdp.r.min()),
        "r_max": float(toy.mdp.r.max()),
        "gamma": float(toy.mdp.gamma),
    }


def _role(toy: ToyFamily, i: int) -> str:
    if i in toy.agent_renderers[0]:
        return "train (agent 1)"
    if i in toy.agent_renderers[1]:
        return "train (agent 2)"
    return "test"


def gamma_sweep(toy: ToyFamily, pi1: np.ndarray, pi2: np.ndarray, config: ToyExperimentConfig) -> dict[str, Any]:
    """The statements for the final policies of every run, on the same family with discount ``gamma`` varied.

    The policies stay fixed (trained at the family's own discount); only the MDP's discount changes.
    """
    out: dict[str, Any] = {"gammas": list(config.gammas), "statements": {}}
    recs = []
    for g in config.gammas:
        toy_g = build_family(dataclasses.replace(toy.config, gamma=float(g)))
        ev = evaluate(agent_instance(toy_g, pi1, pi2))
        recs.append({sid: statement_record(sid, ev, pi1.shape[:-2]) for sid in config.statements})
    for sid in config.statements:
        fields = {
            f: np.stack([r[sid][f] for r in recs], axis=-1) for f in ("lhs", "rhs", "slack", "holds", "vacuous")
        }  # (alphas, seeds, 2, gammas)
        out["statements"][sid] = {
            "lhs": _summary(fields["lhs"].mean(axis=2), config.confidence),
            "rhs": _summary(fields["rhs"].mean(axis=2), config.confidence),
            "min_slack": _tolist(fields["slack"].min(axis=(1, 2))),
            "holds_fraction": _tolist(fields["holds"].mean(axis=(1, 2))),
            "vacuous_fraction": _tolist(fields["vacuous"].mean(axis=(1, 2))),
        }
    out["vacuous_level"] = [smallest_return(float(toy.mdp.r.min()), g) for g in config.gammas]
    return out


def run_toy_experiment(config: ToyExperimentConfig | None = None, *, progress: bool = True) -> dict[str, Any]:
    """Run every family and the tightest-instance search; returns the results record (no metadata)."""
    from tqdm.auto import tqdm

    config = config or ToyExperimentConfig()
    results: dict[str, Any] = {"kind": "toy", "config": config.to_json(), "families": {}}
    for name in config.families:
        with tqdm(
            total=config.train.steps,
            desc=f"toy {name}: train {len(config.alphas)} alphas x {config.seeds} seeds",
            disable=not progress,
            leave=False,
        ) as bar:
            results["families"][name] = run_family(name, config, progress=bar.update)
    if config.search is not None and config.statements:
        sc = config.search
        total = len(sc.statements) * len(sc.num_states) * len(sc.gammas) * sc.restarts
        with tqdm(total=total, desc="tightest instances", disable=not progress, leave=False) as bar:
            results["tightest"] = run_tightest_search(config.search, progress=bar.update)
    results["table"] = summary_table(results)
    return results


_TABLE_METRICS = ("eta_own", "eta_train", "eta_test", "gap", "R", "D_train")


def summary_table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The toy table: one row per family and ``alpha``, final values as mean and CI over seeds."""
    rows = []
    for name, fam in results["families"].items():
        for i, alpha in enumerate(fam["alphas"]):
            row: dict[str, Any] = {"family": name, "alpha": alpha, "n_seeds": fam["final"]["R"]["n"]}
            for k in _TABLE_METRICS:
                s = fam["final"][k]
                row[k] = {"mean": s["mean"][i], "low": s["low"][i], "high": s["high"][i]}
                if i > 0:
                    p = fam["paired_difference_vs_independent"][k]
                    row[f"{k}_minus_independent"] = {"mean": p["mean"][i], "low": p["low"][i], "high": p["high"][i]}
            for sid, summ in fam.get("statement_summary", {}).items():
                row[sid] = {
                    "holds_fraction": summ["holds_fraction"][i],
                    "final_slack": summ["final_slack"]["mean"][i],
                    "final_tightness": summ["final_tightness"]["mean"][i],
                    "final_vacuous_fraction": summ["final_vacuous_fraction"][i],
                }
            rows.append(row)
    return rows
