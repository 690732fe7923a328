"""`tinyc validate` from the command line, and the report's verdict logic."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cmsis_helpers import needs_gcc

from tinyc.validate import ValidationReport, float_agreement, read_samples


@needs_gcc
def test_cli_validate_passes_and_prints_json(ad_float: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tinyc.cli", "validate", str(ad_float), "--random", "2", "--json", "-o", str(tmp_path / "b")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["ok"] and rep["int8_mismatches"] == 0 and rep["samples"] == 2
    assert (tmp_path / "b" / "report.json").is_file()


def test_cli_validate_unknown_target_is_a_clean_error(ad_float: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "tinyc.cli", "validate", str(ad_float), "--target", "no-such-board"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "error: unknown target" in proc.stderr and "Traceback" not in proc.stderr


def test_verdict_fails_on_any_mismatch(tmp_path: Path) -> None:
    r = ValidationReport("m.onnx", "stm32h7", "qemu", 4, tmp_path, instructions=1000, layer_instructions={0: 600, 1: 390})
    assert r.ok and r.outside_kernels == 10 and "verdict: PASS" in r.text()
    assert "not Cortex-M7 cycles" in r.text()
    r.int8_mismatches, r.max_lsb = 3, 1
    assert not r.ok and "MISMATCH" in r.text() and r.text().endswith("verdict: FAIL")


def test_float_agreement_and_sample_shapes() -> None:
    want = [np.array([[[0.1, 0.7, 0.2]], [[0.5, 0.2, 0.3]]], np.float32)]
    got = [np.array([[[0.1, 0.6, 0.3]], [[0.2, 0.5, 0.3]]], np.float32)]
    err, cos, top1 = float_agreement(got, want)
    assert err == pytest.approx(0.3) and 0.8 < cos < 1 and top1 == 0.5
    assert float_agreement(got, want, classifier=False)[2] is None
    s = read_samples(np.zeros((5, 48)), [("x", (1, 48))])
    assert s["x"].shape == (5, 1, 48)
    assert read_samples(np.zeros((1, 48)), [("x", (1, 48))])["x"].shape == (1, 1, 48)
    from tinyc.errors import InputError

    with pytest.raises(InputError, match="does not hold samples"):
        read_samples(np.zeros((5, 47)), [("x", (1, 48))])
