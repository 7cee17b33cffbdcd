"""THEORY's bounds on a Procgen policy's generalization, with estimated terms plugged in.

Every number comes from the theory layer's evaluator of the statement (:mod:`theory.statements`):
``statement.evaluate(values, exact=False)`` gives ``lhs``, ``rhs`` and the vacuity threshold ``trivial``.
Nothing here writes a bound's formula; this module only decides which estimate fills which quantity.

The Procgen reading of the rendering family: the "renderers" ``j, k`` of G1r/G1 are the training and the
test levels, and ``R`` is replaced by the sampled robustness ``R_hat`` under the chosen renderers. This
is a plug-in, not a theorem: test levels differ from training levels in more than rendering, and
``R_hat`` is a lower estimate of ``R`` (a max over sampled states), so a bound here is optimistic and
an estimate, never a guarantee.

Plug-ins, at discount ``gamma``:

* ``eta_j, eta_k`` / ``eta_train, eta_test``: mean discounted first-episode returns on training and test
  levels (the measured gap is ``eta_train - eta_test``);
* ``R_pi``: ``R_hat`` (max sampled TV over renderers and splits); ``R_new`` and ``D_train``: the same
  for the other policy of a pair and the pair's sampled ``D_train``;
* ``eps``: each available estimate (critic, Monte Carlo spread, reward-range bound), one row each;
* ``r_min, r_max``: the per-step reward range (given, or observed and then stated as observed).

Rows:

* **G1r** ``|eta_train - eta_test| <= R (r_max - r_min) / (1-gamma)^2``;
* **G1.test** (G1's consequence) ``eta_test >= eta_train - 2 eps R / (1-gamma)``;
* **C1** ``eta_test(pi~) >= L_avg - 4 eps gamma (R + R~ + D_train)^2 / (1-gamma)^2`` for a pair, with
  ``pi`` this checkpoint and ``pi~`` the other one. The surrogate ``L_avg`` cannot be estimated without
  the advantage of every action; it is set to its most favourable value within the return range,
  ``r_max / (1-gamma)``: the row then says whether C1 is vacuous whatever ``L_avg`` is in that range
  (its ``bound`` is an upper limit of C1's right-hand side, not a lower bound on the return).

A bound is **vacuous** when it says less than every policy satisfies anyway (the statement's ``trivial``
threshold, as in the toy checks): an upper bound on a return difference above the return range
``(r_max - r_min)/(1-gamma)``, a lower bound on a return below ``r_min/(1-gamma)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from theory.statements import PARTS, STATEMENTS, largest_return, return_range

__all__ = ["bounds_for_records", "rendering_gap_bounds", "BOUND_ROWS", "RENDERING_GAP_STATEMENTS"]

#: Statements bounding the rendering gap |eta_train_render - eta_k| of one policy (THEORY, G1r and G1vr).
RENDERING_GAP_STATEMENTS = ("G1vr", "G1r")

BOUND_ROWS = ("G1r", "G1.test", "C1")


def _statement(sid: str):
    return STATEMENTS.get(sid) or PARTS[sid]


def _vacuous(statement, ev) -> np.ndarray:
    """Beyond the statement's trivial threshold: ``rhs > trivial`` (upper bound), ``rhs < trivial`` (lower
    bound), the convention of the toy checks (``toymdp.checking.checks``)."""
    rhs, trivial = np.asarray(ev.rhs, dtype=float), np.asarray(ev.trivial, dtype=float)
    return rhs > trivial if statement.relation == "<=" else rhs < trivial


def _evaluate(sid: str, values: dict[str, Any]) -> dict[str, np.ndarray]:
    st = _statement(sid)
    ev = st.evaluate(values, exact=False)
    with np.errstate(invalid="ignore"):
        return {"lhs": np.asarray(ev.lhs, float), "rhs": np.asarray(ev.rhs, float), "trivial": np.asarray(ev.trivial, float),
                "vacuous": _vacuous(st, ev), "holds": np.asarray(ev.slack, float) >= 0}


def _num(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _eps_sources(rec: dict) -> dict[str, float]:
    eps = rec["eps"]
    out = {}
    if eps.get("critic") and eps["critic"].get("eps") is not None:
        out["critic"] = eps["critic"]["eps"]
    if eps.get("monte_carlo", {}).get("eps") is not None:
        out["monte_carlo"] = eps["monte_carlo"]["eps"]
    if eps.get("reward_range_bound") is not None:
        out["reward_range_bound"] = eps["reward_range_bound"]
    return out


def _rows_at(rec: dict, others: list[tuple[dict, dict]], gamma: float, eta_train, eta_test) -> list[dict]:
    rr = rec["reward_range"]
    R = rec["R_hat"]["all_renderers"]
    rows: list[dict] = []
    base = {"gamma": gamma, "measured": _num(None if eta_train is None or eta_test is None else eta_train - eta_test)}
    if R is None:
        return rows
    if rr["r_max"] > rr["r_min"] and eta_train is not None and eta_test is not None:
        v = _evaluate("G1r", {"eta_j": eta_train, "eta_k": eta_test, "R_pi": R, "r_min": rr["r_min"], "r_max": rr["r_max"],
                              "gamma": gamma})
        rows.append({**base, "statement": "G1r", "bound": _num(v["rhs"]), "measured": _num(v["lhs"]),
                     "trivial": _num(v["trivial"]), "vacuous": bool(v["vacuous"]), "holds": bool(v["holds"]),
                     "note": "upper bound on |gap|; reward range " + rr["source"].split(":")[0]})
    for source, eps in _eps_sources(rec).items():
        if eta_train is None or eta_test is None or rr["r_max"] <= rr["r_min"]:
            break
        v = _evaluate("G1.test", {"eta_test": eta_test, "eta_train": eta_train, "eps": eps, "R_pi": R, "gamma": gamma,
                                  "r_min": rr["r_min"], "r_max": rr["r_max"]})
        rows.append({**base, "statement": "G1.test", "eps_source": source, "eps": eps, "bound": _num(v["rhs"]),
                     "measured": _num(v["lhs"]), "trivial": _num(v["trivial"]), "vacuous": bool(v["vacuous"]),
                     "holds": bool(v["holds"]), "note": f"lower bound on eta_test; eps from {source}"})
    for other, pair in others:
        R_new, D = other["R_hat"]["all_renderers"], pair["d_train"]["max"]
        if R_new is None or D is None or rr["r_max"] <= rr["r_min"]:
            continue
        other_test = other.get("_eta_test_at", {}).get(gamma)
        L_best = largest_return(rr["r_max"], gamma)
        for source, eps in _eps_sources(rec).items():
            v = _evaluate("C1", {"eta_test_new": other_test if other_test is not None else np.nan, "L_avg": L_best,
                                 "eps": eps, "gamma": gamma, "R_pi": R, "R_new": R_new, "D_train": D,
                                 "r_min": rr["r_min"], "r_max": rr["r_max"]})
            rows.append({**base, "statement": "C1", "pi_tilde": other["label"], "eps_source": source, "eps": eps,
                         "R_new": R_new, "D_train": D, "bound": _num(v["rhs"]), "measured": _num(v["lhs"]),
                         "trivial": _num(v["trivial"]), "vacuous": bool(v["vacuous"]),
                         "note": f"eps from {source}; L_avg set to r_max/(1-gamma): vacuous here means vacuous for every "
                                 "L_avg in the return range"})
    return rows


def bounds_for_records(records: list[dict], pairs: list[dict], cfg) -> list[dict]:
    """Bound rows at the training ``gamma`` and curves over ``cfg.gammas`` for each checkpoint record."""
    gammas = list(records[0]["returns"]["discounted"]["gammas"]) if records else []
    for rec in records:
        disc = rec["returns"]["discounted"]
        rec["_eta_test_at"] = dict(zip(disc["gammas"], disc["test"]))
    out = []
    for idx, rec in enumerate(records):
        disc = rec["returns"]["discounted"]
        at = dict(zip(disc["gammas"], zip(disc["train"], disc["test"])))
        others = [(records[p["b"] if p["a"] == idx else p["a"]], p) for p in pairs if idx in (p["a"], p["b"])]
        train_g, test_g = at.get(cfg.gamma, (None, None))
        at_gamma = _rows_at(rec, others, cfg.gamma, train_g, test_g)
        curves: dict[str, list] = {}
        curves_vacuous: dict[str, list] = {}
        by_gamma_eps = rec["eps"]["by_gamma"]
        for g in gammas:
            tr, te = at[g]
            rec_g = {**rec, "eps": {"monte_carlo": {"eps": dict(zip(by_gamma_eps["gammas"], by_gamma_eps["monte_carlo"])).get(g)},
                                    "reward_range_bound": dict(zip(by_gamma_eps["gammas"], by_gamma_eps["reward_range_bound"])).get(g)}}
            for row in _rows_at(rec_g, others, g, tr, te):
                key = row["statement"] + (f" [eps: {row['eps_source']}]" if "eps_source" in row else "")
                if row["statement"] == "G1.test":
                    # plotted as the implied bound on the gap eta_train - eta_test, the quantity of the figure
                    val = None if row["bound"] is None or tr is None else tr - row["bound"]
                elif row["statement"] == "C1":
                    continue
                else:
                    val = row["bound"]
                curves.setdefault(key, [None] * len(gammas))[gammas.index(g)] = val
                curves_vacuous.setdefault(key, [None] * len(gammas))[gammas.index(g)] = row["vacuous"]
        rr = rec["reward_range"]
        out.append({
            "at_gamma": at_gamma,
            "by_gamma": {
                "gammas": gammas,
                "curves": curves,
                "vacuous": curves_vacuous,
                "return_range": [return_range(rr["r_min"], rr["r_max"], g) if rr["r_max"] > rr["r_min"] else None for g in gammas],
                "measured_gap": list(disc["gap"]),
            },
            "note": "plug-in bounds: R_hat is a lower estimate of R and training vs test levels are treated as renderers; "
                    "estimates, not guarantees",
            "rendering_gap": rendering_gap_bounds(rec),
        })
    for rec in records:
        rec.pop("_eta_test_at", None)
    return out


def _interval_within(ci, bound) -> bool | None:
    """The measured gap's interval meets ``[-bound, bound]``: the bound is consistent with the measurement."""
    if bound is None or ci is None or None in ci:
        return None
    return bool(ci[0] <= bound and ci[1] >= -bound)


