"""Number types of the two engines.

The float engine works on ``float64`` arrays. The exact engine works on ``object`` arrays whose
entries are :class:`fractions.Fraction`; every operation on them is exact. An array is exact iff
its dtype is ``object``.

With python-flint installed (the ``exact`` extra), the exact engine computes internally on FLINT
rationals (``flint.fmpq``, C arithmetic, and ``fmpq_mat`` for linear systems) and converts its
results back to :class:`fractions.Fraction` (:func:`to_flint`, :func:`from_flint`); every
fraction it returns is the same as without FLINT.
"""

from __future__ import annotations

import importlib.util
import numbers
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = [
    "is_exact",
    "parse_number",
    "to_exact",
    "to_exact_stochastic",
    "to_float",
    "format_number",
    "as_array",
    "FLINT",
    "flint_enabled",
    "use_flint",
    "to_flint",
    "float_to_flint",
    "float_to_flint_stochastic",
    "from_flint",
    "exact_to_float",
    "integer_ratios",
    "is_flint",
]

_flint: Any = None
if importlib.util.find_spec("flint") is not None:  # the optional ``exact`` extra; a broken install raises
    import flint as _flint

#: The ``flint`` module when python-flint is installed, else ``None``.
FLINT = _flint
_USE_FLINT = _flint is not None


def is_exact(x: Any) -> bool:
    """True for an object array (of fractions) or a single ``Fraction``/``int``."""
    if isinstance(x, np.ndarray):
        return x.dtype == object
    return isinstance(x, (Fraction, int)) and not isinstance(x, bool)


def parse_number(value: Any, *, where: str = "value") -> Fraction:
    """Parse a JSON-style number exactly: an int, a float literal or a string ``"p/q"``/``"0.25"``.

    Floats are read through their shortest decimal representation, so ``0.1`` becomes ``1/10``
    rather than the binary fraction nearest to it.
    """
    if isinstance(value, bool):
        raise ValueError(f"{where}: expected a number, got a boolean {value!r}")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, numbers.Integral):
        return Fraction(int(value))
    if isinstance(value, float):
        if not np.isfinite(value):
            raise ValueError(f"{where}: expected a finite number, got {value!r}")
        return Fraction(repr(value))
    if isinstance(value, str):
        try:
            return Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise ValueError(f'{where}: cannot read {value!r} as a number (expected e.g. 0.25 or "1/4")') from None
    raise ValueError(f'{where}: expected a number or a "p/q" string, got {type(value).__name__}')


def _fraction(v: Any, max_denominator: int | None) -> Fraction:
    f = Fraction(v)
    return f if max_denominator is None else f.limit_denominator(max_denominator)


def to_exact(x: Any, max_denominator: int | None = None) -> Any:
    """Convert a number or array to the exact engine's type.

    Each float is converted exactly (its binary value), or, with ``max_denominator``, to the nearest
    fraction whose denominator is at most ``max_denominator``.
    """
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            return x
        if not np.all(np.isfinite(x)):
            raise ValueError("to_exact: array contains NaN or infinity")
        out = np.empty(x.shape, dtype=object)
        flat = out.reshape(-1)
        for i, v in enumerate(x.reshape(-1).tolist()):
            flat[i] = _fraction(v, max_denominator)
        return out
    return _fraction(x, max_denominator)


def to_exact_stochastic(x: np.ndarray, max_denominator: int | None = None) -> np.ndarray:
    """Exact rows (last axis) that sum to exactly 1, from float rows that sum to 1 within round-off.

    Each entry is converted as by :func:`to_exact`; the row's residual ``1 - sum`` (of the order of
    the float round-off, or of ``1/max_denominator``) is added to the row's largest entry, so zero
    entries (unreachable states, deterministic rows) stay zero. Exact input is returned unchanged.
    """
    if x.dtype == object:
        return x
    return _residual_on_largest(to_exact(x, max_denominator), x)


