"""Data model of a rendering MDP (THEORY.md, "Setting"), validated on construction.

Shape conventions, used everywhere in :mod:`toymdp` (``...`` is an optional batch shape, the same
for every part of one instance)::

    P           (..., S, A, S)   P[s, a, s'] = Pr(s' | s, a)
    r           (..., S, A)      r[s, a], bounded
    rho0        (..., S)         initial state distribution
    gamma       (...)            discount in [0, 1)
    renderers   (..., K, S, O)   F_k[s, o] = Pr(o | s), one emission matrix per renderer
    test_weights(..., K)         p_k, sum 1
    train       (T,)             indices of the training renderers (shared by the batch)
    train_weights (..., T)       q_k over the training subset, sum 1
    pi, pi_tilde(..., O, A)      observation policies Pi[o, a]

Entries are float64 (float engine) or :class:`fractions.Fraction` in ``object`` arrays (exact
engine); one instance uses one kind throughout. Float rows must sum to 1 within ``FLOAT_ATOL``;
exact rows must sum to exactly 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .numbers import as_array, to_exact, to_exact_stochastic, to_float

__all__ = [
    "InvalidInstanceError",
    "MDP",
    "RenderingFamily",
    "Instance",
    "FLOAT_ATOL",
]

#: Tolerance on row sums of float stochastic matrices (exact instances use none).
FLOAT_ATOL = 1e-9


class InvalidInstanceError(ValueError):
    """Raised when an MDP, rendering family or policy is malformed; the message names the place."""


def _fmt_index(idx: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def _fmt_value(v: Any) -> str:
    if isinstance(v, Fraction):
        return str(v)
    return f"{float(v):.6g}"


def _array(name: str, values: Any, exact: bool | None) -> np.ndarray:
    try:
        arr = as_array(values, exact=exact, where=name)
    except ValueError as err:
        raise InvalidInstanceError(str(err)) from None
    if arr.dtype == object:
        bad = [i for i, v in enumerate(arr.reshape(-1).tolist()) if not isinstance(v, Fraction)]
        if bad:
            raise InvalidInstanceError(f"{name}: entries must be numbers (ragged or nested input?)")
    return arr


def _check_finite(name: str, arr: np.ndarray) -> None:
    if arr.dtype == object:
        return
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        idx = tuple(bad[0])
        raise InvalidInstanceError(f"{name}{_fmt_index(idx)} is {arr[idx]}, expected a finite number")


#: Numerators and denominators of an object array of fractions (Python ints; the denominators are positive).
_NUMERATORS = np.frompyfunc(lambda v: v.numerator, 1, 1)
_DENOMINATORS = np.frompyfunc(lambda v: v.denominator, 1, 1)


def _check_nonnegative(name: str, arr: np.ndarray, what: str) -> None:
    # A fraction's sign is its numerator's (its denominator is positive): integer comparisons, not Fraction's.
    neg = np.asarray(_NUMERATORS(arr) < 0 if arr.dtype == object else arr < 0, dtype=bool)
    if np.any(neg):
        idx = tuple(np.argwhere(neg)[0])
        raise InvalidInstanceError(f"{name}{_fmt_index(idx)} is {_fmt_value(arr[idx])}, expected >= 0 ({what})")


def _check_sums_to_one(name: str, arr: np.ndarray, what: str) -> None:
    """Every slice along the last axis must sum to 1 (exactly, or within FLOAT_ATOL)."""
    if arr.dtype == object:
        bad = ~_exact_rows_sum_to_one(arr)
    else:
        bad = np.abs(arr.sum(axis=-1) - 1.0) > FLOAT_ATOL
    if np.any(bad):
        idx = tuple(np.argwhere(bad)[0]) if bad.ndim else ()
        where = f"{name}{_fmt_index(idx)}" if idx else name
        total = sum(arr[idx].tolist(), Fraction(0)) if arr.dtype == object else arr[idx].sum()
        raise InvalidInstanceError(f"{where} sums to {_fmt_value(total)}, expected 1 ({what})")


def _exact_rows_sum_to_one(arr: np.ndarray) -> np.ndarray:
    """Per row (last axis) of fractions: whether it sums to exactly 1, in integers over each row's least common
    denominator (no fraction is built; adding fractions reduces every partial sum)."""
    num, den = _NUMERATORS(arr), _DENOMINATORS(arr)
    common = np.lcm.reduce(den, axis=-1, keepdims=True) if arr.shape[-1] else np.ones(arr.shape[:-1] + (1,), int)
    total = (num * (common // den)).sum(axis=-1) if arr.shape[-1] else np.zeros(arr.shape[:-1], int)
    return np.asarray(total == common[..., 0], dtype=bool)


def _check_distribution(name: str, arr: np.ndarray, what: str) -> None:
    _check_finite(name, arr)
    _check_nonnegative(name, arr, "probability")
    _check_sums_to_one(name, arr, what)


def _check_shape(name: str, arr: np.ndarray, expected: tuple[int, ...], meaning: str) -> None:
    if arr.shape != expected:
        raise InvalidInstanceError(f"{name} has shape {arr.shape}, expected {expected} = {meaning}")


@dataclass(frozen=True, eq=False)
class MDP:
    """Finite discounted MDP ``(P, r, rho0, gamma)``; see the module docstring for shapes.

    Build with nested lists, numpy arrays or ``"p/q"`` strings; ``exact=None`` picks the exact
    engine iff some entry is a fraction or string.
    """

    P: np.ndarray
    r: np.ndarray
    rho0: np.ndarray
    gamma: Any
    exact: bool = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        exact = self.exact
        if exact is None:
            exact = any(_contains_exact(x) for x in (self.P, self.r, self.rho0, self.gamma))
        P = _array("MDP.P", self.P, exact)
        if P.ndim < 3 or P.shape[-1] != P.shape[-3]:
            raise InvalidInstanceError(f"MDP.P has shape {P.shape}, expected (S, A, S) with equal first and last axes")
        batch, (S, A) = P.shape[:-3], P.shape[-3:-1]
        r = _array("MDP.r", self.r, exact)
        _check_shape("MDP.r", r, batch + (S, A), "(S, A) from MDP.P")
        rho0 = _array("MDP.rho0", self.rho0, exact)
        _check_shape("MDP.rho0", rho0, batch + (S,), "(S,) from MDP.P")
        gamma = _array("MDP.gamma", self.gamma, exact)
        if gamma.shape not in ((), batch):
            raise InvalidInstanceError(f"MDP.gamma has shape {gamma.shape}, expected () or {batch}")
        gamma = np.broadcast_to(gamma, batch).copy() if batch else gamma
        _check_distribution("MDP.P", P, "row of a stochastic matrix")
        _check_finite("MDP.r", r)
        _check_distribution("MDP.rho0", rho0, "initial distribution")
        _check_finite("MDP.gamma", gamma)
        bad = (gamma < 0) | (gamma >= 1)
        if np.any(bad):
            g = gamma[tuple(np.argwhere(np.atleast_1d(bad))[0])] if gamma.ndim else gamma[()]
            raise InvalidInstanceError(f"MDP.gamma is {_fmt_value(g)}, expected 0 <= gamma < 1")
        if gamma.ndim == 0:
            gamma = gamma[()]
        for name, value in (("P", P), ("r", r), ("rho0", rho0), ("gamma", gamma), ("exact", bool(exact))):
            object.__setattr__(self, name, value)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.P.shape[:-3]

    @property
    def num_states(self) -> int:
        return self.P.shape[-1]

    @property
    def num_actions(self) -> int:
        return self.P.shape[-2]

    def to_exact(self, max_denominator: int | None = None) -> MDP:
        """Exact copy; stochastic rows are converted by :func:`~toymdp.mdp.numbers.to_exact_stochastic`."""
        if self.exact:
            return self
        gamma = to_exact(np.asarray(self.gamma), max_denominator)
        if max_denominator is not None and np.any(gamma >= 1):
            gamma = to_exact(np.asarray(self.gamma))  # rounding must not reach gamma = 1
        return MDP(
            to_exact_stochastic(self.P, max_denominator),
            to_exact(self.r, max_denominator),
            to_exact_stochastic(self.rho0, max_denominator),
            gamma,
            exact=True,
        )

    def to_float(self) -> MDP:
        return (
            MDP(to_float(self.P), to_float(self.r), to_float(self.rho0), to_float(np.asarray(self.gamma)), exact=False)
            if self.exact
            else self
        )


@dataclass(frozen=True, eq=False)
class RenderingFamily:
    """Renderers ``F_1..F_K`` (emission matrices), test weights ``p`` and a weighted training subset."""

    renderers: np.ndarray
    test_weights: np.ndarray
    train: Sequence[int]
    train_weights: np.ndarray
    exact: bool = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        exact = self.exact
        if exact is None:
            exact = (
                _contains_exact(self.renderers)
                or _contains_exact(self.test_weights)
                or _contains_exact(self.train_weights)
            )
        F = _array("RenderingFamily.renderers", self.renderers, exact)
        if F.ndim < 3 or F.shape[-3] == 0:
            raise InvalidInstanceError(f"RenderingFamily.renderers has shape {F.shape}, expected (K, S, O) with K >= 1")
        batch, K = F.shape[:-3], F.shape[-3]
        _check_distribution("RenderingFamily.renderers", F, "row of an emission matrix Pr(o | s)")
        p = _array("RenderingFamily.test_weights", self.test_weights, exact)
        _check_shape("RenderingFamily.test_weights", p, batch + (K,), "(K,), one weight per renderer")
        _check_distribution("RenderingFamily.test_weights", p, "test weights p_k")
        train = tuple(self.train)
        if not train:
            raise InvalidInstanceError("RenderingFamily.train is empty, expected at least one training renderer")
        for k in train:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < K:
                raise InvalidInstanceError(
                    f"RenderingFamily.train contains {k!r}, expected renderer indices in 0..{K - 1}"
                )
        if len(set(train)) != len(train):
            raise InvalidInstanceError(f"RenderingFamily.train {list(train)} repeats an index")
        q = _array("RenderingFamily.train_weights", self.train_weights, exact)
        _check_shape(
            "RenderingFamily.train_weights", q, batch + (len(train),), "(T,), one weight per training renderer"
        )
        _check_distribution("RenderingFamily.train_weights", q, "training weights q_k")
        for name, value in (
            ("renderers", F),
            ("test_weights", p),
            ("train", tuple(int(k) for k in train)),
            ("train_weights", q),
            ("exact", bool(exact)),
        ):
            object.__setattr__(self, name, value)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.renderers.shape[:-3]

    @property
    def num_renderers(self) -> int:
        return self.renderers.shape[-3]

    @property
    def num_states(self) -> int:
        return self.renderers.shape[-2]

    @property
    def num_observations(self) -> int:
        return self.renderers.shape[-1]

    def to_exact(self, max_denominator: int | None = None) -> RenderingFamily:
        if self.exact:
            return self
        return RenderingFamily(
            to_exact_stochastic(self.renderers, max_denominator),
            to_exact_stochastic(self.test_weights, max_denominator),
            self.train,
            to_exact_stochastic(self.train_weights, max_denominator),
            exact=True,
        )

    def to_float(self) -> RenderingFamily:
        return (
            RenderingFamily(
                to_float(self.renderers),
                to_float(self.test_weights),
                self.train,
                to_float(self.train_weights),
                exact=False,
            )
            if self.exact
            else self
        )


@dataclass(frozen=True, eq=False)
class Instance:
    """An MDP, a rendering family over it, and two observation policies ``pi`` and ``pi_tilde``.

    ``pi`` is the base (old) policy and ``pi_tilde`` the new one in the statements of THEORY.md.
    """

    mdp: MDP
    family: RenderingFamily
    pi: np.ndarray
    pi_tilde: np.ndarray

    def __post_init__(self) -> None:
        mdp, fam = self.mdp, self.family
        if mdp.exact != fam.exact:
            raise InvalidInstanceError(
                f"Instance mixes exact and float parts (MDP exact={mdp.exact}, family exact={fam.exact}); convert with "
                ".to_exact() or .to_float()"
            )
        if fam.batch_shape != mdp.batch_shape:
            raise InvalidInstanceError(
                f"RenderingFamily batch shape {fam.batch_shape} differs from MDP batch shape {mdp.batch_shape}"
            )
        if fam.num_states != mdp.num_states:
            raise InvalidInstanceError(
                f"RenderingFamily.renderers has {fam.num_states} states (axis S of (K, S, O)), "
                f"but MDP.P has {mdp.num_states}"
            )
        expected = mdp.batch_shape + (fam.num_observations, mdp.num_actions)
        for name in ("pi", "pi_tilde"):
            arr = _array(f"policies.{name}", getattr(self, name), mdp.exact)
            _check_shape(f"policies.{name}", arr, expected, "(O, A) from the renderers and MDP.P")
            _check_distribution(f"policies.{name}", arr, "row of an observation policy Pi[o, :]")
            object.__setattr__(self, name, arr)

    @property
    def exact(self) -> bool:
        return self.mdp.exact

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.mdp.batch_shape

    def to_exact(self, max_denominator: int | None = None) -> Instance:
        """The exact instance nearest to this float one.

        Every float is converted exactly (or, with ``max_denominator``, rounded to a fraction with a
        denominator at most that); each stochastic row then gets its rounding residual added to its
        largest entry, so that it sums to exactly 1 (without ``max_denominator`` the zero pattern, hence
        which states are reachable, is kept; rounding may set a tiny entry to 0).
        """
        if self.exact:
            return self
        return Instance(
            self.mdp.to_exact(max_denominator),
            self.family.to_exact(max_denominator),
            to_exact_stochastic(self.pi, max_denominator),
            to_exact_stochastic(self.pi_tilde, max_denominator),
        )

    def to_float(self) -> Instance:
        if not self.exact:
            return self
        return Instance(self.mdp.to_float(), self.family.to_float(), to_float(self.pi), to_float(self.pi_tilde))

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError("a single (unbatched) Instance has no length")
        return self.batch_shape[0]

    def __getitem__(self, i: int | np.ndarray) -> Instance:
        """The ``i``-th instance of a batch (one leading batch axis), or the sub-batch of an integer index array."""
        if not self.batch_shape:
            raise TypeError("a single (unbatched) Instance cannot be indexed")
        m, f = self.mdp, self.family
        gamma = m.gamma[i]
        return Instance(
            MDP(m.P[i], m.r[i], m.rho0[i], gamma, exact=m.exact),
            RenderingFamily(f.renderers[i], f.test_weights[i], f.train, f.train_weights[i], exact=f.exact),
            self.pi[i],
            self.pi_tilde[i],
        )

    @staticmethod
    def stack(instances: Sequence[Instance]) -> Instance:
        """Stack single instances of one shape (and one training subset) into a batch."""
        if not instances:
            raise InvalidInstanceError("Instance.stack: no instances given")
        first = instances[0]
        for n, inst in enumerate(instances):
            if inst.batch_shape:
                raise InvalidInstanceError(f"Instance.stack: instance {n} is already a batch")
            if inst.family.train != first.family.train:
                raise InvalidInstanceError(
                    f"Instance.stack: instance {n} has training subset {list(inst.family.train)}, "
                    f"instance 0 has {list(first.family.train)}; a batch shares one subset"
                )
            if inst.exact != first.exact:
                raise InvalidInstanceError(
                    f"Instance.stack: instance {n} is exact={inst.exact}, instance 0 exact={first.exact}"
                )
            shapes = (inst.mdp.P.shape, inst.family.renderers.shape)
            if shapes != (first.mdp.P.shape, first.family.renderers.shape):
                raise InvalidInstanceError(
                    f"Instance.stack: instance {n} has shapes P{shapes[0]}, F{shapes[1]}; instance 0 has "
                    f"P{first.mdp.P.shape}, F{first.family.renderers.shape}"
                )

        def st(get):
            return np.stack([get(i) for i in instances])

        exact = first.exact
        mdp = MDP(
            st(lambda i: i.mdp.P),
            st(lambda i: i.mdp.r),
            st(lambda i: i.mdp.rho0),
            st(lambda i: np.asarray(i.mdp.gamma, dtype=object if exact else float)),
            exact=exact,
        )
        fam = RenderingFamily(
            st(lambda i: i.family.renderers),
            st(lambda i: i.family.test_weights),
            first.family.train,
            st(lambda i: i.family.train_weights),
            exact=exact,
        )
        return Instance(mdp, fam, st(lambda i: i.pi), st(lambda i: i.pi_tilde))


def _contains_exact(x: Any) -> bool:
    """True when nested input holds a Fraction or a string (which means: read exactly)."""
    if isinstance(x, np.ndarray):
        return x.dtype == object and any(isinstance(v, (Fraction, str)) for v in x.reshape(-1).tolist())
    if isinstance(x, (list, tuple)):
        return any(_contains_exact(v) for v in x)
    return isinstance(x, (Fraction, str))
