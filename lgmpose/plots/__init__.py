"""Pictures of results (matplotlib, the ``bench`` extra): learning curves of training runs
(:mod:`.learning_curves`, `lgmpose curves`) and accuracy against latency
(:mod:`.accuracy_latency`)."""
