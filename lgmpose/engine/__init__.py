"""Training and evaluation runs, configs, EMA, averaging (torch-based; import the submodules
directly). Checkpoint files are read and written by :mod:`lgmpose.models.checkpoint`."""
