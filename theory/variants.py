"""Falsification variants: modifications of the statements that the argument does not support.

Each variant is derived from a statement of :mod:`theory.statements` by substitution, so its
formula differs from its parent's only where the substitution says. Variants are searched for
counterexamples (``repconv check``); one that holds in every search is reported as "no
counterexample found in N instances", never as proved, unless its proof is written in docs/theory.md
("Variants that are theorems"): then it is marked ``proved`` and a counterexample to it fails the check
like one to a statement. ``expectation`` records what the argument
predicts and why, to be confronted with the search.
"""

from __future__ import annotations

import sympy as sp

from .statements import (
    C1,
    G1,
    G2,
    T1,
    D_train,
    R_new,
    R_pi,
    Statement,
    _quantity,
    alpha,
    eps,
    eps_f,
    eps_k,
    gamma,
    r_max,
    r_min,
    span_Q,
)

__all__ = ["VARIANTS", "get_variant"]

_NN = dict(nonnegative=True)

_REACH = "over the states s with rho_{pi_{f_k}}[s] > 0 for some renderer k (visited by the base policy)"
_REACH_ANY = "over the states visited by pi_{f_k} or pi~_{f_k} for some renderer k"
_VISITS = "weighted by the normalised visitation (1-gamma) sum_k p_k rho_{pi_{f_k}}"

alpha_vis = _quantity("alpha_vis", r"\bar\alpha_f", "(1-gamma) sum_s rho_{pi_f}[s] TV(pi_f[s], pi~_f[s]): alpha_f averaged over the base policy's normalised visitation", **_NN)
eps_f_new = _quantity("eps_f_new", r"\epsilon_f(\tilde\pi)", "max_{s,a} |A_{pi~_f}(s,a)|: eps_f of the new policy", **_NN)
eps_new = _quantity("eps_new", r"\epsilon(\tilde\pi)", "max_k eps_{f_k}(pi~)", **_NN)
eps_j = _quantity("eps_j", r"\epsilon_{f_j}(\pi)", "max_{s,a} |A_{pi_{f_j}}(s,a)|", **_NN)
R_pi_reach = _quantity("R_pi_reach", r"R^{\mathrm{reach}}(\pi)", f"R(pi) {_REACH}", **_NN)
R_new_reach = _quantity("R_new_reach", r"R^{\mathrm{reach}}(\tilde\pi)", f"R(pi~) {_REACH}", **_NN)
D_train_reach = _quantity("D_train_reach", r"D^{\mathrm{reach}}_{\mathrm{train}}", f"D_train {_REACH}", **_NN)
R_pi_reach_any = _quantity("R_pi_reach_any", r"R^{\mathrm{reach}\pm}(\pi)", f"R(pi) {_REACH_ANY}", **_NN)
R_new_reach_any = _quantity("R_new_reach_any", r"R^{\mathrm{reach}\pm}(\tilde\pi)", f"R(pi~) {_REACH_ANY}", **_NN)
D_train_reach_any = _quantity("D_train_reach_any", r"D^{\mathrm{reach}\pm}_{\mathrm{train}}", f"D_train {_REACH_ANY}", **_NN)
R_pi_vis = _quantity("R_pi_vis", r"\bar R(\pi)", f"per-state robustness of pi {_VISITS}", **_NN)
R_new_vis = _quantity("R_new_vis", r"\bar R(\tilde\pi)", f"per-state robustness of pi~ {_VISITS}", **_NN)
D_train_vis = _quantity("D_train_vis", r"\bar D_{\mathrm{train}}", "max_{k in T} alpha_vis_k: training divergence averaged over visitation", **_NN)
D_test = _quantity("D_test", r"D_{\mathrm{test}}", "max_{k not in T} alpha_{f_k}: the divergence measured on held-out renderers only", **_NN)


def _variant(parent: Statement, id: str, substitutions: dict, reading: str, expectation: str, derivation: str = "",
             proved: bool = False) -> Statement:
    return parent.substitute(
        id, substitutions, provenance="variant", parent=parent.id, reading=reading,
        hypotheses=(f"those of {parent.id}, except: {reading}",), expectation=expectation, proved=proved,
        derivation=derivation or f"{parent.id} with " + ", ".join(f"{a} -> {b}" for a, b in substitutions.items()),
    )


