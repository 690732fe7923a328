"""ONNX frontend: ``load_onnx(path)`` -> tinyc Graph."""

from __future__ import annotations

from tinyc.frontends.onnx.importer import import_model, load_onnx

__all__ = ["import_model", "load_onnx"]