def _largest(gammas: list[float], flags: list) -> float | None:
    ok = [g for g, f in zip(gammas, flags) if f]
    return max(ok) if ok else None


def rendering_gap_bounds(rec: dict) -> dict:
    """G1vr and G1r against the measured rendering gap, per renderer, split and gamma of ``rec``.

    Plug-ins (statement quantities in brackets): the two arms' mean discounted returns (``eta_j``: training
    rendering, ``eta_k``: renderer k), the **upper** end of ``Rv_hat``'s bootstrap interval (``Rv_jk``; G1vr), the
    largest sampled per-state TV under renderer k on that split (``R_pi``; G1r: a LOWER estimate of R, so G1r here is
    optimistic), and the game's reward range shared by all its checkpoints (``r_min``, ``r_max``). A bound is
    informative below the return range (the statement's ``trivial`` threshold); it *held* when the measured gap's
    interval meets ``[-bound, bound]`` (a gap of 0 up to sampling noise is consistent with a bound of 0).
    """
    rr = rec.get("game_reward_range") or rec["reward_range"]
    out: dict = {"reward_range": rr, "per_renderer": {}}
    for name, per_split in rec.get("rendering_gap", {}).items():
        entry: dict = {}
        for split, gp in per_split.items():
            rv = rec["Rv_hat"][name][split]
            gammas = gp["by_gamma"]["gammas"]
            rows: dict = {"gammas": gammas, "gap": gp["by_gamma"]["gap"], "gap_ci": gp["by_gamma"]["ci"],
                          "return_range": [return_range(rr["r_min"], rr["r_max"], g) for g in gammas]}
            for sid in RENDERING_GAP_STATEMENTS:
                bounds, informative, held = [], [], []
                for i, g in enumerate(gammas):
                    eta_j, eta_k = gp["by_gamma"]["eta_ref"][i], gp["by_gamma"]["eta_k"][i]
                    robustness = rv["upper"][rv["gammas"].index(g)] if sid == "G1vr" else gp.get("tv_max")
                    if None in (eta_j, eta_k, robustness) or sid not in STATEMENTS:
                        bounds.append(None), informative.append(None), held.append(None)
                        continue
                    key = "Rv_jk" if sid == "G1vr" else "R_pi"
                    v = _evaluate(sid, {"eta_j": eta_j, "eta_k": eta_k, key: robustness, "r_min": rr["r_min"],
                                        "r_max": rr["r_max"], "gamma": g})
                    b = _num(v["rhs"])
                    bounds.append(b)
                    informative.append(not bool(v["vacuous"]))
                    held.append(_interval_within(gp["by_gamma"]["ci"][i], b))
                rows[sid] = {"bound": bounds, "informative": informative, "held": held,
                             "largest_informative_gamma": _largest(gammas, informative),
                             "all_held": None if any(h is None for h in held) else all(held),
                             "available": sid in STATEMENTS}
            rows["G1vr"]["Rv_upper"] = rv["upper"]
            rows["G1r"]["R_hat"] = gp.get("tv_max")
            entry[split] = rows
        out["per_renderer"][name] = entry
    return out
