"""Measuring models: `lgmpose bench` (latency, one worker process per model: :mod:`.run`,
:mod:`.worker`, :mod:`.timing`, :mod:`.targets`), the deployed peers timed beside ours
(:mod:`.peers`), parameter and MAC counts (:mod:`.flops`), ONNX Runtime operator profiles
(:mod:`.operator_profile`) and what int8 costs in accuracy (:mod:`.int8_accuracy`)."""
