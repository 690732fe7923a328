"""Random NCHW networks through the MCU pipeline: same numbers as onnxruntime, NHWC kernels, Transposes only at the edges."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnxruntime as ort
import pytest

from tinyc.frontends.onnx.importer import import_model
from tinyc.interpreter import run_graph
from tinyc.passes import PassOptions, run_passes
from tinyc.passes.pipelines import mcu_pipeline
from tinyc.testing import random_inputs

from .onnx_models import random_cnn

NCHW_OPS = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "Gemm", "MatMul", "Flatten"}


@pytest.mark.parametrize("seed", range(100))
def test_random_cnn(seed: int) -> None:
    model = random_cnn(seed)
    graph, _ = run_passes(import_model(model), mcu_pipeline(), PassOptions(verify_each=True))
    x = random_inputs(graph, seed)["x"]
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = run_graph(graph, {"x": x})[graph.outputs[0].name]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    ops = Counter(n.op.name for n in graph.nodes)
    assert not NCHW_OPS & set(ops), ops
    for t in (n for n in graph.nodes if n.op.name == "Transpose"):
        at_input = t.input(0) in graph.inputs
        at_output = t.output in graph.outputs
        assert at_input or at_output, f"a Transpose inside the graph: {t}"
    assert ops["Transpose"] <= 2
