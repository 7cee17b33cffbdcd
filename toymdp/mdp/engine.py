r"""The quantities of THEORY.md ("Setting") for state policies, in two engines with one API.

Every function takes arrays with an optional leading batch shape ``...`` (see
:mod:`toymdp.mdp.model` for the shape conventions) and works in either engine:

* **float engine**: ``float64`` arrays; linear systems are solved for the whole batch in one
  vectorised LAPACK call (:func:`numpy.linalg.solve`), no Python loop over instances;
* **exact engine**: ``object`` arrays of :class:`fractions.Fraction`; every sum and product is exact
  and linear systems are solved over the rationals (sympy's ``DomainMatrix`` over ``QQ``). Arrays of
  FLINT rationals (``flint.fmpq``, see :mod:`toymdp.mdp.numbers`) work the same way, with C arithmetic,
  and their linear systems are solved with ``flint.fmpq_mat``.

The engine is chosen by the dtype of the arrays. The formulas, in THEORY.md's symbols, with a state
policy :math:`\sigma` (an ``S x A`` matrix):

.. math::

    P_\sigma[s,s'] = \sum_a \sigma[s,a] P[s,a,s'], \qquad r_\sigma[s] = \sum_a \sigma[s,a] r[s,a]

    (I - \gamma P_\sigma) V_\sigma = r_\sigma, \qquad
    Q_\sigma[s,a] = r[s,a] + \gamma \sum_{s'} P[s,a,s'] V_\sigma[s'], \qquad A_\sigma = Q_\sigma - V_\sigma

    \eta(\sigma) = \rho_0 \cdot V_\sigma, \qquad (I - \gamma P_\sigma^\top)\rho_\sigma = \rho_0
    \quad (\textstyle\sum_s \rho_\sigma[s] = 1/(1-\gamma))

    L_\sigma(\tilde\sigma) = \eta(\sigma) + \sum_s \rho_\sigma[s] \sum_a \tilde\sigma[s,a] A_\sigma[s,a]
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction

import numpy as np
from sympy import QQ
from sympy.polys.matrices import DomainMatrix
from threadpoolctl import ThreadpoolController

from common.arrays import max_last, max_last2, min_last, sum_last

from .numbers import FLINT, is_flint

__all__ = [
    "float_solver",
    "solve",
    "solve_pair",
    "state_policy",
    "transition_matrix",
    "expected_reward",
    "values",
    "q_values",
    "advantages",
    "expected_return",
    "occupancy",
    "values_and_occupancy",
    "expected_advantage",
    "surrogate",
    "max_abs_advantage",
    "visitation_support",
    "q_span",
]


def _symbolic_solve_one(M: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve over the field of rational functions of the symbols in ``M`` and ``b`` (sympy entries)."""
    n = M.shape[0]
    dm = DomainMatrix.from_list_sympy(n, n, M.tolist())
    rhs = DomainMatrix.from_list_sympy(n, 1, [[v] for v in b.tolist()])
    dm, rhs = dm.unify(rhs)
    sol = dm.to_field().lu_solve(rhs.to_field()).to_Matrix()
    out = np.empty(n, dtype=object)
    for i in range(n):
        out[i] = sol[i, 0]
    return out


