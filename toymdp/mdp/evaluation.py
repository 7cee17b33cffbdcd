"""Every quantity of THEORY.md's two tables for an instance (one or a batch), in either engine.

:func:`evaluate` is the single place where the rendering-level quantities (``eta_f``, ``eta_test``,
``R``, ``D_train``, ``alpha_f``, ``eps_f``, ``L``) are assembled from the engine's state-policy
functions; ``repconv eval``, the statement checks (:mod:`toymdp.mdp.statement_terms`) and the toy example all read
them from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from functools import cached_property
from types import SimpleNamespace
from typing import Any

import numpy as np

from common.arrays import max_last, sum_last
from theory.quantities import max_tv, robustness

from . import engine
from .model import MDP, Instance, RenderingFamily
from .numbers import (
    FLINT,
    flint_enabled,
    float_to_flint,
    float_to_flint_stochastic,
    format_number,
    from_flint,
    to_flint,
)

__all__ = [
    "PolicyTerms",
    "Evaluation",
    "LazyEvaluation",
    "ExactRows",
    "PolicyParts",
    "policy_terms",
    "evaluate",
    "flint_evaluation",
    "exact_arrays",
]


@dataclass(frozen=True, eq=False)
class PolicyTerms:
    """Quantities of one observation policy ``pi`` under each renderer ``f_k`` (batch shape ``...``)."""

    sigma: np.ndarray  #: (..., K, S, A) state policies pi_{f_k} = F_k Pi
    V: np.ndarray  #: (..., K, S) V_{pi_f}
    Q: np.ndarray  #: (..., K, S, A) Q_{pi_f}
    A: np.ndarray  #: (..., K, S, A) A_{pi_f}
    rho: np.ndarray  #: (..., K, S) unnormalised discounted visitation rho_{pi_f}
    eta: np.ndarray  #: (..., K) eta_f(pi)
    eps_per_renderer: np.ndarray  #: (..., K) eps_f(pi) = max |A_{pi_f}|
    eps: np.ndarray  #: (...) eps(pi) = max_k eps_{f_k}(pi)
    R: np.ndarray  #: (...) robustness term R(pi)
    eta_test: np.ndarray  #: (...) sum_k p_k eta_{f_k}(pi)
    eta_train: np.ndarray  #: (...) sum_{k in T} q_k eta_{f_k}(pi)


def _per_renderer(mdp: MDP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``r``, ``rho0`` and ``gamma`` with a renderer axis inserted, to broadcast against ``(..., K, ...)``.

    ``P`` needs none: the engine contracts it with all renderers' policies at once.
    """
    return mdp.r[..., None, :, :], mdp.rho0[..., None, :], np.asarray(mdp.gamma)[..., None]


def policy_terms(mdp: MDP, family: RenderingFamily, pi: np.ndarray) -> PolicyTerms:
    """Evaluate observation policy ``pi`` (``(..., O, A)``) under every renderer of ``family``."""
    parts = PolicyParts(mdp, family, pi)
    return PolicyTerms(**{name: getattr(parts, name) for name in POLICY_FIELDS})


