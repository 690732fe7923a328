"""The firmware-style example projects build (Make and CMake, host and Cortex-M7) and print sensible positions."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cmsis_helpers import ARM_GCC, QEMU, needs_gcc

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
pytestmark = needs_gcc
M7 = pytest.mark.skipif(ARM_GCC is None or QEMU is None, reason="arm-none-eabi-gcc / qemu-system-arm not installed")


@pytest.fixture(scope="module")
def magnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    sys.path.insert(0, str(REPO))
    from examples.magnet_locator import train

    out = tmp_path_factory.mktemp("magnet_example")
    return train.build_model(out, epochs=10, seed=0, n_train=4000, n_eval=16, n_calib=64)


def _positions(stdout: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [list(map(float, m.groups())) for m in re.finditer(r"predicted\s+(\S+)\s+(\S+)\s+(\S+)\s+true\s+(\S+)\s+(\S+)\s+(\S+)", stdout)]
    arr = np.array(rows)
    assert arr.shape == (5, 6), stdout
    return arr[:, :3], arr[:, 3:]


def _check(stdout: str) -> None:
    pred, true = _positions(stdout)
    assert np.median(np.linalg.norm(pred - true, axis=1)) < 8.0, stdout  # mm; a small, briefly trained model


def _run(cmd: list[str], cwd: Path | None = None, timeout: int = 300) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _make_vars(magnet: Path, build: Path) -> list[str]:
    art = magnet.parent
    return [f"BUILD={build}", f"MODEL={magnet}", f"CALIB={art / 'calib.npz'}", f"EVAL={art / 'eval.npz'}", f"PYTHON={sys.executable}"]


@pytest.mark.parametrize("flavor", ["host", pytest.param("m7", marks=[pytest.mark.qemu, M7])])
def test_make_project(flavor: str, magnet: Path, tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    args = ["make", "-s", "-C", str(EXAMPLES / "make_project"), f"FLAVOR={flavor}", *_make_vars(magnet, tmp_path / "b")]
    _run(args)
    _check(_run([*args, "run"]))
    # nothing to redo on a second make: the model is compiled at build time only when it changes
    again = subprocess.run([*args, "-q"], capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.mark.parametrize("flavor", ["host", pytest.param("m7", marks=[pytest.mark.qemu, M7])])
def test_cmake_project(flavor: str, magnet: Path, tmp_path: Path) -> None:
    if shutil.which("cmake") is None:
        pytest.skip("cmake not installed")
    art = magnet.parent
    build = tmp_path / "b"
    conf = ["cmake", "-S", str(EXAMPLES / "cmake_project"), "-B", str(build), f"-DMODEL={magnet}", f"-DCALIB={art / 'calib.npz'}", f"-DEVAL={art / 'eval.npz'}", f"-DPython3_EXECUTABLE={sys.executable}"]
    if flavor == "m7":
        conf.append(f"-DCMAKE_TOOLCHAIN_FILE={EXAMPLES / 'cmake_project' / 'cmake' / 'arm-none-eabi.cmake'}")
    _run(conf)
    _run(["cmake", "--build", str(build)])
    _check(_run(["cmake", "--build", str(build), "--target", "run"]))