def _flint_solve_one(M: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = M.shape[0]
    sol = FLINT.fmpq_mat(n, n, M.reshape(-1).tolist()).solve(FLINT.fmpq_mat(n, 1, b.tolist()))
    out = np.empty(n, dtype=object)
    out[:] = sol.entries()
    return out


def _exact_solve_one(M: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = M.shape[0]
    to_qq = lambda v: QQ(Fraction(v).numerator, Fraction(v).denominator)  # noqa: E731
    dm = DomainMatrix([[to_qq(v) for v in row] for row in M.tolist()], (n, n), QQ)
    rhs = DomainMatrix([[to_qq(v)] for v in b.tolist()], (n, 1), QQ)
    sol = dm.lu_solve(rhs).to_list_flat()
    out = np.empty(n, dtype=object)
    for i, q in enumerate(sol):
        out[i] = Fraction(int(q.numerator), int(q.denominator))
    return out


#: Float solver: ``"auto"`` uses torch's batched LU when torch is installed (several times faster
#: than numpy's per-matrix LAPACK loop on large batches of small systems), else numpy; ``"numpy"``
#: and ``"torch"`` force one. Both work in float64.
FLOAT_SOLVER = "auto"


@contextmanager
def float_solver(name: str) -> Iterator[None]:
    """Use float solver ``name`` (``"auto"``, ``"numpy"`` or ``"torch"``) inside a ``with`` block."""
    global FLOAT_SOLVER
    previous, FLOAT_SOLVER = FLOAT_SOLVER, name
    try:
        _torch()  # validates the name
        yield
    finally:
        FLOAT_SOLVER = previous


def _torch():
    """The torch module when the float solver should use it, else ``None``."""
    if FLOAT_SOLVER not in ("auto", "numpy", "torch"):
        raise ValueError(f"toymdp.mdp.engine.FLOAT_SOLVER is {FLOAT_SOLVER!r}, expected 'auto', 'numpy' or 'torch'")
    if FLOAT_SOLVER == "numpy":
        return None
    # An absent torch means the numpy solver; a torch that is installed but broken raises here instead of
    # silently falling back.
    if FLOAT_SOLVER == "auto" and importlib.util.find_spec("torch") is None:
        return None
    import torch

    return torch


_THREADPOOLS: ThreadpoolController | None = None


@contextmanager
def _one_thread() -> Iterator[None]:
    """One BLAS / OpenMP thread inside the block: a batch of small systems is one small LAPACK call per
    matrix (numpy) or a batched LU over tiny matrices (torch), and the libraries' own threads only add
    synchronisation (several times slower at S=10, far worse on a busy machine). The controller is
    built once; each limit costs microseconds."""
    global _THREADPOOLS
    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    with _THREADPOOLS.limit(limits=1):
        yield


def solve(M: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``M x = b`` for ``M (..., n, n)`` and ``b (..., n)``, batched over ``...``."""
    M, b = np.broadcast_arrays(M, b[..., None])
    b = b[..., 0]
    if M.dtype == object:
        # Object arrays hold fractions or FLINT rationals (exact engine) or, for symbolic proofs, sympy expressions.
        if is_flint(M) and is_flint(b):
            solve_one = _flint_solve_one
        else:
            rational = all(isinstance(v, (Fraction, int)) for v in M.reshape(-1).tolist() + b.reshape(-1).tolist())
            solve_one = _exact_solve_one if rational else _symbolic_solve_one
        out = np.empty(b.shape, dtype=object)
        for idx in np.ndindex(*M.shape[:-2]):
            out[idx] = solve_one(M[idx], b[idx])
        return out
    torch = _torch()
    if torch is not None:
        t = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))  # noqa: E731
        with _one_thread():
            return torch.linalg.solve(t(M), t(b)).numpy()
    with _one_thread():
        return np.linalg.solve(M, b[..., None])[..., 0]


def solve_pair(M: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``M x = b`` and ``M^T y = c`` (batched), factorising ``M`` once where the backend can."""
    torch = None if M.dtype == object else _torch()
    if torch is None:
        return solve(M, b), solve(np.swapaxes(M, -1, -2), c)
    M, b, c = np.broadcast_arrays(M, b[..., None], c[..., None])
    t = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))  # noqa: E731
    with _one_thread():
        LU, pivots = torch.linalg.lu_factor(t(M))
        x = torch.linalg.lu_solve(LU, pivots, t(b[..., :1]))
        y = torch.linalg.lu_solve(LU, pivots, t(c[..., :1]), adjoint=True)
    return x.numpy()[..., 0], y.numpy()[..., 0]


_FLINT_MATMUL_MIN = 64


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` (batched over the leading axes, which broadcast). Arrays of FLINT rationals are multiplied one
    matrix pair at a time with ``flint.fmpq_mat`` (denominators cleared once per matrix, integer products in C),
    several times faster than numpy's element-by-element products of Python objects; the same rationals."""
    (n, m), (m2, p) = a.shape[-2:], b.shape[-2:]
    # Below about 64 multiplications per product, building the two FLINT matrices costs more than it saves.
    if n * m * p < _FLINT_MATMUL_MIN or not (is_flint(a) and is_flint(b)):
        return a @ b
    if m != m2:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align")
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a, b = np.broadcast_to(a, batch + (n, m)), np.broadcast_to(b, batch + (m, p))
    out = np.empty(batch + (n, p), dtype=object)
    mat = FLINT.fmpq_mat
    for idx in np.ndindex(*batch):
        product = mat(n, m, a[idx].reshape(-1).tolist()) * mat(m, p, b[idx].reshape(-1).tolist())
        out[idx] = np.array(product.entries(), dtype=object).reshape(n, p)
    return out


def _gamma(gamma, ndim_extra: int) -> np.ndarray:
    g = np.asarray(gamma)
    return g.reshape(g.shape + (1,) * ndim_extra)


def state_policy(renderers: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``pi_f = F Pi`` for each renderer: ``(..., K, S, O), (..., O, A) -> (..., K, S, A)``."""
    return matmul(renderers, pi[..., None, :, :])


def _extra_axes(P: np.ndarray, x: np.ndarray, trailing: int) -> int:
    """Number of axes of ``x`` between P's batch axes and its ``trailing`` own axes (e.g. renderers)."""
    extra = x.ndim - trailing - (P.ndim - 3)
    if extra < 0:
        raise ValueError(f"array of shape {x.shape} has fewer batch axes than P of shape {P.shape}")
    return extra


def transition_matrix(P: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``P_sigma[s, s'] = sum_a sigma[s, a] P[s, a, s']``: ``(..., S, A, S), (..., E.., S, A) -> (..., E.., S, S)``.

    ``sigma`` may carry extra axes ``E..`` after P's batch axes (e.g. one policy per renderer);
    they share P, which is contracted with all of them in one matrix product per state.
    """
    extra = _extra_axes(P, sigma, 2)
    if extra == 0:
        return matmul(sigma[..., :, None, :], P)[..., 0, :]
    nb = P.ndim - 3
    lead, mid, (S, A) = sigma.shape[:nb], sigma.shape[nb:-2], sigma.shape[-2:]
    by_state = np.moveaxis(sigma, -2, nb).reshape(lead + (S, -1, A))  # (..., S, E, A)
    out = matmul(by_state, P).reshape(lead + (S,) + mid + (S,))  # (..., S, E.., S')
    return np.moveaxis(out, nb, -2)


def expected_reward(r: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``r_sigma[s] = sum_a sigma[s, a] r[s, a]``."""
    return sum_last(sigma * r)


def _identity(n: int, like: np.ndarray) -> np.ndarray:
    if like.dtype == object:
        number = FLINT.fmpq if is_flint(like) else Fraction
        eye = np.empty((n, n), dtype=object)
        eye[...] = number(0)
        for i in range(n):
            eye[i, i] = number(1)
        return eye
    return np.eye(n)


def _bellman_matrix(P: np.ndarray, sigma: np.ndarray, gamma) -> np.ndarray:
    """``I - gamma P_sigma`` (``P_sigma`` as :func:`transition_matrix`): the matrix of both linear systems of a
    policy, ``(..., E.., S, S)``."""
    nb = P.ndim - 3
    lead, mid, (S, A) = sigma.shape[:nb], sigma.shape[nb:-2], sigma.shape[-2:]
    g = _gamma(gamma, 2)
    shape = lead + mid + (S, S)
    if sigma.dtype == object or P.dtype == object or np.broadcast_shapes(shape, np.shape(g)) != shape:
        P_sigma = transition_matrix(P, sigma)
        if P_sigma.dtype == object:
            return _identity(S, P_sigma) - g * P_sigma
        M = np.empty(np.broadcast_shapes(P_sigma.shape, np.shape(g)))
        np.multiply(P_sigma, -g, out=M)
    else:
        # Floats: P_sigma's products written straight into a C-ordered array (what the batched solvers read)
        # through a view in transition_matrix's layout, then scaled in place: the numbers of transition_matrix
        # and I - gamma P_sigma, with one pass over the array fewer than building P_sigma first.
        M = np.empty(shape)
        by_state = np.moveaxis(sigma, -2, nb).reshape(lead + (S, -1, A))  # (..., S, E, A)
        np.matmul(by_state, P, out=np.moveaxis(M.reshape(lead + (-1, S, S)), -2, nb))
        np.multiply(M, -g, out=M)
    # 1 added on the diagonal through a strided view: the same numbers as I - gamma P_sigma (up to the sign of
    # zeros off the diagonal).
    M.reshape(-1, S * S)[:, :: S + 1] += 1
    return M


def values(P: np.ndarray, r: np.ndarray, gamma, sigma: np.ndarray) -> np.ndarray:
    """``V_sigma``: the solution of ``(I - gamma P_sigma) V = r_sigma``, shape ``(..., S)``."""
    return solve(_bellman_matrix(P, sigma, gamma), expected_reward(r, sigma))


def q_values(P: np.ndarray, r: np.ndarray, gamma, V: np.ndarray) -> np.ndarray:
    """``Q[s, a] = r[s, a] + gamma sum_s' P[s, a, s'] V[s']``: ``V (..., E.., S) -> Q (..., E.., S, A)``.

    ``V`` may carry extra axes ``E..`` after P's batch axes, as in :func:`transition_matrix`;
    ``r`` and ``gamma`` must broadcast against the result.
    """
    nb = P.ndim - 3
    S, A = P.shape[-3:-1]
    lead, mid = V.shape[:nb], V.shape[nb:-1]
    cols = np.moveaxis(V.reshape(lead + (-1, S)), -1, -2)  # (..., S', E)
    nxt = matmul(P.reshape(P.shape[:nb] + (S * A, S)), cols).reshape(lead + (S, A, -1))  # (..., S, A, E)
    nxt = np.moveaxis(nxt, -1, nb).reshape(lead + mid + (S, A))
    return r + _gamma(gamma, 2) * nxt


def advantages(Q: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``A = Q - V`` (broadcast over actions)."""
    return Q - V[..., None]


def expected_return(rho0: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``eta = rho0 . V``."""
    return sum_last(rho0 * V)


def occupancy(P: np.ndarray, gamma, rho0: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Unnormalised discounted visitation ``rho_sigma``: ``(I - gamma P_sigma^T) rho = rho0``."""
    return solve(np.swapaxes(_bellman_matrix(P, sigma, gamma), -1, -2), rho0)


def values_and_occupancy(
    P: np.ndarray, r: np.ndarray, gamma, rho0: np.ndarray, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(V_sigma, rho_sigma)`` as :func:`values` and :func:`occupancy`, building ``I - gamma P_sigma`` once."""
    return solve_pair(_bellman_matrix(P, sigma, gamma), expected_reward(r, sigma), rho0)


def expected_advantage(A: np.ndarray, sigma_tilde: np.ndarray) -> np.ndarray:
    """``a_bar[s] = sum_a sigma~[s, a] A_sigma[s, a]``: the base policy's advantage of the new policy's action, ``(..., S)``."""
    return sum_last(sigma_tilde * A)


def surrogate(eta: np.ndarray, rho: np.ndarray, A: np.ndarray, sigma_tilde: np.ndarray) -> np.ndarray:
    """TRPO's first-order surrogate ``L_sigma(sigma~) = eta(sigma) + sum_s rho_sigma[s] sum_a sigma~[s, a] A_sigma[s, a]``.

    ``eta, rho, A`` belong to the base policy ``sigma``; ``sigma_tilde`` is the new policy.
    """
    return eta + sum_last(rho * expected_advantage(A, sigma_tilde))


def max_abs_advantage(A: np.ndarray) -> np.ndarray:
    """``eps = max_{s, a} |A[s, a]|`` over the last two axes."""
    return max_last2(np.abs(A))


def q_span(Q: np.ndarray) -> np.ndarray:
    """``span_a Q[s, .] = max_a Q[s, a] - min_a Q[s, a]``, shape ``(..., S)``."""
    return max_last(Q) - min_last(Q)


def visitation_support(P: np.ndarray, gamma, rho0: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """States with ``rho_sigma[s] > 0``, as a boolean array ``(..., E.., S)``, decided combinatorially.

    ``rho_sigma = sum_t gamma^t Pr(s_t = s)``: with ``gamma > 0`` its support is the set of states
    reachable from the support of ``rho0`` along transitions of positive probability under ``sigma``;
    with ``gamma = 0`` it is the support of ``rho0``. Computed from zero patterns, not from the float
    solution, so round-off cannot make an unreachable state look visited (or the reverse).
    ``rho0`` and ``gamma`` broadcast as in :func:`occupancy`.
    """
    # 0/1 entries: a product counts paths (at most S per entry), exact in float64, and runs on BLAS.
    edges = (transition_matrix(P, sigma) != 0).astype(np.float64)
    start = np.asarray(rho0 != 0)
    reach = np.broadcast_to(start, edges.shape[:-1]).copy()
    # Breadth-first: only the states first reached at the previous step can lead somewhere new, and the
    # search stops at the first step that reaches nothing new (at most S steps, usually far fewer).
    frontier = reach.copy()
    while frontier.any():
        successors = (frontier[..., None, :].astype(np.float64) @ edges)[..., 0, :] > 0
        frontier = successors & ~reach
        reach |= frontier
    discounted = _gamma(np.asarray(gamma) != 0, 1)
    return np.where(discounted, reach, np.broadcast_to(start, reach.shape))
