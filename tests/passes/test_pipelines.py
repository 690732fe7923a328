"""The pipelines end to end: real MLPerf Tiny models and small NCHW CNNs, verified after every pass."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tinyc.frontends.onnx.importer import import_model, load_onnx
from tinyc.interpreter import run_graph
from tinyc.ir import Graph
from tinyc.passes import PassOptions, run_passes
from tinyc.passes.pipelines import default_pipeline, mcu_pipeline
from tinyc.testing import random_inputs

from .onnx_models import nchw_cnn, nchw_flatten_head

SEEDS = (0, 1, 2)


def _outputs_match(before: Graph, after: Graph, *, atol: float = 1e-4) -> None:
    for seed in SEEDS:
        inputs = random_inputs(before, seed)
        want = run_graph(before, inputs)
        got = run_graph(after, inputs)
        for vb, va in zip(before.outputs, after.outputs, strict=True):
            assert vb.name == va.name
            np.testing.assert_allclose(got[va.name], want[vb.name], rtol=1e-4, atol=atol)


def _ops(graph: Graph) -> Counter[str]:
    return Counter(n.op.name for n in graph.nodes)


def _mcu(path_or_graph: Path | Graph) -> tuple[Graph, Graph]:
    before = load_onnx(path_or_graph) if isinstance(path_or_graph, Path) else path_or_graph
    after = load_onnx(path_or_graph) if isinstance(path_or_graph, Path) else None
    assert after is not None
    after, _ = run_passes(after, mcu_pipeline(), PassOptions(verify_each=True))
    return before, after


def test_kws_through_the_mcu_pipeline(kws_float: Path) -> None:
    before, after = _mcu(kws_float)
    _outputs_match(before, after)
    ops = _ops(after)
    assert ops == Counter({"Conv2D": 5, "DepthwiseConv2D": 4, "AvgPool2D": 1, "Reshape": 1, "FullyConnected": 1, "Softmax": 1})
    for node in after.nodes:
        if node.op.name in ("Conv2D", "DepthwiseConv2D"):
            assert (node.attrs.act_min, node.attrs.act_max) == (0.0, None), node
            assert len(node.loc.parts) == 2  # Conv + Relu
    assert after.nodes[0].input(0) is after.inputs[0]  # the NHWC input feeds the first conv directly
    assert [n.op.name for n in after.nodes[-2:]] == ["FullyConnected", "Softmax"]
    assert not any(c.type.dtype.is_int for c in after.constants)  # dequantized weights folded


def test_kws_default_pipeline_keeps_dequantize_for_the_quantizer(kws_float: Path) -> None:
    before = load_onnx(kws_float)
    after, _ = run_passes(load_onnx(kws_float), default_pipeline(), PassOptions(verify_each=True))
    _outputs_match(before, after)
    ops = _ops(after)
    assert ops["DequantizeLinear"] == 5 and ops["Conv"] == 9 and ops["FullyConnected"] == 1


def test_ad_through_the_mcu_pipeline(ad_float: Path) -> None:
    before, after = _mcu(ad_float)
    _outputs_match(before, after)
    assert _ops(after) == Counter({"FullyConnected": 10})
    clamps = [(n.attrs.act_min, n.attrs.act_max) for n in after.nodes]
    assert clamps == [(0.0, None)] * 9 + [(None, None)]
    assert all(n.opt_input(2) is not None for n in after.nodes)  # every layer has its bias


def _ort(model: object, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])  # type: ignore[attr-defined]
    return sess.run(None, {"x": x})[0]


@pytest.mark.parametrize("make", [nchw_cnn, nchw_flatten_head])
def test_nchw_cnn_keeps_transposes_only_at_the_input(make) -> None:  # noqa: ANN001
    model = make()
    before = import_model(model)
    after, _ = run_passes(import_model(model), mcu_pipeline(), PassOptions(verify_each=True))
    _outputs_match(before, after)
    x = random_inputs(before, 5)["x"]
    np.testing.assert_allclose(run_graph(after, {"x": x})[after.outputs[0].name], _ort(model, x), rtol=1e-4, atol=1e-4)
    transposes = [n for n in after.nodes if n.op.name == "Transpose"]
    assert len(transposes) == 1 and transposes[0].input(0) is after.inputs[0]
    onnx_layout_ops = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "Gemm", "MatMul", "Relu", "Clip"}
    assert not onnx_layout_ops & set(_ops(after))


def test_nchw_cnn_ops_after_the_mcu_pipeline() -> None:
    after, _ = run_passes(import_model(nchw_cnn()), mcu_pipeline(), PassOptions(verify_each=True))
    ops = _ops(after)
    assert ops["Conv2D"] == 3 and ops["DepthwiseConv2D"] == 1 and ops["MaxPool2D"] == 1 and ops["AvgPool2D"] == 1
    assert ops["AddAct"] == 1 and ops["FullyConnected"] == 1 and ops["Split"] == 1 and ops["Concat"] == 1
    dw = next(n for n in after.nodes if n.op.name == "DepthwiseConv2D")
    assert (dw.attrs.act_min, dw.attrs.act_max) == (0.0, 6.0)
    first = next(n for n in after.nodes if n.op.name == "Conv2D")
    assert first.attrs.act_min == 0.0 and first.loc.parts == ("Conv_3", "BatchNormalization_8", "Relu_9")


def test_debug_knobs_print_and_time_the_pipeline() -> None:
    out = io.StringIO()
    opts = PassOptions(print_ir_after_change=True, verify_each=True, time_passes=True, out=out)
    _, report = run_passes(import_model(nchw_flatten_head()), mcu_pipeline(), opts)
    text = out.getvalue()
    assert "// ----- IR after to-nhwc -----" in text and "Conv2D(" in text
    assert "IR after cse" not in text  # unchanged passes are not printed with print_ir_after_change
    assert [t.name for t in report.timings] == [p.name for p in mcu_pipeline()]
    assert "total" in text
