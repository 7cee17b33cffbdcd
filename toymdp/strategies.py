"""Hypothesis strategies for rendering MDPs (public path; defined in :mod:`toymdp.checking.strategies`)."""

from .checking.strategies import *  # noqa: F403
from .checking.strategies import __all__ as __all__
