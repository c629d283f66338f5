"""The ``lpft-theory`` command line: :mod:`~lpft_theory.cli.main` (parser and error boundary), one module per
subcommand, and :mod:`~lpft_theory.cli.common` (the shared problem loader and argument parsers). No math here."""