_C1_X = R_pi + R_new + D_train

_LIST = [
    _variant(C1, "C1-reach", {R_pi: R_pi_reach, R_new: R_new_reach, D_train: D_train_reach},
             "C1 with R, R~ and D_train measured only on states the base policy visits",
             "fail: the new policy can reach states the base policy never visits and act differently there; the penalty does not see them"),
    _variant(C1, "C1-reachAny", {R_pi: R_pi_reach_any, R_new: R_new_reach_any, D_train: D_train_reach_any},
             "C1 with R, R~ and D_train measured on states visited by the base or the new policy",
             "hold (proved): CPO's argument weights the expected advantage by rho_pi~ - rho_pi, zero outside the states one of "
             "the policies visits, and the TV by rho_pi", proved=True),
    _variant(T1, "T1-mean", {alpha: alpha_vis},
             "T1 with alpha_f replaced by its average over the base policy's visitation",
             "fail: a mean TV misses rarely visited states where the policies differ a lot (the first-order error is linear in it)"),
    _variant(C1, "C1-mean", {R_pi: R_pi_vis, R_new: R_new_vis, D_train: D_train_vis},
             "C1 with R, R~ and D_train averaged over visitation instead of maximised over states",
             "fail: as T1-mean"),
    _variant(T1, "T1-epsNew", {eps_f: eps_f_new},
             "T1 with eps taken from the new policy pi~ instead of the base policy pi",
             "hold: L - eta(pi~) = gamma sum_s rho_pi(s) sum_a (pi - pi~)(s,a) P(s,a).(V_pi~ - V_pi) and, by the PDL from each state, "
             "|V_pi~ - V_pi| <= 2 alpha eps(pi~)/(1-gamma): the same penalty with eps of either policy (proved)", proved=True),
    _variant(C1, "C1-epsNew", {eps: eps_new},
             "C1 with eps taken from the new policy pi~ instead of the base policy pi",
             "hold (proved): as T1-epsNew, averaged over renderers", proved=True),
    _variant(C1, "C1-Dtest", {D_train: D_test},
             "C1 with the divergence measured on held-out (non-training) renderers only",
             "hold (proved): L1's triangle inequality goes through any renderer, not only a training one (needs a held-out renderer)",
             proved=True),
    _variant(C1, "C1-noSquare", {_C1_X**2: _C1_X},
             "C1 without the square on R + R~ + D_train",
             "hold (proved): alpha_f <= min(1, X) with X = R + R~ + D_train, so alpha_f^2 <= X; without the square the bound is "
             "weaker when X < 1 and stronger when X > 1, and still true", proved=True),
    _variant(T1, "T1-1mg", {alpha: alpha * sp.sqrt(1 - gamma)},
             "T1 with (1-gamma) instead of (1-gamma)^2 in the penalty",
             "open: the coupling proof loses one factor 1/(1-gamma) against the best known examples",
             "T1 with alpha -> alpha sqrt(1-gamma), i.e. the penalty 4 eps gamma alpha^2 / (1-gamma)"),
    _variant(G1, "G1r-1mg", {span_Q: r_max - r_min},
             "G1r with (1-gamma) instead of (1-gamma)^2",
             "fail: a difference in actions changes which states are visited; the loss compounds over the horizon",
             "G1 with span_Q -> r_max - r_min, i.e. G1r's bound with (1-gamma) instead of (1-gamma)^2"),
    _variant(G1, "G1-reach", {R_pi: R_pi_reach},
             "G1 with R measured only on states some rendering of pi visits",
             "hold (proved): the PDL weights each state by pi_{f_j}'s visitation, which is zero elsewhere", proved=True),
    _variant(G2, "G2-epsTarget", {eps_k: eps_j},
             "G2 with eps taken from the target renderer j instead of the base renderer k",
             "hold (proved): as T1-epsNew (pi_{f_j} plays the new policy)", proved=True),
]

#: Variants by ID, in the order of the falsification table.
VARIANTS: dict[str, Statement] = {v.id: v for v in _LIST}


def get_variant(variant_id: str) -> Statement:
    if variant_id not in VARIANTS:
        raise KeyError(f"unknown variant {variant_id!r}; known: {', '.join(VARIANTS)}")
    return VARIANTS[variant_id]
