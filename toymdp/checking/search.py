"""Searching small instances: random batches with edge cases, and a small optimiser over instances.

* :func:`random_batches` draws batches of random instances of mixed shapes, including the edge
  cases the statements must survive (one renderer, identical renderers, ``pi = pi~``, ``gamma = 0``,
  deterministic renderers and policies, unreachable states, long horizons).
* :func:`optimise` is a derivative-free (1+lambda) evolution strategy over the softmax logits of
  ``P``, ``rho0``, the renderers, the weights and both policies (and optionally ``r`` and ``gamma``).
  Each generation is one batched float evaluation. It minimises the relative slack of a statement
  (falsification: a negative slack is a counterexample, re-decided exactly) or maximises its
  tightness ratio (the tightest instances of a bound).

Probabilities below ``prune`` are set to exactly 0 (each row keeps its largest entry), so the
optimiser reaches deterministic rows and unreachable states, which softmax alone never produces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import softmax

from theory.registry import get_statement

from ..config import SearchConfig
from ..mdp import engine
from ..mdp.evaluation import evaluate
from ..mdp.model import MDP, Instance, RenderingFamily
from ..mdp.numbers import to_exact
from ..mdp.random_instances import one_hot_rows, random_instances
from ..mdp.statement_terms import NotApplicableError, StatementTerms, statement_terms
from .checks import CheckResult, check_all, check_statement

__all__ = [
    "EDGE_CASES",
    "random_batch_plan",
    "random_batches",
    "SearchResult",
    "OptimiserShape",
    "optimise",
    "optimise_runs",
    "objective_values",
    "run_tightest_search",
]


# ---------------------------------------------------------------------------------------------
# Random batches with edge cases
# ---------------------------------------------------------------------------------------------

#: Kinds of random batch: ``(share of the instances, drawn exactly)``. Kinds whose statements meet
#: with equality by construction (R = 0, alpha = 0, gamma = 0, ...) are drawn as exact rational
#: instances even in a float run: a float result there is always within round-off of failing and
#: would be re-decided exactly anyway, at a higher cost (the binary values of floats).
EDGE_CASES: dict[str, tuple[float, bool]] = {
    "generic": (0.44, False),
    "long_horizon": (0.15, False),  # gamma in [0.9, 0.99]
    "sparse": (0.15, False),  # many zero probabilities: unreachable states, unused actions
    "deterministic_base": (0.10, False),  # pi deterministic, pi~ stochastic: states pi never visits
    "deterministic": (0.04, True),  # 0/1 transitions, renderers and policies
    "single_renderer": (0.02, True),
    "identical_renderers": (0.02, True),  # R = 0
    "same_policy": (0.02, True),  # pi = pi~
    "myopic": (0.02, True),  # gamma = 0
    "one_state": (0.04, True),  # S = 1 (a bandit; G1 is an equality with two actions)
    "reach_only_new": (0.04, False),  # a state only pi~ reaches; the renderers differ only there
}


def _one_hot_rows(rng: np.random.Generator, shape: tuple[int, ...], n: int, exact: bool) -> np.ndarray:
    hot = one_hot_rows(rng, shape, n)
    return to_exact(hot) if exact else hot


def _edit(inst: Instance, **changes) -> Instance:
    m, f = inst.mdp, inst.family
    parts = dict(
        P=m.P,
        r=m.r,
        rho0=m.rho0,
        gamma=m.gamma,
        renderers=f.renderers,
        test_weights=f.test_weights,
        train=f.train,
        train_weights=f.train_weights,
        pi=inst.pi,
        pi_tilde=inst.pi_tilde,
    )
    parts.update(changes)
    ex = inst.exact
    return Instance(
        MDP(parts["P"], parts["r"], parts["rho0"], parts["gamma"], exact=ex),
        RenderingFamily(parts["renderers"], parts["test_weights"], parts["train"], parts["train_weights"], exact=ex),
        parts["pi"],
        parts["pi_tilde"],
    )


def random_batch(
    rng: np.random.Generator, case: str, batch: int, *, exact: bool = False, max_states: int = 5
) -> Instance:
    """One batch of ``batch`` random instances of the kind ``case`` (a key of :data:`EDGE_CASES`)."""
    if case not in EDGE_CASES:
        raise ValueError(f"unknown case {case!r}; known: {', '.join(EDGE_CASES)}")
    S = 1 if case == "one_state" else int(rng.integers(2, max_states + 1))
    A = int(rng.integers(2, 4))
    K = 1 if case == "single_renderer" else int(rng.integers(2, 5))
    O = int(rng.integers(2, 6))
    gammas: dict[str, float | tuple[float, float]] = {"long_horizon": (0.9, 0.99), "myopic": 0.0}
    gamma = gammas.get(case, (0.0, 0.99))
    sparsity = 0.7 if case in ("sparse", "deterministic_base") else 0.3
    det = 1.0 if case == "deterministic" else 0.5
    inst = random_instances(
        rng, batch, S, A, K, O, gamma=gamma, exact=exact, sparsity=sparsity, deterministic_renderer_fraction=det
    )
    if case == "deterministic":
        inst = _edit(
            inst,
            P=_one_hot_rows(rng, (batch, S, A), S, exact),
            pi=_one_hot_rows(rng, (batch, O), A, exact),
            pi_tilde=_one_hot_rows(rng, (batch, O), A, exact),
        )
    elif case == "deterministic_base":
        inst = _edit(inst, pi=_one_hot_rows(rng, (batch, O), A, exact))
    elif case == "identical_renderers":
        F = inst.family.renderers
        inst = _edit(inst, renderers=np.repeat(F[:, :1], K, axis=1))
    elif case == "same_policy":
        inst = _edit(inst, pi_tilde=inst.pi.copy())
    elif case == "reach_only_new":
        inst = _reach_only_new(inst, rng)
    return inst


def _renormalise(x: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to sum 1; an all-zero row becomes ``fallback`` (broadcast against ``x``)."""
    total = x.sum(axis=-1, keepdims=True)
    return np.where(total > 0, x / np.where(total > 0, total, 1.0), fallback)


