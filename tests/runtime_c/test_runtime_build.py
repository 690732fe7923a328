"""runtime_c builds: Cortex-M7 cross-compilation (DSP and plain paths), the Make fragment, CMake, and the
TINYC_CMSIS_NN_DIR switch to a CMSIS-NN checkout."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from harness import RUNTIME, runtime_sources

from tinyc.backends import qemu

ARM_GCC = shutil.which("arm-none-eabi-gcc")
M7_FLAGS = [*qemu.C_FLAGS, *qemu.M7_FLAGS, "-O2"]
needs_arm_gcc = pytest.mark.skipif(ARM_GCC is None, reason="arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi)")


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    return proc


@needs_arm_gcc
@pytest.mark.parametrize("extra", [[], ["-DTINYC_NO_DSP"], ["-Os", "-Wpedantic"]], ids=["dsp", "plain", "pedantic-Os"])
def test_cross_compiles_for_cortex_m7(extra: list[str], tmp_path: Path) -> None:
    for src in runtime_sources():
        _run([ARM_GCC, *M7_FLAGS, *extra, f"-I{RUNTIME / 'include'}", "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))])


@needs_arm_gcc
def test_dsp_path_uses_dual_mac_instructions() -> None:
    """On the M7 the conv / FC dot products compile to SMLAD, the depthwise ones to SMLABB/SMLATT."""

    def asm(src: str, *extra: str) -> str:
        return _run([ARM_GCC, *M7_FLAGS, *extra, f"-I{RUNTIME / 'include'}", "-S", str(RUNTIME / "src" / src), "-o", "-"]).stdout

    for src in ("arm_convolve_s8.c", "arm_fully_connected_s8.c"):
        assert "smlad" in asm(src) and "sxtab16" in asm(src), src
        assert "smlad" not in asm(src, "-DTINYC_NO_DSP"), src
    assert "smlabb" in asm("arm_depthwise_conv_s8.c")
    cm0 = _run([ARM_GCC, "-std=c99", "-mcpu=cortex-m0", "-mthumb", "-O2", f"-I{RUNTIME / 'include'}", "-S", str(RUNTIME / "src" / "arm_convolve_s8.c"), "-o", "-"])
    assert "smlad" not in cm0.stdout  # no DSP extension: the plain C path


def _fake_cmsis(root: Path) -> Path:
    """A stand-in checkout with the CMSIS-NN layout (the real library is not redistributable here)."""
    (root / "Include").mkdir(parents=True)
    (root / "Source" / "ConvolutionFunctions").mkdir(parents=True)
    (root / "Include" / "arm_nnfunctions.h").write_text("int fake_cmsis_kernel(void);\n")
    (root / "Source" / "ConvolutionFunctions" / "fake_kernel.c").write_text('#include "arm_nnfunctions.h"\nint fake_cmsis_kernel(void) { return 7; }\n')
    return root


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("gcc") is None, reason="make or gcc not found")
def test_make_fragment_builds_library_and_switches_to_cmsis_nn(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text(f"include {RUNTIME / 'tinyc_runtime.mk'}\nall: $(TINYC_RUNTIME_LIB)\n")
    _run(["make", "-s", "CC=gcc", "AR=ar", "CFLAGS=-Wall -Wextra -Werror -O2"], cwd=tmp_path)
    lib = tmp_path / "build" / "tinyc_runtime" / "libtinyc_runtime.a"
    symbols = _run(["nm", str(lib)]).stdout
    for name in ("arm_convolve_wrapper_s8", "arm_depthwise_conv_wrapper_s8", "arm_fully_connected_s8", "arm_avgpool_s8", "arm_softmax_s8", "arm_elementwise_add_s8"):
        assert f"T {name}" in symbols, name

    cmsis = _fake_cmsis(tmp_path / "CMSIS-NN")
    info = _run(["make", "-s", "tinyc-runtime-info", f"TINYC_CMSIS_NN_DIR={cmsis}"], cwd=tmp_path).stdout
    assert "backend: cmsis-nn" in info and str(cmsis / "Include") in info and "fake_kernel.c" in info
    assert str(RUNTIME / "src" / "arm_") not in info  # CMSIS-NN's kernels replace tinyc's ...
    assert str(RUNTIME / "src" / "tinyc_mean_s8.c") in info  # ... and tinyc's extras (ops CMSIS-NN lacks) join them
    _run(["make", "-s", "CC=gcc", "AR=ar", f"TINYC_CMSIS_NN_DIR={cmsis}", "TINYC_RUNTIME_BUILD_DIR=build/cmsis"], cwd=tmp_path)
    symbols = _run(["nm", str(tmp_path / "build" / "cmsis" / "libtinyc_runtime.a")]).stdout
    assert "T fake_cmsis_kernel" in symbols and "T tinyc_logistic_s8" in symbols and "T arm_convolve_wrapper_s8" not in symbols

    bad = subprocess.run(["make", "-s", f"TINYC_CMSIS_NN_DIR={tmp_path / 'missing'}"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode != 0 and "point it at the root of a CMSIS-NN checkout" in bad.stderr


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("gcc") is None, reason="cmake or gcc not found")
def test_cmake_target_and_cmsis_nn_switch(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.c").write_text(
        '#include "arm_nnfunctions.h"\nint main(void) { int8_t v[3] = {-5, 3, 9}; arm_relu6_s8(v, 3); return v[0] + v[1] + v[2] == 9 ? 0 : 1; }\n'
    )
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(app C)\n"
        f'add_subdirectory("{RUNTIME}" tinyc_runtime)\n'
        "add_executable(app main.c)\ntarget_link_libraries(app PRIVATE tinyc_runtime)\n"
    )
    build = tmp_path / "build"
    _run(["cmake", "-S", str(app), "-B", str(build), "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror"])
    _run(["cmake", "--build", str(build)])
    _run([str(build / "app")])

    cmsis = _fake_cmsis(tmp_path / "CMSIS-NN")
    out = _run(["cmake", "-S", str(RUNTIME), "-B", str(tmp_path / "b2"), f"-DTINYC_CMSIS_NN_DIR={cmsis}"]).stdout
    assert "tinyc_runtime: cmsis-nn kernels" in out
    _run(["cmake", "--build", str(tmp_path / "b2")])
    lib = next((tmp_path / "b2").glob("libtinyc_runtime.a"))
    symbols = _run(["nm", str(lib)]).stdout
    assert "T fake_cmsis_kernel" in symbols and "T tinyc_mean_s8" in symbols and "T arm_convolve_wrapper_s8" not in symbols
    bad = subprocess.run(["cmake", "-S", str(RUNTIME), "-B", str(tmp_path / "b3"), f"-DTINYC_CMSIS_NN_DIR={tmp_path / 'missing'}"], capture_output=True, text=True)
    assert bad.returncode != 0 and "point it at the root of a CMSIS-NN checkout" in bad.stderr


def test_board_linker_script_is_the_one_tinyc_writes() -> None:
    """platform/mps2_an500/mps2_an500.ld is tinyc.backends.qemu's writer on the plain board (regenerate it from there)."""
    shipped = (RUNTIME / "platform" / "mps2_an500" / "mps2_an500.ld").read_text()
    assert shipped == qemu.board_linker_script()
