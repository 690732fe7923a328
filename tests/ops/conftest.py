"""Op conformance tests: make ``onnx_helpers`` importable and offer its checker as a fixture."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from onnx_helpers import run_single_op_onnx as _run_single_op_onnx  # noqa: E402

run_single_op_onnx = _run_single_op_onnx


@pytest.fixture
def single_op():
    """The ``run_single_op_onnx`` checker (build one-node model, compare with onnxruntime)."""
    return _run_single_op_onnx
