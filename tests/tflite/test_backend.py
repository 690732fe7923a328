"""The tflite backend through the CLI and the library: coral-edgetpu, coral-devboard, rpi-cm4."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tfl_agree import run_litert

from tinyc.api import load, run
from tinyc.driver import CompileOptions, compile_model
from tinyc.frontends.tflite import load_tflite
from tinyc.testing import shared_model

pytest.importorskip("ai_edge_litert")


def tinyc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinyc.cli", *args], capture_output=True, text=True, timeout=300)


def test_kws_float_onnx_to_coral_edgetpu_cli(kws_float: Path, tmp_path: Path) -> None:
    """The issue's done criterion: a float ONNX model, calibration data, an int8 .tflite LiteRT runs, the report."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", input_1=(rng.standard_normal((16, 49, 10, 1)) * 8).astype(np.float32))
    out = tmp_path / "kws"
    r = tinyc("compile", str(kws_float), "--input-shape", "input_1=1x49x10x1", "--target", "coral-edgetpu", "--quantize", "int8", "--calib", str(tmp_path / "calib.npz"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    model = out / "kws_dscnn_float.tflite"
    assert model.exists() and (out / "report.md").exists()
    data = model.read_bytes()
    x = rng.integers(-128, 128, (1, 49, 10, 1)).astype(np.int8)
    y = run_litert(data, [[x]])[0][0]
    assert y.dtype == np.int8 and y.shape == (1, 12)
    rep = json.loads((out / "report.json").read_text())
    assert rep["model"]["precision"] == "int8" and rep["model"]["io_type"] == "int8"
    assert rep["edgetpu"]["split_at"] is None and rep["edgetpu"]["tpu_ops"] == 13
    md = (out / "report.md").read_text()
    assert "All 13 operators map to the Edge TPU" in md and "edgetpu_compiler -s" in md
    # what the file holds reads back as the same int8 graph tinyc compiled
    g = load_tflite(model)
    assert [n.op.name for n in g.nodes][-3:] == ["Reshape", "FullyConnected", "Softmax"]
    # the Edge TPU compiler predates per-channel FULLY_CONNECTED: one weight scale there (the model's MatMul weights
    # are float; its convolutions' come with their own int8 scales and keep them), per channel for depthwise
    wq = {n.op.name: n.input(1).type.quant for n in g.nodes if n.op.name in ("DepthwiseConv2D", "FullyConnected")}
    assert wq["FullyConnected"].is_per_tensor and not wq["DepthwiseConv2D"].is_per_tensor
    assert "per-channel fully-connected" not in md


def test_int8_tflite_to_coral_devboard_keeps_the_model(tmp_path: Path) -> None:
    path = shared_model("mlperf-tiny/ad_autoencoder_int8.tflite")
    art = compile_model(load(path), output_dir=tmp_path / "ad", options=CompileOptions(target="coral-devboard"))
    assert art.report["edgetpu"]["tpu_ops"] == 10
    x = np.random.default_rng(1).integers(-128, 128, (4, 1, 640)).astype(np.int8)
    samples = [[xi] for xi in x]
    new = (tmp_path / "ad" / "ad_autoencoder_int8.tflite").read_bytes()
    np.testing.assert_array_equal(run_litert(new, samples)[0], run_litert(path.read_bytes(), samples)[0])


def test_rpi_cm4_float_and_int8(ad_float: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    m = load(ad_float, input_shapes={"input_1": (1, 640)})
    art = compile_model(m, output_dir=tmp_path / "f", options=CompileOptions(target="rpi-cm4"))
    rep = art.report
    assert rep["model"]["precision"] == "float" and "edgetpu" not in rep
    assert rep["litert"]["xnnpack"]["delegated_ops"] == rep["litert"]["xnnpack"]["total_ops"] == 10
    x = np.random.default_rng(2).standard_normal((1, 640)).astype(np.float32)
    want = ort.InferenceSession(str(ad_float)).run(None, {"input_1": x})[0]
    got = run_litert((tmp_path / "f" / "ad_autoencoder_float.tflite").read_bytes(), [[x]])[0][0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # the float .tflite reads back into a float graph that tinyc's interpreter runs to the same numbers
    back = load(tmp_path / "f" / "ad_autoencoder_float.tflite")
    assert all(v.type.dtype.is_float for v in back.graph.inputs) and len(back.graph.nodes) == 10
    np.testing.assert_allclose(run(back, x)["Identity"], want, rtol=1e-4, atol=1e-4)
    # with calibration data: int8 inside, float at the edges (QUANTIZE / DEQUANTIZE)
    m = load(ad_float, input_shapes={"input_1": (1, 640)})
    calib = {"input_1": np.random.default_rng(3).standard_normal((8, 640)).astype(np.float32)}
    art = compile_model(m, output_dir=tmp_path / "q", options=CompileOptions(target="rpi-cm4", quantize="int8", calib=calib))
    mq = art.report["model"]
    assert mq["precision"] == "int8" and mq["io_type"] == "float"
    assert [c["builtin"] for c in mq["opcodes"]] == ["QUANTIZE", "FULLY_CONNECTED", "DEQUANTIZE"]
    fcs = [n for n in load(tmp_path / "q" / "ad_autoencoder_float.tflite").graph.nodes if n.op.name == "FullyConnected"]
    assert fcs and all(not n.input(1).type.quant.is_per_tensor for n in fcs)  # LiteRT on the Pi takes per-channel FC


def test_float_kws_reads_back(kws_float: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    m = load(kws_float, input_shapes={"input_1": (1, 49, 10, 1)})
    compile_model(m, output_dir=tmp_path / "f", options=CompileOptions(target="rpi-cm4"))
    back = load(tmp_path / "f" / "kws_dscnn_float.tflite")
    assert [n.op.name for n in back.graph.nodes][:2] == ["Conv2D", "DepthwiseConv2D"]
    x = np.random.default_rng(4).standard_normal((1, 49, 10, 1)).astype(np.float32)
    want = ort.InferenceSession(str(kws_float)).run(None, {"input_1": x})[0]
    np.testing.assert_allclose(run(back, x)["Identity"], want, rtol=1e-5, atol=1e-5)


def test_uint8_io_from_the_target_options(tmp_path: Path) -> None:
    path = shared_model("mlperf-tiny/kws_dscnn_int8.tflite")
    target = (Path(__file__).resolve().parents[2] / "compiler" / "targets" / "coral-edgetpu.toml").read_text()
    custom = tmp_path / "my-tpu.toml"
    custom.write_text(target.replace('name = "coral-edgetpu"', 'name = "my-tpu"').replace('io_dtype = "int8"', 'io_dtype = "uint8"'))
    art = compile_model(load(path), output_dir=tmp_path / "u8", options=CompileOptions(target_file=custom))
    assert art.report["model"]["io_type"] == "uint8"
    assert art.report["model"]["inputs"][0]["type"] == "u8[1,49,10,1]"
    assert art.report["edgetpu"]["split_at"] is None  # QUANTIZE between 8-bit types maps


def test_edgetpu_without_calibration_says_so(kws_float: Path, tmp_path: Path) -> None:
    r = tinyc("compile", str(kws_float), "--input-shape", "input_1=1x49x10x1", "--target", "coral-edgetpu", "-o", str(tmp_path / "x"))
    assert r.returncode == 1 and "calibration" in r.stderr and "Traceback" not in r.stderr