class PolicyParts:
    """The fields of :class:`PolicyTerms`, each computed on first read (with what it needs): the one place
    their formulas are written. ``mdp`` and ``family`` need only the arrays' attributes (``P, r, rho0, gamma``;
    ``renderers, test_weights, train, train_weights``)."""

    def __init__(self, mdp: Any, family: Any, pi: np.ndarray, known: dict[str, np.ndarray] | None = None):
        """``known`` gives fields already computed for these instances (they are not computed again)."""
        self._mdp, self._family, self._pi = mdp, family, pi
        self._r, self._rho0, self._gamma = _per_renderer(mdp)
        self.__dict__.update(known or {})  # where cached_property keeps what it computed

    def computed(self) -> dict[str, np.ndarray]:
        """The fields computed (or given) so far."""
        return {name: self.__dict__[name] for name in POLICY_FIELDS if name in self.__dict__}

    @cached_property
    def sigma(self) -> np.ndarray:
        return engine.state_policy(self._family.renderers, self._pi)

    def _solve(self) -> None:
        """``V`` and ``rho`` together: both systems of a policy share one matrix."""
        self.__dict__["V"], self.__dict__["rho"] = engine.values_and_occupancy(
            self._mdp.P, self._r, self._gamma, self._rho0, self.sigma
        )

    @cached_property
    def V(self) -> np.ndarray:
        self._solve()
        return self.__dict__["V"]

    @cached_property
    def rho(self) -> np.ndarray:
        self._solve()
        return self.__dict__["rho"]

    @cached_property
    def Q(self) -> np.ndarray:
        return engine.q_values(self._mdp.P, self._r, self._gamma, self.V)

    @cached_property
    def A(self) -> np.ndarray:
        return engine.advantages(self.Q, self.V)

    @cached_property
    def eta(self) -> np.ndarray:
        return engine.expected_return(self._rho0, self.V)

    @cached_property
    def eps_per_renderer(self) -> np.ndarray:
        return engine.max_abs_advantage(self.A)

    @cached_property
    def eps(self) -> np.ndarray:
        return max_last(self.eps_per_renderer)

    @cached_property
    def R(self) -> np.ndarray:
        return robustness(self.sigma)

    @cached_property
    def eta_test(self) -> np.ndarray:
        return sum_last(self._family.test_weights * self.eta)

    @cached_property
    def eta_train(self) -> np.ndarray:
        return sum_last(self._family.train_weights * self.eta[..., list(self._family.train)])


#: The fields of :class:`PolicyTerms`, in order.
POLICY_FIELDS = tuple(f.name for f in fields(PolicyTerms))


@dataclass(frozen=True, eq=False)
class FlintForm:
    """An exact evaluation and its instance's arrays on FLINT rationals (``flint.fmpq`` object arrays)."""

    evaluation: Evaluation
    mdp: Any  #: ``P, r, rho0, gamma`` as attributes
    family: Any  #: ``renderers, test_weights, train, train_weights, num_renderers`` as attributes


@dataclass(frozen=True, eq=False)
class Evaluation:
    """All quantities of an :class:`~toymdp.mdp.model.Instance` for ``pi`` (base) and ``pi_tilde`` (new)."""

    instance: Instance
    pi: PolicyTerms
    pi_tilde: PolicyTerms
    alpha: np.ndarray  #: (..., K) alpha_f(pi, pi~) = max_s TV(pi_f[s], pi~_f[s])
    L: np.ndarray  #: (..., K) surrogate L_{pi_f}(pi~_f)
    D_train: np.ndarray  #: (...) max_{k in T} alpha_{f_k}(pi, pi~)
    #: The same evaluation on FLINT rationals when it was computed on them (exact engine with
    #: python-flint), so that :func:`toymdp.mdp.statement_terms.statement_terms` can keep computing in C.
    flint: FlintForm | None = field(default=None, repr=False)

    @property
    def exact(self) -> bool:
        return self.instance.exact

    def to_json(self) -> dict[str, Any]:
        """The ``repconv eval`` record of a single instance: ``"p/q"`` strings when exact, else floats."""
        if self.instance.batch_shape:
            raise ValueError("to_json describes one instance; index the batch first (instance[i])")
        num = lambda x: format_number(x, self.exact)  # noqa: E731
        K = self.alpha.shape[-1]
        return {
            "exact": self.exact,
            "eta_test": {"pi": num(self.pi.eta_test), "pi_tilde": num(self.pi_tilde.eta_test)},
            "eta_train": {"pi": num(self.pi.eta_train), "pi_tilde": num(self.pi_tilde.eta_train)},
            "R_pi": num(self.pi.R),
            "R_pi_tilde": num(self.pi_tilde.R),
            "D_train": num(self.D_train),
            "eps": {"pi": num(self.pi.eps), "pi_tilde": num(self.pi_tilde.eps)},
            "per_renderer": [
                {
                    "renderer": k,
                    "train": k in self.instance.family.train,
                    "eta_pi": num(self.pi.eta[k]),
                    "eta_pi_tilde": num(self.pi_tilde.eta[k]),
                    "alpha": num(self.alpha[k]),
                    "eps_pi": num(self.pi.eps_per_renderer[k]),
                    "L": num(self.L[k]),
                }
                for k in range(K)
            ],
        }


