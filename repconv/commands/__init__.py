"""Subcommands of ``repconv``; each module defines ``register(subparsers)``."""