def _reach_only_new(inst: Instance, rng: np.random.Generator) -> Instance:
    """The structure that refutes C1-reach: the last state h is entered only through action 1, which pi never plays
    outside h, while pi~ does; every renderer shows the other states alike (never as the last observation), so the
    renderers differ only at h, a state pi never visits. pi~ follows pi except for a small probability of action 1
    and acts differently from pi on the last observation. An exact instance is built in floats and converted back
    (rows made to sum to exactly 1, zero pattern kept), since the edits mix in floats."""
    if inst.exact:
        return _reach_only_new(inst.to_float(), rng).to_exact()
    m, f = inst.mdp, inst.family
    S, O, A = m.num_states, f.num_observations, m.num_actions
    h = S - 1
    eye_s = np.eye(S)
    P = m.P.copy()
    away = P[..., :h, :, :].copy()
    away[..., h] = 0.0
    away = _renormalise(away, eye_s[:h, None, :])  # an all-zero row stays put
    away[..., 1, :] = 0.5 * away[..., 1, :] + 0.5 * eye_s[h]  # action 1 enters h with probability at least 1/2
    P[..., :h, :, :] = away
    rho0 = m.rho0.copy()
    rho0[..., h] = 0.0
    rho0 = _renormalise(rho0, eye_s[0])
    F = f.renderers.copy()
    visible = F[..., :1, :h, :].copy()
    visible[..., O - 1] = 0.0
    F[..., :, :h, :] = _renormalise(visible, np.eye(O)[0])  # identical on the states other than h
    F[..., 0, h, :] = np.eye(O)[O - 1]  # the training renderer shows h as the last observation
    pi = inst.pi.copy()
    pi[..., : O - 1, 1] = 0.0
    pi = _renormalise(pi, np.eye(A)[0])
    pi[..., O - 1, :] = np.eye(A)[0]
    delta = rng.uniform(0.01, 0.2, size=pi.shape[:-2] + (1, 1))
    pi_tilde = (1 - delta) * pi + delta * np.eye(A)[1]
    pi_tilde[..., O - 1, :] = np.eye(A)[1]
    r = m.r.copy()
    r[..., h, :] = r.min(axis=(-2, -1))[..., None]  # at h, pi's action is the best one and pi~'s the worst
    r[..., h, 0] = r.max(axis=(-2, -1))
    return _edit(inst, P=P, r=r, rho0=rho0, renderers=F, pi=pi, pi_tilde=pi_tilde)


