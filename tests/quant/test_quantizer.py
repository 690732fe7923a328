"""The post-training quantizer on real models: the magnet locator, the MLPerf Tiny KWS and AD models.

Calibration data: the magnet locator's own calib/eval sets (written by its
training script, small budget here), and tools/calibration_data.py's
synthetic MFCC and log-mel features for KWS and AD.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyc.api import load, run
from tinyc.errors import QuantizationError
from tinyc.interpreter import run_graph
from tinyc.ir import parse_graph, print_graph, verify
from tinyc.ir.dtypes import DType
from tinyc.passes import run_passes
from tinyc.quant.api import QuantOptions, quantization_report, quantize, quantize_model, quantize_passes

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
train = importlib.import_module("examples.magnet_locator.train")
calibration_data = importlib.import_module("tools.calibration_data")


@pytest.fixture(scope="module")
def magnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("magnet")
    return train.build_model(out, epochs=8, n_train=4000, n_eval=200, n_calib=100)


def _kernel_nodes(graph):  # type: ignore[no-untyped-def]
    return [n for n in graph.nodes if n.op.name in ("Conv2D", "DepthwiseConv2D", "FullyConnected")]


def test_magnet_locator_int8_representation(magnet: Path) -> None:
    q = quantize(load(magnet), calib=magnet.parent / "calib.npz")
    g = q.graph
    verify(g)
    assert [v.type.dtype for v in g.inputs] == [DType.F32] and [v.type.dtype for v in g.outputs] == [DType.F32]
    assert g.nodes[0].op.name == "QuantizeLinear" and g.nodes[-1].op.name == "DequantizeLinear"
    assert g.outputs[0].name == "position"
    for node in _kernel_nodes(g):
        x, w, b = node.inputs
        assert x.type.dtype is DType.I8 and x.type.quant.is_per_tensor
        assert w.type.dtype is DType.I8 and w.type.quant.axis == 0 and set(w.type.quant.zero_point) == {0}
        assert np.abs(w.const).max() <= 127
        assert b.type.dtype is DType.I32
        want_bias_scale = np.float32(x.type.quant.scale[0]) * w.type.quant.scale_array()
        assert np.allclose(b.type.quant.scale_array(), want_bias_scale, rtol=1e-7)
        assert node.output.type.dtype is DType.I8
    # the textual IR carries the quantized types through a round trip
    text = print_graph(g, elide_constants_over=None)
    assert print_graph(parse_graph(text), elide_constants_over=None) == text


def test_magnet_locator_accuracy_int8_and_int16x8(magnet: Path) -> None:
    model = load(magnet)
    calib, evals = magnet.parent / "calib.npz", magnet.parent / "eval.npz"
    q8, r8 = quantization_report(model, calib, eval_data=evals)
    q16, r16 = quantization_report(model, calib, eval_data=evals, options=QuantOptions(scheme="int16x8"))
    assert r8.outputs[0].cosine > 0.999 and r8.outputs[0].sqnr_db > 30
    assert r16.outputs[0].sqnr_db > r8.outputs[0].sqnr_db  # int16 activations help the regression output
    assert {n.output.type.dtype for n in _kernel_nodes(q16.graph)} == {DType.I16}
    assert {n.input(2).type.dtype for n in _kernel_nodes(q16.graph)} == {DType.I64}
    assert r8.outputs[0].top1 is None  # a regression, not a classifier
    # localisation error barely moves
    data = np.load(evals)
    x, truth = data["magnetometers"][:50].astype(np.float32), data["position"][:50]
    err = {}
    for name, m in (("float", model), ("int8", q8), ("int16x8", q16)):
        pred = np.concatenate([run(m, row[None])["position"] for row in x])
        err[name] = float(np.linalg.norm(pred - truth, axis=1).mean())
    assert err["int8"] < err["float"] + 0.5 and err["int16x8"] < err["float"] + 0.25
    text = r8.text()
    assert "SQNR dB" in text and "position" in text


def test_kws_quantizes_with_synthetic_mfcc_calibration(kws_float: Path) -> None:
    model = load(kws_float, input_shapes={"input_1": (1, 49, 10, 1)})
    calib = calibration_data.kws_features(24, seed=0)
    evals = calibration_data.kws_features(16, seed=1)
    q, rep = quantization_report(model, calib, eval_data=evals)
    assert rep.float_nodes == []
    kinds = {n.op.name for n in q.graph.nodes}
    assert {"Conv2D", "DepthwiseConv2D", "AvgPool2D", "FullyConnected", "Softmax"} <= kinds
    assert all(n.output.type.dtype is DType.I8 for n in q.graph.nodes if n.op.name != "DequantizeLinear")
    out = rep.outputs[0]
    assert out.top1 is not None and out.top1 >= 0.85 and out.cosine > 0.98
    assert len(rep.layers) >= 12 and min(layer.sqnr_db for layer in rep.layers) > 10
    softmax = next(n for n in q.graph.nodes if n.op.name == "Softmax")
    assert softmax.output.type.quant.scale[0] == 1 / 256 and softmax.output.type.quant.zero_point[0] == -128


def test_kws_int16x8_keeps_softmax_in_float(kws_float: Path) -> None:
    model = load(kws_float, input_shapes={"input_1": (1, 49, 10, 1)})
    q, rep = quantize_model(model, calibration_data.kws_features(8, seed=0), options=QuantOptions(scheme="int16x8"))
    assert [(op, "int8 only" in why) for _, op, why in rep.float_nodes] == [("Softmax", True)]
    softmax = next(n for n in q.graph.nodes if n.op.name == "Softmax")
    assert softmax.input(0).producer.op.name == "DequantizeLinear"


def test_ad_quantizes_with_synthetic_log_mel_calibration(ad_float: Path) -> None:
    model = load(ad_float, input_shapes={"input_1": (1, 640)})
    calib = calibration_data.ad_features(32, seed=0)
    evals = calibration_data.ad_features(16, seed=1)
    q, rep = quantization_report(model, calib, eval_data=evals)
    assert len(_kernel_nodes(q.graph)) == 10 and rep.float_nodes == []
    assert rep.outputs[0].sqnr_db > 20 and rep.outputs[0].cosine > 0.99
    assert rep.calib_samples == 32 and rep.eval_samples == 16


def test_refuses_without_calibration_data(magnet: Path) -> None:
    with pytest.raises(QuantizationError) as err:
        quantize(load(magnet))
    assert "calibration data" in str(err.value) and "--calib" in str(err.value)


def test_calib_random_warns_loudly(magnet: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tinyc.quant.calibrate"):
        q = quantize(load(magnet), calib="random")
    assert any("RANDOM INPUTS" in r.getMessage() for r in caplog.records)
    verify(q.graph)


def test_calibration_data_forms_agree(magnet: Path, tmp_path: Path) -> None:
    x = np.load(magnet.parent / "calib.npz")["magnetometers"][:20].astype(np.float32)
    folder = tmp_path / "samples"
    folder.mkdir()
    for i, row in enumerate(x):
        np.save(folder / f"{i:03d}.npy", row)
    np.save(tmp_path / "stacked.npy", x)
    np.savez(tmp_path / "other_key.npz", features=x)
    model = load(magnet)
    forms = [x, {"magnetometers": x}, [row for row in x], [{"magnetometers": row[None]} for row in x], folder, tmp_path / "stacked.npy", tmp_path / "other_key.npz"]
    texts = {print_graph(quantize(model, calib=f).graph) for f in forms}
    assert len(texts) == 1
    with pytest.raises(QuantizationError, match="shape"):
        quantize(model, calib=np.zeros((4, 47), np.float32))
    with pytest.raises(QuantizationError, match="not found"):
        quantize(model, calib=tmp_path / "missing.npz")


def test_int_io_keeps_integer_edges(magnet: Path) -> None:
    q = quantize(load(magnet), calib=magnet.parent / "calib.npz", int_io=True)
    (inp,), (out,) = q.graph.inputs, q.graph.outputs
    assert inp.type.dtype is DType.I8 and inp.type.quant is not None and out.type.dtype is DType.I8
    assert not any(n.op.name in ("QuantizeLinear", "DequantizeLinear") for n in q.graph.nodes)
    qf = quantize(load(magnet), calib=magnet.parent / "calib.npz")
    x = np.load(magnet.parent / "eval.npz")["magnetometers"][:1].astype(np.float32)
    s, z = inp.type.quant.scale[0], inp.type.quant.zero_point[0]
    xi = np.clip(np.rint(x / np.float32(s)) + z, -128, 127).astype(np.int8)
    yi = run(q, xi)["position"]
    so, zo = out.type.quant.scale[0], out.type.quant.zero_point[0]
    assert np.allclose((yi.astype(np.float32) - zo) * np.float32(so), run(qf, x)["position"])


def test_options_observers_per_tensor_and_symmetric(magnet: Path) -> None:
    model, calib = load(magnet), magnet.parent / "calib.npz"
    _, base = quantize_model(model, calib)
    _, pct = quantize_model(model, calib, options=QuantOptions(observer="percentile", percentile=99.0))
    _, mse = quantize_model(model, calib, options=QuantOptions(observer="mse"))
    widths = {name: [r.params[v].scale[0] for v in ("relu1", "relu2")] for name, r in (("minmax", base), ("pct", pct), ("mse", mse))}
    assert all(p <= m for p, m in zip(widths["pct"], widths["minmax"]))
    assert widths["pct"] != widths["minmax"]
    q = quantize(model, calib=calib, options=QuantOptions(per_channel=False, symmetric_activations=True))
    for node in _kernel_nodes(q.graph):
        assert node.input(1).type.quant.is_per_tensor
        assert node.output.type.quant.zero_point == (0,)
    with pytest.raises(QuantizationError, match="scheme"):
        QuantOptions(scheme="int4")


def test_quantize_passes_match_the_api(magnet: Path) -> None:
    model, calib = load(magnet), magnet.parent / "calib.npz"
    from tinyc.quant.api import clone_graph

    graph, _ = run_passes(clone_graph(model.graph), quantize_passes(QuantOptions(), calib))
    assert print_graph(graph) == print_graph(quantize(model, calib=calib).graph)


def test_prequantized_qdq_model_keeps_its_parameters(magnet: Path, tmp_path: Path) -> None:
    ortq = pytest.importorskip("onnxruntime.quantization")
    import onnx
    import onnxruntime as ort

    x = np.load(magnet.parent / "calib.npz")["magnetometers"][:40].astype(np.float32)

    class Reader(ortq.CalibrationDataReader):
        def __init__(self) -> None:
            self.rows = iter([{"magnetometers": r[None]} for r in x])

        def get_next(self):  # type: ignore[no-untyped-def]
            return next(self.rows, None)

    qdq = tmp_path / "magnet_qdq.onnx"
    ortq.quantize_static(
        str(magnet), str(qdq), Reader(), quant_format=ortq.QuantFormat.QDQ, per_channel=True, activation_type=ortq.QuantType.QInt8, weight_type=ortq.QuantType.QInt8
    )
    onnx_model = onnx.load(qdq)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in onnx_model.graph.initializer}
    given = {}
    for n in onnx_model.graph.node:
        if n.op_type == "QuantizeLinear":
            given[n.input[0]] = (float(inits[n.input[1]]), int(inits[n.input[2]]))
    q, rep = quantize_model(load(qdq), None)  # no calibration needed: every activation carries parameters
    assert rep.samples == 0 and rep.kept_from_model >= 3
    g = q.graph
    params = {v.name: v.type.quant for n in g.nodes for v in n.outputs if v.type.quant is not None}
    assert params["magnetometers_i8"].scale[0] == pytest.approx(given["magnetometers"][0], rel=1e-7)
    assert params["magnetometers_i8"].zero_point[0] == given["magnetometers"][1]
    assert params["relu1"] == pytest.approx(params["relu1"]) and params["relu1"].scale[0] == pytest.approx(given["relu1"][0], rel=1e-7)
    w_ort = [inits[k] for k in inits if k.endswith("weight_quantized")]
    w_ours = [n.input(1).const for n in _kernel_nodes(g)]
    assert any(any(np.array_equal(a, b) for b in w_ort) for a in w_ours)
    # the integer graph computes what onnxruntime computes from the same QDQ model, within one output step
    sess = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"])
    s_out = given["position_QuantizeLinear_Input"][0]
    for row in x[:10]:
        ours = run_graph(g, {"magnetometers": row[None]})["position"]
        theirs = sess.run(None, {"magnetometers": row[None]})[0]
        assert np.abs(ours - theirs).max() <= s_out * 1.01


def test_prequantized_kws_from_onnxruntime_needs_no_calibration(kws_float: Path, tmp_path: Path) -> None:
    """tf2onnx's input Transpose sits between the graph input and the first Q/DQ pair: its parameters carry over."""
    ortq = pytest.importorskip("onnxruntime.quantization")
    rows = calibration_data.kws_features(8, seed=0)

    class Reader(ortq.CalibrationDataReader):
        def __init__(self) -> None:
            self.rows = iter([{"input_1": r[None]} for r in rows])

        def get_next(self):  # type: ignore[no-untyped-def]
            return next(self.rows, None)

    qdq = tmp_path / "kws_qdq.onnx"
    ortq.quantize_static(str(kws_float), str(qdq), Reader(), quant_format=ortq.QuantFormat.QDQ, per_channel=True, activation_type=ortq.QuantType.QInt8, weight_type=ortq.QuantType.QInt8)
    q, rep = quantize_model(load(qdq, input_shapes={"input_1": (1, 49, 10, 1)}), None)
    assert rep.samples == 0 and rep.float_nodes == [] and rep.kept_from_model >= 10
    first = q.graph.nodes[0]
    assert first.op.name == "QuantizeLinear" and first.input(0).name == "input_1"
    verify(q.graph)
