"""``tinyc run|analyze|compile --quantize``: what a user types, what they see."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyc.cli import main

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
train = importlib.import_module("examples.magnet_locator.train")


@pytest.fixture(scope="module")
def magnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train.build_model(tmp_path_factory.mktemp("magnet"), epochs=4, n_train=2000, n_eval=60, n_calib=40)


@pytest.fixture(scope="module")
def x_npy(magnet: Path) -> Path:
    path = magnet.parent / "x.npy"
    np.save(path, np.load(magnet.parent / "eval.npz")["magnetometers"][:1].astype(np.float32))
    return path


def test_run_quantized_writes_float_outputs(magnet: Path, x_npy: Path, tmp_path: Path) -> None:
    out = tmp_path / "y.npy"
    r = subprocess.run(
        [sys.executable, "-m", "tinyc.cli", "run", str(magnet), "--quantize", "int8", "--calib", str(magnet.parent / "calib.npz"), "--input", str(x_npy), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    y = np.load(out)
    assert y.dtype == np.float32 and y.shape == (1, 3)
    assert main(["run", str(magnet), "--input", str(x_npy), "--output", str(tmp_path / "f.npy")]) == 0
    assert np.abs(y - np.load(tmp_path / "f.npy")).max() < 1.0  # millimetres


def test_run_int_io_takes_integers_and_says_how(magnet: Path, x_npy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    calib = str(magnet.parent / "calib.npz")
    rc = main(["run", str(magnet), "--quantize", "int8", "--calib", calib, "--int-io", "--input", str(x_npy)])
    err = capsys.readouterr().err
    assert rc == 1 and "input magnetometers: i8, real = " in err and "dtype float32" in err
    line = next(s for s in err.splitlines() if s.startswith("input magnetometers"))
    scale, zp = float(line.split("= ")[1].split(" *")[0]), int(line.rsplit("- ", 1)[1].rstrip(")"))
    xi = np.clip(np.rint(np.load(x_npy) / scale) + zp, -128, 127).astype(np.int8)
    np.save(tmp_path / "xi.npy", xi)
    assert main(["run", str(magnet), "--quantize", "int8", "--calib", calib, "--int-io", "--input", str(tmp_path / "xi.npy"), "--output", str(tmp_path / "yi.npy")]) == 0
    assert np.load(tmp_path / "yi.npy").dtype == np.int8


def test_analyze_prints_the_report(magnet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["analyze", str(magnet), "--quantize", "int16x8", "--calib", str(magnet.parent / "calib.npz"), "--eval", str(magnet.parent / "eval.npz"), "--observer", "mse"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "int16x8, mse ranges from 40 calibration samples; errors on 60 samples (evaluation set)" in out
    assert "SQNR dB" in out and "cosine" in out and "FullyConnected" in out
    rc = main(["analyze", str(magnet), "--quantize", "int8", "--calib", str(magnet.parent / "calib.npz"), "--json", "--target", "stm32h7"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["quantization"]["outputs"][0]["name"] == "position"
    assert data["quantization"]["outputs"][0]["top1"] is None and "memory" in data


def test_refusal_without_calibration_says_how(magnet: Path, x_npy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(magnet), "--quantize", "int8", "--input", str(x_npy)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: quantization needs calibration data") and "--calib data.npz" in err and "Traceback" not in err
    assert main(["run", str(magnet), "--calib", "random", "--input", str(x_npy)]) == 1
    assert "only apply with --quantize" in capsys.readouterr().err


def test_calib_random_warns_on_stderr(magnet: Path, x_npy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(magnet), "--quantize", "int8", "--calib", "random", "--input", str(x_npy)]) == 0
    err = capsys.readouterr().err
    assert "warning: --calib random" in err and "smoke test" in err