def random_batch_plan(n: int, *, batch_size: int = 256) -> list[tuple[str, int]]:
    """The ``(case, size)`` of each batch :func:`random_batches` draws for ``n`` instances (before its shuffle)."""
    cases = list(EDGE_CASES)
    weights = np.array([EDGE_CASES[c][0] for c in cases])
    counts = np.floor(weights / weights.sum() * n).astype(int)
    counts[0] += n - counts.sum()
    plan = []
    for case, count in zip(cases, counts):
        while count > 0:
            size = int(min(batch_size, count))
            plan.append((case, size))
            count -= size
    return plan


def random_batches(
    rng: np.random.Generator, n: int, *, exact: bool = False, batch_size: int = 256, max_states: int = 5
) -> Iterator[tuple[str, Instance]]:
    """Yield ``(case, batch)`` until ``n`` instances are drawn; cases in the proportions of :data:`EDGE_CASES`.

    With ``exact=False`` the kinds marked exact in :data:`EDGE_CASES` are still drawn exactly.
    """
    plan = random_batch_plan(n, batch_size=batch_size)
    for i in rng.permutation(len(plan)):
        case, size = plan[i]
        yield case, random_batch(rng, case, size, exact=exact or EDGE_CASES[case][1], max_states=max_states)


# ---------------------------------------------------------------------------------------------
# The optimiser
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SearchResult:
    """The best instance an :func:`optimise` run found, its result (re-decided exactly) and cost."""

    statement_id: str
    objective: str
    instance: Instance  #: a single float instance
    result: CheckResult
    value: float  #: the objective at the best instance (relative slack, or tightness ratio)
    evaluations: int  #: instances evaluated


def _softmax(logits: np.ndarray, prune: float) -> np.ndarray:
    p = softmax(logits, axis=-1)
    if prune > 0:
        keep = (p >= prune) | (p == p.max(axis=-1, keepdims=True))
        p = np.where(keep, p, 0.0)
        p = p / p.sum(axis=-1, keepdims=True)
    return p


def _shapes(S: int, A: int, K: int, O: int, T: int) -> dict[str, tuple[int, ...]]:
    return {
        "P": (S, A, S),
        "rho0": (S,),
        "r": (S, A),
        "gamma": (),
        "renderers": (K, S, O),
        "test_weights": (K,),
        "train_weights": (T,),
        "pi": (O, A),
        "pi_tilde": (O, A),
    }


def _build(
    theta: dict[str, np.ndarray], T: int, prune: float, gamma: float | None, rewards: np.ndarray | None
) -> Instance:
    sm = lambda name, cut=prune: _softmax(theta[name], cut)  # noqa: E731
    r = np.tanh(theta["r"]) if rewards is None else np.broadcast_to(rewards, theta["r"].shape)
    g = 0.99 / (1 + np.exp(-theta["gamma"])) if gamma is None else np.full(theta["gamma"].shape, float(gamma))
    mdp = MDP(sm("P"), r, sm("rho0"), g, exact=False)
    fam = RenderingFamily(
        sm("renderers"), sm("test_weights", 0.0), list(range(T)), sm("train_weights", 0.0), exact=False
    )
    return Instance(mdp, fam, sm("pi"), sm("pi_tilde"))


def objective_values(result: CheckResult, objective: str) -> np.ndarray:
    """Per instance, the value :func:`optimise` minimises.

    ``'slack'``: the smallest slack relative to the size of the terms, ``slack / (1 + |lhs| + |rhs|)``
    (scale-free, so the search cannot win by shrinking rewards); ``'tightness'``: minus the largest
    tightness ratio (undefined ratios count as ``+inf`` here, i.e. never chosen).
    """
    if objective == "slack":
        rel = np.asarray(result.slack, dtype=float) / (
            1 + np.abs(np.asarray(result.lhs, dtype=float)) + np.abs(np.asarray(result.rhs, dtype=float))
        )
        return rel.min(axis=-1) if result.trailing_axes else rel
    if objective == "tightness":
        t = np.asarray(result.tightness, dtype=float)
        t = np.where(np.isnan(t), -np.inf, t)
        neg = -(t.max(axis=-1) if result.trailing_axes else t)
        return neg
    raise ValueError(f"objective {objective!r}, expected 'slack' or 'tightness'")


