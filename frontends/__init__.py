"""Frontends: ONNX, PyTorch and TFLite importers into the tinyc IR."""