def evaluate(instance: Instance) -> Evaluation:
    """Evaluate both policies of ``instance`` (single or batched) with the engine its dtype selects.

    Exact instances are computed on FLINT rationals when python-flint is installed
    (:func:`toymdp.mdp.numbers.flint_enabled`); the returned arrays hold :class:`fractions.Fraction`
    either way, with the same values.
    """
    if not (instance.exact and flint_enabled()):
        return _evaluate(instance, instance.mdp, instance.family, instance.pi, instance.pi_tilde)
    ev, mdp, family = _evaluate_on_flint(instance)
    back = lambda terms: {fl.name: from_flint(getattr(terms, fl.name)) for fl in fields(terms)}  # noqa: E731
    return replace(
        ev,
        pi=PolicyTerms(**back(ev.pi)),
        pi_tilde=PolicyTerms(**back(ev.pi_tilde)),
        alpha=from_flint(ev.alpha),
        L=from_flint(ev.L),
        D_train=from_flint(ev.D_train),
        flint=FlintForm(ev, mdp, family),
    )


def flint_evaluation(instance: Instance) -> FlintForm:
    """The exact evaluation of ``instance`` on FLINT rationals only (needs python-flint): for a float instance,
    the values of ``evaluate(instance.to_exact())``, each float converted straight to ``flint.fmpq``
    (:func:`~toymdp.mdp.numbers.float_to_flint_stochastic`), with no :class:`fractions.Fraction` built.

    For a float instance the returned evaluation's ``instance`` is that float instance (its values are those
    of ``instance.to_exact()``); what reads it, :func:`toymdp.mdp.statement_terms.exact_statement_terms`, uses
    only its batch shape.
    """
    if FLINT is None:
        raise ImportError("python-flint is not installed (pip install 'repconv[exact]')")
    return FlintForm(*_evaluate_on_flint(instance))


