"""The vision CNN example (MobileNetV2/V3-style int8 classifier): `tinyc validate` on the host (ASan/UBSan) and on
QEMU's Cortex-M7, bit-exact with the integer reference, every layer on a CMSIS-NN or tinyc_ kernel."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

pytest.importorskip("torch")
vision = importlib.import_module("examples.vision_cnn.model")

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
needs_qemu = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"),
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed (apt-get install qemu-system-arm)"),
]

# The ops the example exists to exercise, as they reach the backend.
WANT_OPS = {"Transpose", "Conv2D", "DepthwiseConv2D", "Add", "ReduceMean", "Sigmoid", "Mul", "HardSwish", "Concat", "Pad", "MaxPool2D", "AvgPool2D", "FullyConnected", "Softmax"}


@pytest.fixture(scope="module")
def vision_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return vision.build_model(tmp_path_factory.mktemp("vision_cnn"))


def _validate(model: Path, on: str, *extra: str) -> dict:
    calib = model.parent / vision.CALIB_FILE
    cmd = [sys.executable, "-m", "tinyc.cli", "validate", str(model), "--target", "stm32h7", "--calib", str(calib), "--on", on, "--random", "4", "--json", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout)


def _check(rep: dict) -> None:
    assert rep["ok"] and rep["int8_mismatches"] == 0 and rep["samples"] == 4, rep
    ops = {layer["op"] for layer in rep["layers"]}
    assert WANT_OPS <= ops, WANT_OPS - ops
    assert all(layer["kernel"] or layer["op"] == "Reshape" for layer in rep["layers"])
    concat = next(layer for layer in rep["layers"] if layer["op"] == "Concat")
    assert "tinyc_requantize_rows_s8" in concat["kernel"]  # the branches' scales differ
    assert rep["top1"] == 1.0 and rep["cosine"] > 0.99


def test_model_is_deterministic(vision_model: Path, tmp_path: Path) -> None:
    again = vision.build_model(tmp_path)
    assert again.read_bytes() == vision_model.read_bytes()


@needs_gcc
def test_vision_cnn_validates_on_host(vision_model: Path) -> None:
    _check(_validate(vision_model, "host", "--sanitize"))


def _on_qemu(fn):  # type: ignore[no-untyped-def]
    for mark in needs_qemu:
        fn = mark(fn)
    return fn


@_on_qemu
def test_vision_cnn_validates_on_cortex_m7(vision_model: Path) -> None:
    rep = _validate(vision_model, "qemu")
    _check(rep)
    assert rep["instructions"] > 0 and rep["outside_kernels"] < 0.01 * rep["instructions"]
