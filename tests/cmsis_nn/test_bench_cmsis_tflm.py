"""bench/cmsis.py's TFLite Micro arena measurement, on real tflite-micro with tinyc-written int8 models."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tinyc.api import Model
from tinyc.ir.core import Graph
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import OPS
from tinyc.ir.types import TensorType
from tinyc.quant.api import quantize_model
from tinyc.quant.quantizer import QuantOptions

pytest.importorskip("tflite_micro")

REPO = Path(__file__).resolve().parents[2]


def _bench() -> object:
    spec = importlib.util.spec_from_file_location("tinyc_bench_cmsis", REPO / "bench" / "cmsis.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _conv_model(hw: int) -> Graph:
    """One 3x3 'same' convolution, 3 -> 8 channels, on an hw x hw input, quantized to int8 by tinyc (int8 I/O)."""
    rng = np.random.default_rng(0)
    g = Graph(f"conv{hw}")
    x = g.add_input("x", TensorType(DType.F32, (1, hw, hw, 3)))
    w = g.add_const("w", (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32))
    b = g.add_const("b", (rng.standard_normal(8) * 0.1).astype(np.float32))
    op = OPS["Conv2D"]
    g.outputs = [g.add_node(op, [x, w, b], op.Attrs(pads=(1, 1, 1, 1)), name="conv").output]
    calib = {"x": rng.standard_normal((8, hw, hw, 3)).astype(np.float32)}
    qm, _ = quantize_model(Model(g, f"conv{hw}.onnx", f"conv{hw}"), calib, options=QuantOptions(int_io=True))
    return qm.graph


def test_tflm_arena_is_measured_and_grows_with_the_activations() -> None:
    bench = _bench()
    small = bench.tflm_of_graph(_conv_model(8))  # type: ignore[attr-defined]
    big = bench.tflm_of_graph(_conv_model(24))  # type: ignore[attr-defined]
    for r, hw in ((small, 8), (big, 24)):
        assert "error" not in r, r
        assert r["total"] == r["head"] + r["tail"] > 0
        # head: the int8 input and output are live together during the conv
        assert r["head"] >= hw * hw * (3 + 8), r
        assert r["tail"] == sum(r["tail_parts"].values())
    assert big["head"] - small["head"] >= (24 * 24 - 8 * 8) * (3 + 8)
    assert big["total"] > small["total"]
    assert big["tail"] == small["tail"]  # same ops and tensors: the persistent part does not depend on the sizes


def test_a_model_tflm_cannot_load_gives_a_reason() -> None:
    r = _bench().tflm_arena_of(b"\0" * 64)  # type: ignore[attr-defined]
    assert set(r) == {"error"} and r["error"]
