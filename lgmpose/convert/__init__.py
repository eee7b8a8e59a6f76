"""`lgmpose convert-tfjs`: TF.js graph models (the MoveNet teachers, NanoDet) to ONNX. Needs
TensorFlow and tf2onnx (the ``convert`` extra), imported only when a conversion runs."""
