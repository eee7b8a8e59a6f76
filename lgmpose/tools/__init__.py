"""Developer tools around the networks: complexity counting and ONNX export."""
