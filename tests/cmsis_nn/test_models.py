"""Real models end to end: float ONNX -> tinyc quantization -> C -> host and Cortex-M7, bit-exact with the integer reference.

The magnet locator is trained here (small budget, seconds); the MLPerf Tiny
KWS and AD models come from ../shared/models and skip when absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from cmsis_helpers import ARM_GCC, QEMU, needs_gcc

from tinyc.validate import ValidationReport, run_on_target, validate

pytestmark = needs_gcc
REPO = Path(__file__).resolve().parents[2]
TFLM_ARENA = {"kws": 24_272, "ad": 3_984}  # ../shared/models/README.md


@pytest.fixture(scope="module")
def magnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    sys.path.insert(0, str(REPO))
    from examples.magnet_locator import train

    out = tmp_path_factory.mktemp("magnet")
    return train.build_model(out, epochs=10, seed=0, n_train=4000, n_eval=64, n_calib=64)


def _check(report: ValidationReport, on: str) -> None:
    assert report.ok, report.text()
    assert report.int8_mismatches == 0 and report.float_mismatches == 0
    assert report.cosine is not None and report.cosine > 0.99, report.text()
    if on == "qemu":
        assert report.instructions and report.instructions > 0
        assert report.outside_kernels is not None and report.outside_kernels < 0.01 * report.instructions, report.text()


@pytest.mark.parametrize("on", ["host", pytest.param("qemu", marks=[pytest.mark.qemu, pytest.mark.skipif(ARM_GCC is None or QEMU is None, reason="arm-none-eabi-gcc / qemu-system-arm not installed")])])
def test_magnet_locator(magnet: Path, on: str, tmp_path: Path) -> None:
    evalset = np.load(magnet.parent / "eval.npz")
    np.save(tmp_path / "x.npy", evalset["magnetometers"][:16])
    report = validate(magnet, target="stm32h7", on=on, inputs=tmp_path / "x.npy", calib=magnet.parent / "calib.npz", output_dir=tmp_path / "build")
    _check(report, on)
    assert report.ram_bytes <= 256  # two 50-byte activations, 48 inputs, aligned


@pytest.mark.parametrize("on", ["host", pytest.param("qemu", marks=[pytest.mark.qemu, pytest.mark.skipif(ARM_GCC is None or QEMU is None, reason="arm-none-eabi-gcc / qemu-system-arm not installed")])])
@pytest.mark.parametrize("which", ["kws", "ad"])
def test_mlperf_tiny(which: str, on: str, kws_float: Path, ad_float: Path) -> None:
    path = kws_float if which == "kws" else ad_float
    report = validate(path, target="stm32h7", on=on, random=6, seed=1)
    _check(report, on)
    assert report.top1 is None or report.top1 >= 0.8
    # RAM: arenas only (activations, scratch, I/O); compare with TFLite Micro's arena for the same int8 model
    assert report.ram_bytes < TFLM_ARENA[which], report.text()


@pytest.mark.qemu
@pytest.mark.skipif(ARM_GCC is None or QEMU is None, reason="arm-none-eabi-gcc / qemu-system-arm not installed")
def test_run_on_target_for_the_demo(magnet: Path, tmp_path: Path) -> None:
    import tinyc
    from tinyc.driver import compile_model
    from tinyc.validate import _compile_options

    build = tmp_path / "build"
    compile_model(tinyc.load(magnet), output_dir=build, options=_compile_options("stm32h7", magnet.parent / "calib.npz"))
    xs = np.load(magnet.parent / "eval.npz")["magnetometers"][:4]
    preds, where = run_on_target(build, xs, on="qemu")
    assert preds.shape == (4, 3)
    assert "instructions per inference" in where and "not Cortex-M7 cycles" in where
    host, _ = run_on_target(build, xs, on="host")
    np.testing.assert_array_equal(preds, host)


@pytest.mark.qemu
@pytest.mark.skipif(ARM_GCC is None or QEMU is None, reason="arm-none-eabi-gcc / qemu-system-arm not installed")
def test_benchmark_goals(kws_float: Path, ad_float: Path) -> None:
    """bench/cmsis.py: RAM below half of TFLM's arena, under 1% of the instructions outside kernel calls."""
    import json
    import subprocess

    proc = subprocess.run([sys.executable, str(REPO / "bench" / "cmsis.py"), "--json", "--samples", "2"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = {r["model"]: r for r in json.loads(proc.stdout)}
    for key in ("kws", "ad"):
        r = rows[key]
        assert r["ram_bytes"] < r["tflm_arena"] / 2, r
        assert r["outside_share"] < 0.01, r
        counts = r["instructions_all_samples"]  # the same input: equal up to the timer's 40-instruction tick
        assert max(counts) - min(counts) <= 40, r
        assert r["flash_bytes"] >= r["weights_and_tables_bytes"]


def test_prequantized_qdq_model_needs_no_calibration(kws_float: Path, tmp_path: Path) -> None:
    """A QDQ ONNX model carries its parameters: compile without calibration data, bit-exact on the host."""
    import tinyc
    from tinyc.driver import CompileOptions, compile_model
    from tinyc.quant.api import quantize
    from tinyc.quant.qdq_writer import write_qdq_onnx

    qdq = tmp_path / "kws_qdq.onnx"
    write_qdq_onnx(quantize(tinyc.load(kws_float), calib="random").graph, qdq)
    art = compile_model(tinyc.load(qdq), output_dir=tmp_path / "b", options=CompileOptions(target="stm32h7"))
    assert art.report["totals"]["layers"] == 13
    report = validate(qdq, target="stm32h7", on="host", random=3)
    _check(report, "host")