def _residual_on_largest(out: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Add each exact row's residual ``1 - sum`` to the entry where the float row ``x`` is largest, in place
    (exact rationals of either kind: fractions or ``flint.fmpq``)."""
    if out.size:
        largest = np.asarray(x).argmax(axis=-1)[..., None]
        residual = 1 - out.sum(axis=-1, keepdims=True)
        np.put_along_axis(out, largest, np.take_along_axis(out, largest, axis=-1) + residual, axis=-1)
    return out


def to_float(x: Any) -> Any:
    """Convert a number or array to float64."""
    if isinstance(x, np.ndarray):
        return x.astype(np.float64)
    return float(x)


def _nearest_float(v: Any) -> float:
    if v is None:
        return float("nan")
    if _flint is not None and type(v) is _flint.fmpq:
        return int(v.p) / int(v.q)  # Python's integer division rounds to nearest, as Fraction.__float__ does
    return float(v)


_EXACT_TO_FLOAT = np.frompyfunc(_nearest_float, 1, 1)


def exact_to_float(x: Any) -> np.ndarray:
    """An array of exact rationals (fractions, FLINT rationals, ints; ``None`` for an undefined value) as float64,
    each value rounded to the nearest float (``None`` becomes NaN); a float array is returned as it is."""
    x = np.asarray(x)
    if x.dtype != object:
        return np.asarray(x, dtype=np.float64)
    return np.asarray(_EXACT_TO_FLOAT(x), dtype=np.float64)


def as_array(values: Any, *, exact: bool | None = None, where: str = "array") -> np.ndarray:
    """Build an engine array from nested lists, arrays or scalars.

    ``exact=None`` picks the exact type iff any entry is a :class:`Fraction` or a string.
    """
    if isinstance(values, np.ndarray) and values.dtype != object and exact is not True:
        return values.astype(np.float64, copy=False)
    arr = np.asarray(values, dtype=object)
    flat = arr.reshape(-1).tolist()
    if exact is None:
        exact = arr.dtype == object and any(isinstance(v, (Fraction, str)) for v in flat)
    if exact:
        out = np.empty(arr.shape, dtype=object)
        out_flat = out.reshape(-1)
        for i, v in enumerate(flat):
            out_flat[i] = parse_number(v, where=where)
        return out
    out = np.empty(arr.shape, dtype=np.float64)
    out_flat = out.reshape(-1)
    for i, v in enumerate(flat):
        if isinstance(v, str):
            v = parse_number(v, where=where)
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise ValueError(f"{where}: entries must be numbers, got {type(v).__name__} (ragged nesting?)")
        try:
            out_flat[i] = float(v)
        except OverflowError:  # e.g. "1e999": an exact number beyond float64's range
            raise ValueError(
                f"{where}: {v if not isinstance(v, Fraction) else float_text(v)} is beyond the float64 range "
                "(|x| < 1.8e308)"
            ) from None
    return out


def float_text(x: Fraction) -> str:
    """A short text for a fraction too large to print whole (its order of magnitude)."""
    digits = len(str(abs(x.numerator))) - len(str(x.denominator))
    return f"~{'-' if x < 0 else ''}1e{digits}"


def format_number(x: Any, exact: bool) -> Any:
    """JSON form of a scalar: ``"p/q"`` string when exact, else a float."""
    if exact:
        f = Fraction(x)
        return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"
    return float(x)


def flint_enabled() -> bool:
    """Whether the exact engine computes on FLINT rationals (python-flint installed and not switched off)."""
    return _USE_FLINT


@contextmanager
def use_flint(enabled: bool) -> Iterator[None]:
    """Switch the exact engine's FLINT path on or off inside a ``with`` block (e.g. to compare both paths)."""
    global _USE_FLINT
    if enabled and _flint is None:
        raise ImportError("python-flint is not installed (pip install 'repconv[exact]')")
    previous, _USE_FLINT = _USE_FLINT, enabled
    try:
        yield
    finally:
        _USE_FLINT = previous


def is_flint(x: np.ndarray) -> bool:
    """True for a non-empty object array whose entries are FLINT rationals."""
    return _flint is not None and x.dtype == object and x.size > 0 and type(x.reshape(-1)[0]) is _flint.fmpq


def to_flint(x: np.ndarray) -> np.ndarray:
    """An object array of fractions (or ints) as an object array of ``flint.fmpq`` (same values)."""
    return _TO_FLINT(x) if x.ndim else np.asarray(_TO_FLINT(x), dtype=object)


def float_to_flint(x: np.ndarray) -> np.ndarray:
    """A float array as an object array of ``flint.fmpq``: each float's exact binary value, the values of
    :func:`to_exact` (without ``max_denominator``) with no :class:`fractions.Fraction` built in between."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("float_to_flint: array contains NaN or infinity")
    return _FLOAT_TO_FLINT(x) if x.ndim else np.asarray(_FLOAT_TO_FLINT(x), dtype=object)


def float_to_flint_stochastic(x: np.ndarray) -> np.ndarray:
    """Float rows (last axis) as ``flint.fmpq`` rows that sum to exactly 1: the values of
    :func:`to_exact_stochastic` (without ``max_denominator``), the residual added to each row's largest entry."""
    return _residual_on_largest(float_to_flint(x), x)


def from_flint(x: Any) -> Any:
    """``flint.fmpq`` entries (an object array or a scalar) back to :class:`fractions.Fraction`; other values unchanged."""
    if isinstance(x, np.ndarray):
        if x.dtype != object:
            return x
        return _FROM_FLINT(x) if x.ndim else np.asarray(_FROM_FLINT(x), dtype=object)
    return _fraction_of_fmpq(x)


def _coprime_fraction(numerator: int, denominator: int) -> Fraction:
    """``Fraction(numerator, denominator)`` for a pair already in lowest terms with ``denominator > 0``.

    FLINT keeps every ``fmpq`` canonical, so the gcd that ``Fraction()`` computes is redundant; this is
    what Python 3.12's ``Fraction._from_coprime_ints`` does (Fraction's two slots, set directly).
    """
    f = object.__new__(Fraction)
    f._numerator, f._denominator = numerator, denominator  # type: ignore[attr-defined]
    return f


_COPRIME = np.frompyfunc(lambda n, d: _coprime_fraction(int(n), int(d)), 2, 1)


def integer_ratios(numerators: Any, denominators: Any) -> np.ndarray:
    """``Fraction(n, d)`` of two integer arrays (int64, broadcast; ``d > 0``), element by element, as an object
    array: reduced with numpy's gcd over the whole arrays, so no fraction computes its own."""
    n, d = np.broadcast_arrays(np.asarray(numerators, dtype=np.int64), np.asarray(denominators, dtype=np.int64))
    if np.any(d <= 0):
        raise ValueError("integer_ratios: denominators must be positive")
    g = np.gcd(n, d)  # >= 1 since d > 0
    out = _COPRIME(n // g, d // g)
    return out if isinstance(out, np.ndarray) else np.asarray(out, dtype=object)


def _fraction_of_fmpq(v: Any) -> Any:
    return _coprime_fraction(int(v.p), int(v.q)) if type(v) is _flint.fmpq else v


if _flint is not None:
    # Element-wise ufuncs over object arrays: no per-element numpy indexing.
    _TO_FLINT = np.frompyfunc(lambda v: _flint.fmpq(v.numerator, v.denominator), 1, 1)
    _FROM_FLINT = np.frompyfunc(_fraction_of_fmpq, 1, 1)
    _FLOAT_TO_FLINT = np.frompyfunc(lambda v: _flint.fmpq(*v.as_integer_ratio()), 1, 1)
