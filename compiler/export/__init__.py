"""Writers that turn tinyc's IR back into interchange formats (ONNX)."""

from __future__ import annotations

from tinyc.export.onnx_writer import (
    MAX_WRITE_OPSET,
    MIN_WRITE_OPSET,
    WriteOptions,
    graph_to_onnx,
    model_bytes,
    write_onnx,
)

__all__ = ["MAX_WRITE_OPSET", "MIN_WRITE_OPSET", "WriteOptions", "graph_to_onnx", "model_bytes", "write_onnx"]