def optimise(
    statement_id: str,
    objective: str = "slack",
    num_states: int = 3,
    num_actions: int = 2,
    num_renderers: int = 2,
    num_observations: int = 3,
    restarts: int = 4,
    rng: np.random.Generator | None = None,
    *,
    iterations: int = 60,
    population: int = 32,
    num_train: int | None = None,
    gamma: float | None = None,
    rewards: np.ndarray | None = None,
    prune: float = 0.01,
    init_scale: float = 2.0,
) -> SearchResult:
    """Minimise the relative slack (``objective='slack'``) or maximise the tightness ratio (``'tightness'``)
    of a statement over instances of one small shape.

    ``gamma=None`` optimises the discount in ``[0, 0.99]``; ``rewards=None`` optimises rewards in
    ``[-1, 1]`` (pass an ``S x A`` array to fix them). ``num_train`` defaults to ``max(1, K // 2)``.
    The returned result is decided exactly when the float slack is within round-off of failing or fails.
    The restarts run in lockstep (:func:`optimise_runs`); the best of them is returned. Raises
    ``ValueError`` when the statement does not apply to the shape (e.g. it needs a held-out renderer).
    """
    if restarts < 1:
        raise ValueError(f"restarts is {restarts}, expected >= 1")
    rng = rng if rng is not None else np.random.default_rng()
    shape = OptimiserShape(num_states, num_actions, num_renderers, num_observations, num_train, gamma, rewards)
    setting = _Setting(iterations, population, prune, init_scale)
    if not _applies(statement_id, shape, setting):
        _draw(rng, shape, setting, applies=False)  # the draws of the first restart, as when its first generation failed
        raise ValueError(
            f"{statement_id} does not apply to instances with K={shape.K}, T={shape.T} (see its hypotheses)"
        )
    runs = [_Run(statement_id, objective, shape, _draw(rng, shape, setting, applies=True)) for _ in range(restarts)]
    with engine.float_solver("numpy"):  # numpy's per-matrix LAPACK beats a batched LU on small systems
        ends = _lockstep(runs, setting)
        best = 0
        for i, (val, _) in enumerate(ends):
            if val < ends[best][0]:  # the objective may be undefined (inf) everywhere: the first restart stays
                best = i
        return _decide(runs[best], ends[best], setting, restarts * (iterations + 1) * population)


