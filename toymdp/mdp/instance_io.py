"""Instance files: a rendering MDP with two observation policies, as JSON.

Keys (shapes as in :mod:`toymdp.mdp.model`)::

    P              S x A x S       transition probabilities
    r              S x A           rewards
    rho0           S               initial distribution
    gamma          number          discount, 0 <= gamma < 1
    renderers      K x S x O       list of emission matrices
    test_weights   K               p_k
    train          list of int     indices of the training renderers
    train_weights  |train|         q_k
    policies       {"pi": O x A, "pi_tilde": O x A}
    note           (optional) free text
    counterexample (optional) what ``repconv check`` found (statement, slack, ...); not read

Any other key is refused (a misspelt key would otherwise be ignored silently).

Every number may be a JSON number or a string ``"p/q"``. Read with ``exact=True`` every number is
an exact fraction (a decimal literal such as ``0.1`` is read as ``1/10``); otherwise float64.
"""

from __future__ import annotations

import difflib
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from common.files import atomic_write_json

from .model import MDP, Instance, InvalidInstanceError, RenderingFamily
from .numbers import format_number

__all__ = [
    "InstanceFileError",
    "REQUIRED_KEYS",
    "instance_from_dict",
    "instance_to_dict",
    "load_instance",
    "save_instance",
]

REQUIRED_KEYS = ("P", "r", "rho0", "gamma", "renderers", "test_weights", "train", "train_weights", "policies")
OPTIONAL_KEYS = ("note", "counterexample")


class InstanceFileError(InvalidInstanceError):
    """A malformed instance file; the message names the key and the problem."""


def instance_from_dict(data: Any, *, exact: bool = False) -> Instance:
    """Build a single :class:`Instance` from the JSON structure described in the module docstring."""
    if not isinstance(data, dict):
        raise InstanceFileError(
            f"instance: expected a JSON object with keys {', '.join(REQUIRED_KEYS)}, got {type(data).__name__}"
        )
    unknown = [k for k in data if k not in REQUIRED_KEYS + OPTIONAL_KEYS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), REQUIRED_KEYS + OPTIONAL_KEYS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)}"
        raise InstanceFileError(f"instance: unknown key {unknown[0]!r} ({hint})")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise InstanceFileError(f"instance: missing key {missing[0]!r} (required: {', '.join(REQUIRED_KEYS)})")
    policies = data["policies"]
    if not isinstance(policies, dict) or not {"pi", "pi_tilde"} <= set(policies):
        raise InstanceFileError('key "policies": expected {"pi": O x A, "pi_tilde": O x A}')
    train = data["train"]
    if not isinstance(train, list) or not all(isinstance(k, int) and not isinstance(k, bool) for k in train):
        raise InstanceFileError(f'key "train": expected a list of renderer indices (integers), got {train!r}')
    if isinstance(data["renderers"], list) and not data["renderers"]:
        raise InstanceFileError('key "renderers": empty list, expected at least one S x O matrix')
    try:
        mdp = MDP(data["P"], data["r"], data["rho0"], data["gamma"], exact=exact)
        family = RenderingFamily(data["renderers"], data["test_weights"], train, data["train_weights"], exact=exact)
        return Instance(mdp, family, policies["pi"], policies["pi_tilde"])
    except InstanceFileError:
        raise
    except InvalidInstanceError as err:
        raise InstanceFileError(str(err)) from None


def instance_to_dict(instance: Instance) -> dict[str, Any]:
    """JSON structure of a single instance (``"p/q"`` strings when exact, floats otherwise)."""
    if instance.batch_shape:
        raise ValueError("instance_to_dict writes one instance; index the batch first (instance[i])")
    ex = instance.exact

    def conv(a: Any) -> Any:
        return np.vectorize(lambda v: format_number(v, ex), otypes=[object])(np.asarray(a, dtype=object)).tolist()

    m, f = instance.mdp, instance.family
    return {
        "P": conv(m.P),
        "r": conv(m.r),
        "rho0": conv(m.rho0),
        "gamma": format_number(m.gamma, ex),
        "renderers": conv(f.renderers),
        "test_weights": conv(f.test_weights),
        "train": list(f.train),
        "train_weights": conv(f.train_weights),
        "policies": {"pi": conv(instance.pi), "pi_tilde": conv(instance.pi_tilde)},
    }


def load_instance(path: str | Path, *, exact: bool = False) -> Instance:
    """Read an instance file. Raises :class:`InstanceFileError` with a one-line message on bad input."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise InstanceFileError(f"{path}: cannot read ({err.strerror})") from None
    if not exact:
        instance = _read_plain_floats(text)
        if instance is not None:
            return instance
    try:
        # Decimal literals are kept exact; float mode converts them afterwards.
        data = json.loads(text, parse_float=Fraction)
    except json.JSONDecodeError as err:
        raise InstanceFileError(
            f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})"
        ) from None
    try:
        return instance_from_dict(data, exact=exact)
    except InstanceFileError as err:
        raise InstanceFileError(f"{path}: {err}") from None


#: Keys (and the keys of "policies") whose values are numbers or arrays of numbers.
NUMBER_KEYS = ("P", "r", "rho0", "gamma", "renderers", "test_weights", "train_weights")
POLICY_KEYS = ("pi", "pi_tilde")


def _plain_float_array(values: Any) -> np.ndarray | None:
    """``values`` as one float64 array if every entry is a plain, finite JSON ``int`` or ``float``; else None.

    A decimal literal read as a float is the float nearest to it, the same float that rounding its exact
    fraction gives; ``+ 0.0`` turns ``-0.0`` into the ``0.0`` that the exact reading (``-0.0 == 0``) gives.
    """
    try:
        arr = np.asarray(values, dtype=object)
        if not set(map(type, arr.reshape(-1).tolist())) <= {int, float}:
            return None
        out = arr.astype(np.float64) + 0.0
    except (ValueError, TypeError, OverflowError):  # ragged nesting, an int beyond the float64 range
        return None
    return out if np.isfinite(out).all() else None


def _read_plain_floats(text: str) -> Instance | None:
    """The float instance of ``text`` in one numpy conversion per array, or None to read it entry by entry.

    Only for well-formed files whose every number is a plain JSON number: any other input (``"p/q"``
    strings, booleans, NaN, values beyond the float64 range, a malformed file) returns None, so that the
    entry-by-entry reading decides it and words any error exactly as it always has.
    """
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("policies"), dict):
        return None
    data = {**data, "policies": dict(data["policies"])}
    for holder, keys in ((data, NUMBER_KEYS), (data["policies"], POLICY_KEYS)):
        for key in keys:
            if key not in holder:
                return None
            holder[key] = _plain_float_array(holder[key])
            if holder[key] is None:
                return None
    try:
        return instance_from_dict(data, exact=False)
    except InvalidInstanceError:
        return None


def save_instance(instance: Instance, path: str | Path, note: str | None = None) -> None:
    """Write an instance file atomically."""
    data = instance_to_dict(instance)
    if note:
        data["note"] = note
    atomic_write_json(path, data)
