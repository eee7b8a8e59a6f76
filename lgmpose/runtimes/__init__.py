"""Running a network file: ONNX Runtime sessions (:mod:`.onnx_runtime`, also used by the
detectors and the MoveNet runner), a training checkpoint run with PyTorch (:mod:`.torch_backend`,
torch imported on use only) and the one description of a trained model (:mod:`.model_info`).

Part of the deployable path. Import submodules directly.
"""
