"""Pegasus on the CPU with onnxruntime."""
