"""Training, evaluation and checkpoint machinery (torch-based; import the submodules directly)."""