@dataclass(frozen=True, eq=False)
class OptimiserShape:
    """The instances one optimiser run searches: ``S, A, K, O`` and what is held fixed (see :func:`optimise`)."""

    num_states: int
    num_actions: int
    num_renderers: int
    num_observations: int
    num_train: int | None = None  #: ``None``: ``max(1, K // 2)``
    gamma: float | None = None  #: ``None``: optimised in ``[0, 0.99]``
    rewards: np.ndarray | None = None  #: ``None``: optimised in ``[-1, 1]``

    def __post_init__(self) -> None:
        if self.num_states > 5:
            raise ValueError(f"num_states is {self.num_states}; the optimiser is meant for small instances (S <= 5)")

    @property
    def K(self) -> int:
        return self.num_renderers

    @property
    def T(self) -> int:
        return max(1, self.K // 2) if self.num_train is None else self.num_train

    def parameters(self) -> dict[str, tuple[int, ...]]:
        return _shapes(self.num_states, self.num_actions, self.K, self.num_observations, self.T)

    def key(self) -> tuple:
        rewards = None if self.rewards is None else np.asarray(self.rewards, dtype=float).tobytes()
        return (self.num_states, self.num_actions, self.K, self.num_observations, self.T, self.gamma, rewards)


@dataclass(frozen=True)
class _Setting:
    iterations: int
    population: int
    prune: float
    init_scale: float


@dataclass(frozen=True, eq=False)
class _Run:
    """One optimiser run: its statement, shape and every random draw it makes (drawn before it runs)."""

    statement_id: str
    objective: str
    shape: OptimiserShape
    #: ``draws[0]``: the first population's logits; ``draws[g]``: the standard normal steps of generation ``g``.
    draws: list[dict[str, np.ndarray]]


def _draw(rng: np.random.Generator, shape: OptimiserShape, setting: _Setting, *, applies: bool) -> list[dict]:
    """Every draw of one run, in the order the run makes them. The draws never depend on the values found
    (a step size scales a standard normal drawn regardless), so a run's draws can be made before it runs.
    A run whose statement does not apply draws its first population only (its evaluation then fails)."""
    pop, params = setting.population, shape.parameters()
    draws = [{k: rng.normal(0, setting.init_scale, (pop,) + s) for k, s in params.items()}]
    if applies:
        draws += [{k: rng.normal(0, 1, (pop,) + s) for k, s in params.items()} for _ in range(setting.iterations)]
    return draws


def _build_for(shape: OptimiserShape, theta: dict[str, np.ndarray], setting: _Setting) -> Instance:
    return _build(theta, shape.T, setting.prune, shape.gamma, shape.rewards)


def _applies(statement_id: str, shape: OptimiserShape, setting: _Setting, terms: dict | None = None) -> bool:
    """Whether the statement applies to instances of ``shape``: whether one instance of the shape defines every
    quantity it needs (which depends on the shape only). ``terms`` caches that instance's terms per shape."""
    terms = {} if terms is None else terms
    if shape.key() not in terms:
        one = {k: np.zeros((1,) + s) for k, s in shape.parameters().items()}
        terms[shape.key()] = statement_terms(evaluate(_build_for(shape, one, setting)))
    try:
        terms[shape.key()].for_statement(get_statement(statement_id))
    except NotApplicableError:
        return False
    return True


def _lockstep(runs: list[_Run], setting: _Setting) -> list[tuple[float, dict[str, np.ndarray]]]:
    """Advance runs of one shape together: each generation is one evaluation of every run's population.

    Each run follows the (1+lambda) evolution strategy with elitism of :func:`optimise`; the values of
    one run's instances are the same as in a batch of its own (every quantity is computed per instance).
    Returns per run the best value and logits.
    """
    pop, n = setting.population, len(runs)
    shape = runs[0].shape
    assert all(r.shape.key() == shape.key() for r in runs), "lockstep runs share one shape"
    rows = [list(range(i * pop, (i + 1) * pop)) for i in range(n)]

    def score(thetas: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
        theta = {k: np.concatenate([t[k] for t in thetas]) for k in thetas[0]}
        ev = evaluate(_build_for(shape, theta, setting))
        terms = statement_terms(ev)
        out = []
        for run, rows_i in zip(runs, rows):  # each run's statement on its own population only
            sid = run.statement_id
            mine = terms.subset(rows_i, get_statement(sid).quantity_names)
            res = check_all(ev, [sid], redecide_exactly=False, terms=mine)[sid]
            vals = objective_values(res, run.objective)
            out.append(np.where(np.isnan(vals), np.inf, vals))
        return out

    thetas = [r.draws[0] for r in runs]
    cur, cur_val, step = [], [], [1.0] * n
    for theta, vals in zip(thetas, score(thetas)):
        i = int(np.argmin(vals))
        cur.append({k: v[i] for k, v in theta.items()})
        cur_val.append(float(vals[i]))
    for g in range(1, setting.iterations + 1):
        thetas = []
        for r, run in enumerate(runs):
            theta = {k: v[None] + step[r] * run.draws[g][k] for k, v in cur[r].items()}
            for k in theta:
                theta[k][0] = cur[r][k]  # elitism: the current best stays in the population
            thetas.append(theta)
        for r, (theta, vals) in enumerate(zip(thetas, score(thetas))):
            i = int(np.argmin(vals))
            if vals[i] < cur_val[r]:
                cur[r], cur_val[r], step[r] = (
                    {k: v[i] for k, v in theta.items()},
                    float(vals[i]),
                    min(step[r] * 1.3, 4.0),
                )
            else:
                step[r] = max(step[r] * 0.8, 0.02)
    return list(zip(cur_val, cur))


def _decide(run: _Run, end: tuple[float, dict[str, np.ndarray]], setting: _Setting, evaluations: int) -> SearchResult:
    """The result of a run: its best instance, decided (exactly when within round-off of failing or failing)."""
    value, theta = end
    inst = _build_for(run.shape, {k: v[None] for k, v in theta.items()}, setting)[0]
    result = check_statement(run.statement_id, evaluate(inst))
    return SearchResult(run.statement_id, run.objective, inst, result, value, evaluations)


def optimise_runs(
    runs: list[tuple[str, str, OptimiserShape]],
    rng: np.random.Generator,
    *,
    iterations: int = 60,
    population: int = 32,
    prune: float = 0.01,
    init_scale: float = 2.0,
    progress: Callable[[int], object] | None = None,
) -> list[SearchResult | None]:
    """Several single-restart :func:`optimise` runs ``(statement_id, objective, shape)``, with the results of
    running them one after another on ``rng``: the same draws, instances, values and decisions.

    The runs of one shape advance in lockstep, one evaluation per generation for all of them. A run whose
    statement does not apply to its shape gives ``None`` (it draws what its first generation would).
    ``progress(n)`` is called as ``n`` more runs are done.
    """
    setting = _Setting(iterations, population, prune, init_scale)
    shape_terms: dict[tuple, StatementTerms] = {}
    planned: list[_Run | None] = []
    for sid, objective, shape in runs:
        applies = _applies(sid, shape, setting, shape_terms)
        draws = _draw(rng, shape, setting, applies=applies)
        planned.append(_Run(sid, objective, shape, draws) if applies else None)
    groups: dict[tuple, list[tuple[int, _Run]]] = {}
    for i, run in enumerate(planned):
        if run is not None:
            groups.setdefault(run.shape.key(), []).append((i, run))
    out: list[SearchResult | None] = [None] * len(runs)
    with engine.float_solver("numpy"):
        for members in groups.values():
            ends = _lockstep([run for _, run in members], setting)
            for (i, run), end in zip(members, ends):
                out[i] = _decide(run, end, setting, (iterations + 1) * population)
            if progress is not None:
                progress(len(members))
    if progress is not None:
        progress(len(runs) - sum(len(m) for m in groups.values()))
    return out


def run_tightest_search(config: SearchConfig, *, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Maximise the tightness ratio of each statement over small instances with single-restart :func:`optimise`
    runs (``config.restarts`` per statement, discount and size), run in lockstep by :func:`optimise_runs`: the
    results of running them one after another on one generator.

    Each optimiser run's best instance is re-decided in exact arithmetic (the instance converted with
    :meth:`~toymdp.mdp.model.Instance.to_exact`), and the reported ratio is the exact one: a float ratio
    whose denominator is near round-off cannot inflate the result. For a per-renderer statement (T1)
    the ratio of an instance is its largest over renderers. A statement that does not apply to a shape (it needs
    a held-out renderer) has no row for it.
    """
    from ..mdp.instance_io import instance_to_dict

    rng = np.random.default_rng(config.seed)
    cells = [(sid, gamma, S) for sid in config.statements for gamma in config.gammas for S in config.num_states]
    runs = [
        (
            sid,
            "tightness",
            OptimiserShape(S, config.num_actions, config.num_renderers, config.num_observations, None, gamma),
        )
        for sid, gamma, S in cells
        for _ in range(config.restarts)
    ]
    found_runs = optimise_runs(runs, rng, progress=progress)
    out: dict[str, Any] = {"config": asdict(config), "results": {sid: [] for sid in config.statements}}
    for c, (sid, gamma, S) in enumerate(cells):
        best: dict[str, Any] | None = None
        for found in found_runs[c * config.restarts : (c + 1) * config.restarts]:
            if found is None:  # the statement does not apply to this shape
                continue
            exact_instance = found.instance.to_exact()
            check = check_statement(sid, evaluate(exact_instance))
            ratios = [float(t) for t in np.atleast_1d(check.tightness).tolist() if t is not None]
            if not ratios:
                continue
            k = int(np.argmax(ratios))
            candidate = {
                "num_states": S,
                "gamma_setting": "optimised" if gamma is None else float(gamma),
                "gamma": float(exact_instance.mdp.gamma),
                "tightness": ratios[k],
                "lhs": float(np.atleast_1d(check.lhs)[k]),
                "rhs": float(np.atleast_1d(check.rhs)[k]),
                "holds": bool(np.all(check.holds)),
                "instance": instance_to_dict(found.instance),
            }
            if best is None or candidate["tightness"] > best["tightness"]:
                best = candidate
        if best is not None:
            out["results"][sid].append(best)
    return out
