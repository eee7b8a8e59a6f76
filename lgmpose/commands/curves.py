"""`lgmpose curves`: learning curves of training runs (table, optional plot)."""
from __future__ import annotations

from lgmpose.plots.learning_curves import add_arguments, run

HELP = ("learning curves of training runs: a validation metric against crops seen or training "
        "minutes, as a table and a plot")

__all__ = ["HELP", "add_arguments", "run"]
