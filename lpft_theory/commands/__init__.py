"""CLI subcommands; each module has ``register(subparsers)``. See :mod:`lpft_theory.cli`."""
