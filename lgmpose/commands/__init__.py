"""One module per `lgmpose` sub-command.

Each module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int | None``,
and optionally ``NAME`` (default: the module name with ``_`` replaced by ``-``). Modules must be
cheap to import: import torch and other heavy libraries inside ``run``.
"""
