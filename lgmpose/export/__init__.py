"""Export: ONNX files with the metadata inference reads, int8 quantisation, and the export
forms of the layers (the graph that is written is faster than the training graph, same function).

- :mod:`~lgmpose.export.exporter`: ``export_onnx`` and the torch-free ``onnx_metadata``;
- :mod:`~lgmpose.export.forms`: ``prepare_for_export`` (the model as it is exported);
- :mod:`~lgmpose.export.quantize`: ``export_int8``, ``quantize_onnx``, calibration crops;
- :mod:`~lgmpose.export.batched`: a checkpoint to the free-batch file inference runs.

Importing this package needs neither torch nor onnx; the functions that do import them.
"""
from lgmpose.export.batched import checkpoint_metadata, export_batched, export_checkpoint
from lgmpose.export.exporter import export_onnx, onnx_metadata
from lgmpose.export.forms import prepare_for_export
from lgmpose.export.quantize import export_int8, quantize_onnx

__all__ = ["checkpoint_metadata", "export_batched", "export_checkpoint", "export_int8",
           "export_onnx", "onnx_metadata", "prepare_for_export", "quantize_onnx"]