def _namespaces(
    m: Any,
    f: Any,
    plain: Callable[[np.ndarray], np.ndarray],
    stochastic: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[SimpleNamespace, SimpleNamespace]:
    """The MDP's arrays (``P, r, rho0, gamma``) and the rendering family's (``renderers, test_weights, train,
    train_weights, num_renderers``) as attributes, each array passed through ``plain`` or, for the stochastic ones,
    ``stochastic`` (default ``plain``): what the policies' formulas read."""
    stochastic = stochastic or plain
    mdp = SimpleNamespace(P=stochastic(m.P), r=plain(m.r), rho0=stochastic(m.rho0), gamma=plain(np.asarray(m.gamma)))
    family = SimpleNamespace(
        renderers=stochastic(f.renderers),
        test_weights=stochastic(f.test_weights),
        train=f.train,
        train_weights=stochastic(f.train_weights),
        num_renderers=f.num_renderers,
    )
    return mdp, family


def exact_arrays(instance: Instance) -> tuple[SimpleNamespace, SimpleNamespace, np.ndarray, np.ndarray, type]:
    """The arrays of ``instance`` (float or exact) as exact rationals: ``mdp`` (``P, r, rho0, gamma``), ``family``
    (``renderers, test_weights, train, train_weights, num_renderers``), ``pi``, ``pi_tilde`` and their number type.
    FLINT rationals when python-flint is enabled (:func:`_flint_arrays`), else the fractions of
    :meth:`~toymdp.mdp.model.Instance.to_exact`; the same values either way."""
    if flint_enabled():
        return (*_flint_arrays(instance), FLINT.fmpq)
    exact = instance if instance.exact else instance.to_exact()
    mdp, family = _namespaces(exact.mdp, exact.family, lambda x: x)
    return mdp, family, exact.pi, exact.pi_tilde, Fraction


def _flint_arrays(instance: Instance) -> tuple[SimpleNamespace, SimpleNamespace, np.ndarray, np.ndarray]:
    """The instance's arrays as ``flint.fmpq``: converted from fractions for an exact instance; for a float
    instance, as :meth:`~toymdp.mdp.model.Instance.to_exact` converts them (every float's binary value; each
    stochastic row's residual on its largest entry)."""
    m, f = instance.mdp, instance.family
    if instance.exact:
        plain = stochastic = to_flint
    else:
        plain, stochastic = float_to_flint, float_to_flint_stochastic
    mdp, family = _namespaces(m, f, plain, stochastic)
    return mdp, family, stochastic(instance.pi), stochastic(instance.pi_tilde)


def _evaluate_on_flint(instance: Instance) -> tuple[Evaluation, SimpleNamespace, SimpleNamespace]:
    """The evaluation on FLINT rationals and the instance's arrays as ``flint.fmpq`` (:func:`_flint_arrays`)."""
    mdp, family, pi, pi_tilde = _flint_arrays(instance)
    return _evaluate(instance, mdp, family, pi, pi_tilde), mdp, family


class LazyEvaluation:
    """The attributes of an :class:`Evaluation` (``instance, pi, pi_tilde, alpha, L, D_train, exact``), each computed
    on first use: what needs only the base policy (the rendering-gap statements) never solves the new policy's
    systems. :func:`evaluate` computes them all through this class, so both give the same values."""

    def __init__(
        self,
        instance: Instance,
        mdp: Any,
        family: Any,
        pi: np.ndarray,
        pi_tilde: np.ndarray,
        exact: bool,
        policies: Callable[[str], Any] | None = None,
    ):
        """``policies("pi")`` / ``policies("pi_tilde")``, when given, supplies the policies' terms (else
        :func:`policy_terms` computes them from ``mdp``, ``family`` and ``pi`` / ``pi_tilde``)."""
        self.instance, self.exact = instance, exact
        self._mdp, self._family, self._pi, self._pi_tilde = mdp, family, pi, pi_tilde
        self._policies = policies

    @cached_property
    def pi(self) -> PolicyTerms:
        if self._policies is not None:
            return self._policies("pi")
        return policy_terms(self._mdp, self._family, self._pi)

    @cached_property
    def pi_tilde(self) -> PolicyTerms:
        if self._policies is not None:
            return self._policies("pi_tilde")
        return policy_terms(self._mdp, self._family, self._pi_tilde)

    @cached_property
    def alpha(self) -> np.ndarray:
        return max_tv(self.pi.sigma, self.pi_tilde.sigma)

    @cached_property
    def L(self) -> np.ndarray:
        return engine.surrogate(self.pi.eta, self.pi.rho, self.pi.A, self.pi_tilde.sigma)

    @cached_property
    def D_train(self) -> np.ndarray:
        return max_last(self.alpha[..., list(self._family.train)])


def _evaluate(instance: Instance, mdp: Any, family: Any, pi: np.ndarray, pi_tilde: np.ndarray) -> Evaluation:
    lazy = LazyEvaluation(instance, mdp, family, pi, pi_tilde, instance.exact)
    return Evaluation(
        instance=instance, pi=lazy.pi, pi_tilde=lazy.pi_tilde, alpha=lazy.alpha, L=lazy.L, D_train=lazy.D_train
    )


class ExactRows:
    """Exact evaluations of subsets of the instances of a batch (one batch axis), float or exact, sharing the
    policies' terms: each policy is evaluated for an instance the first time some subset needs it, then kept.

    Exact re-decisions need different instances for different statements (near ties of one statement, failures of
    another); :meth:`evaluation` gives each subset a :class:`LazyEvaluation` over its own instances, so a statement
    computes its quantities only where it is re-decided while no policy is solved twice for one instance. The
    arrays are FLINT rationals when python-flint is enabled (:attr:`rational` ``flint.fmpq``), else fractions of
    :meth:`~toymdp.mdp.model.Instance.to_exact`; the values are those of ``evaluate(instance.to_exact())``.
    """

    def __init__(self, instance: Instance):
        if len(instance.batch_shape) != 1:
            raise ValueError(f"ExactRows needs a batch with one axis, this one has shape {instance.batch_shape}")
        self.instance = instance
        self.mdp, self.family, pi, pi_tilde, self.rational = exact_arrays(instance)
        self._policy = {"pi": pi, "pi_tilde": pi_tilde}
        #: per policy and field of PolicyTerms: which instances it is computed for, and its values there
        self._done: dict[str, dict[str, np.ndarray]] = {name: {} for name in self._policy}
        self._store: dict[str, dict[str, np.ndarray]] = {}

    def arrays(self, rows: np.ndarray) -> tuple[Any, Any]:
        """The MDP's and the rendering family's arrays of the instances ``rows``."""
        return _namespaces(self.mdp, self.family, lambda x: x[rows])

    def policy(self, name: str, rows: np.ndarray) -> Any:
        """The terms of policy ``name`` (``"pi"`` or ``"pi_tilde"``) on the instances ``rows``: an object with the
        attributes of :class:`PolicyTerms`, each computed when first read, and only for the instances it was not
        computed for before."""
        return _RowsPolicy(self, name, rows)

    def field(self, name: str, field: str, rows: np.ndarray) -> np.ndarray:
        """Field ``field`` of policy ``name``'s terms on the instances ``rows`` (see :meth:`policy`)."""
        done = self._done[name].setdefault(field, np.zeros(self.instance.batch_shape[0], dtype=bool))
        todo = np.unique(rows[~done[rows]])
        if todo.size:
            mdp, family = self.arrays(todo)
            store = self._store.setdefault(name, {})
            # What is known for every one of these instances is not computed again.
            known = {k: store[k][todo] for k, mask in self._done[name].items() if k in store and mask[todo].all()}
            parts = PolicyParts(mdp, family, self._policy[name][todo], known)
            getattr(parts, field)
            for new, value in parts.computed().items():  # keep every field computed on the way
                mask = self._done[name].setdefault(new, np.zeros(len(done), dtype=bool))
                if mask[todo].all():
                    continue
                value = np.asarray(value)
                if new not in store:
                    store[new] = np.empty((len(done),) + value.shape[1:], dtype=value.dtype)
                store[new][todo] = value
                mask[todo] = True
        return self._store[name][field][rows]

    def evaluation(self, rows: np.ndarray) -> tuple[LazyEvaluation, Any, Any]:
        """A lazy exact evaluation of the instances ``rows`` (an index array), and their arrays."""
        rows = np.asarray(rows, dtype=np.int64)
        mdp, family = self.arrays(rows)
        ev = LazyEvaluation(
            self.instance[rows],
            mdp,
            family,
            self._policy["pi"][rows],
            self._policy["pi_tilde"][rows],
            exact=True,
            policies=lambda name: self.policy(name, rows),
        )
        return ev, mdp, family


class _RowsPolicy:
    """Policy terms of some instances of an :class:`ExactRows` batch, each field read from it on first use."""

    def __init__(self, rows_cache: ExactRows, name: str, rows: np.ndarray):
        self._cache, self._name, self._rows = rows_cache, name, rows

    def __getattr__(self, field: str) -> np.ndarray:
        if field not in POLICY_FIELDS:
            raise AttributeError(field)
        value = self._cache.field(self._name, field, self._rows)
        setattr(self, field, value)
        return value
