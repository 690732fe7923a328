"""Real models for jetson-orin in fp16 and int8: MLPerf Tiny KWS and AD (../shared/models, skipped when absent), the magnet locator.

For each: the written model passes onnx.checker (full) and tinyc's TensorRT
rules, and runs in onnxruntime on held-out inputs (not the calibration ones).

* fp16 (float32 weights in the file): equal to tinyc's float reference within
  rtol 1e-4 / atol 1e-4;
* int8 (explicit symmetric Q/DQ): equal to tinyc's reference of the same QDQ
  graph (the written ONNX imported back and interpreted) within atol 1e-4,
  and close to the float model: SQNR >= 10 dB and top-1 agreement >= 75 %
  for KWS (symmetric int8 keeps 7 bits for ReLU outputs; synthetic MFCCs), SQNR
  >= 20 dB for the AD autoencoder (tinyc's asymmetric MCU int8 reaches 25 dB on
  the same data) and >= 35 dB for the magnet locator.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from trt_helpers import full_check, run_ort, sqnr_db

import tinyc
from tinyc.backends.tensorrt import profile_of
from tinyc.backends.tensorrt.checker import check_model
from tinyc.driver import CompileOptions, compile_model
from tinyc.frontends.onnx import import_model
from tinyc.interpreter import run_graph
from tinyc.targets import load_target

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
C = importlib.import_module("tools.calibration_data")
ORIN = profile_of(load_target("jetson-orin"))
SQNR_MIN = {"kws": 10.0, "ad": 20.0, "magnet": 35.0}


@pytest.fixture(scope="module")
def magnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    from examples.magnet_locator import train

    return train.build_model(tmp_path_factory.mktemp("magnet"), epochs=5, seed=0, n_train=2000, n_eval=32, n_calib=64)


def _data(which: str, kws_float: Path, ad_float: Path, magnet_path: Path | None) -> tuple[Path, np.ndarray, np.ndarray]:
    """(model, calibration samples, evaluation samples)."""
    if which == "kws":
        return kws_float, C.kws_features(32, seed=0).reshape(-1, 1, 49, 10, 1), C.kws_features(16, seed=5).reshape(-1, 1, 49, 10, 1)
    if which == "ad":
        return ad_float, C.ad_features(128, seed=0).reshape(-1, 1, 640), C.ad_features(16, seed=5).reshape(-1, 1, 640)
    assert magnet_path is not None
    data = np.load(magnet_path.parent / "calib.npz")["magnetometers"]
    ev = np.load(magnet_path.parent / "eval.npz")["magnetometers"][:16]
    return magnet_path, data.reshape(-1, 1, 48), ev.reshape(-1, 1, 48)


def _run_each(fn, xs: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.concatenate([fn(x.astype(np.float32)) for x in xs])


@pytest.mark.parametrize("precision", ["fp16", "int8"])
@pytest.mark.parametrize("which", ["kws", "ad", "magnet"])
def test_compiles_for_orin(which: str, precision: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    kws = request.getfixturevalue("kws_float") if which == "kws" else Path()
    ad = request.getfixturevalue("ad_float") if which == "ad" else Path()
    mag = request.getfixturevalue("magnet") if which == "magnet" else None
    path, calib, evals = _data(which, kws, ad, mag)
    ref = tinyc.load(path)
    name = ref.graph.inputs[0].name
    opts = CompileOptions(target="jetson-orin", precision=precision, calib={name: calib[:, 0].astype(np.float32)} if precision == "int8" else None)
    art = compile_model(tinyc.load(path), output_dir=tmp_path / "out", options=opts)
    model = full_check(onnx.load(str(tmp_path / "out" / "model.onnx")))
    assert check_model(model, ORIN) == []
    assert art.report["precision"] == precision
    want = _run_each(lambda x: next(iter(run_graph(ref.graph, {name: x}).values())), evals)
    got = _run_each(lambda x: run_ort(model, {name: x})[0], evals)
    if precision == "fp16":
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        return
    assert any(n.op_type == "QuantizeLinear" for n in model.graph.node)
    back = import_model(model)
    ours = _run_each(lambda x: next(iter(run_graph(back, {name: x}).values())), evals)
    np.testing.assert_allclose(got, ours, rtol=0, atol=1e-4)
    assert sqnr_db(want, got) >= SQNR_MIN[which]
    if which == "kws":
        assert float(np.mean(got.argmax(-1) == want.argmax(-1))) >= 0.75
    conv_like = [row for row in art.report["layers"] if row["op"] in ("Conv", "Gemm")]
    assert conv_like and all(row["precision"] == "int8" for row in conv_like)
