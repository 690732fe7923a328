"""The magnet locator compiled with --quantize int16x8: bit-exact C on the host and on QEMU, closer to float than int8.

The example model (examples/magnet_locator, trained briefly here) is a
48-50-50-3 MLP regressing a position in mm; int16 activations keep its
output resolution. ``tinyc validate --quantize int16x8`` must find the C
bit-exact with tinyc's integer reference, and the int16x8 build must track
the float model more closely than the int8 one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cmsis_helpers import needs_gcc, needs_qemu

from tinyc.validate import run_on_target, validate

REPO = Path(__file__).resolve().parents[2]
pytestmark = needs_gcc


@pytest.fixture(scope="module")
def magnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    sys.path.insert(0, str(REPO))
    from examples.magnet_locator import train

    out = tmp_path_factory.mktemp("magnet_s16")
    return train.build_model(out, epochs=10, seed=0, n_train=4000, n_eval=48, n_calib=64)


def _mean_error_mm(build: Path, magnet: Path, on: str) -> float:
    with np.load(magnet.parent / "eval.npz") as data:
        xs, true = data["magnetometers"], data["position"]
    pred, _ = run_on_target(build, xs, on=on)
    return float(np.mean(np.linalg.norm(pred.reshape(true.shape) - true, axis=1)))


def test_cli_validate_int16x8_on_host_with_sanitizers(magnet: Path, tmp_path: Path) -> None:
    art = magnet.parent
    cmd = [
        sys.executable, "-m", "tinyc.cli", "validate", str(magnet), "--target", "stm32h7", "--quantize", "int16x8",
        "--calib", str(art / "calib.npz"), "--input", str(art / "eval.npz"), "--on", "host", "--sanitize", "--json", "-o", str(tmp_path / "b"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["ok"] and rep["quantize"] == "int16x8" and rep["samples"] == 48 and rep["int8_mismatches"] == 0
    assert rep["cosine"] > 0.999
    build = json.loads((tmp_path / "b" / "report.json").read_text())
    assert [p["dtype"] for p in (*build["inputs"], *build["outputs"])] == ["i16", "i16"]
    assert {layer["kernel"] for layer in build["layers"]} == {"arm_fully_connected_per_channel_s16"}
    header = (tmp_path / "b" / "magnet_locator.h").read_text()
    assert "magnet_locator_run(const int16_t *in0, int16_t *out0);" in header


@pytest.mark.parametrize("on", [pytest.param("qemu", marks=needs_qemu)])
def test_int16x8_on_qemu_is_bit_exact_and_closer_to_float_than_int8(magnet: Path, on: str, tmp_path: Path) -> None:
    art = magnet.parent
    reports, errors = {}, {}
    for scheme in ("int8", "int16x8"):
        build = tmp_path / scheme
        rep = validate(magnet, target="stm32h7", on=on, inputs=art / "eval.npz", calib=art / "calib.npz", quantize=scheme, output_dir=build)
        assert rep.ok, rep.text()
        assert rep.instructions and rep.instructions > 0
        reports[scheme], errors[scheme] = rep, _mean_error_mm(build, magnet, on)
    q16, q8 = reports["int16x8"], reports["int8"]
    assert q16.max_abs_error is not None and q8.max_abs_error is not None
    assert q16.max_abs_error < q8.max_abs_error  # mm: int16 activations track the float model more closely
    assert errors["int16x8"] <= errors["int8"] + 0.05
    assert q16.ram_bytes > q8.ram_bytes  # int16 activations take twice the bytes
