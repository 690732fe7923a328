"""What the backend writes: files, determinism, names, report figures, build glue (Make, CMake)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cmsis_graphs import cnn, mlp
from cmsis_helpers import needs_gcc

from tinyc.backends.cmsis_nn.emitter import Emitter, Names, c_array_body, c_float, c_ident, comment_text

EXPECTED_FILES = {"mlp.h", "mlp.c", "mlp_weights.c", "mlp_data.h", "mlp.mk", "CMakeLists.txt", "mlp_sections.ld", "report.md", "report.json"}


# -- the emitter ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [("conv1", "conv1"), ("StatefulPartitionedCall:0", "StatefulPartitionedCall_0"), ("1x", "v_1x"), ("int", "int_"), ("a//b..c", "a_b_c"), ("", "v"), ("__x__", "x")],
)
def test_c_ident(text: str, want: str) -> None:
    assert c_ident(text) == want


def test_names_are_unique_and_stable() -> None:
    n = Names(reserved=["m_init"])
    a = n.ident("k1", "a.b", prefix="m_")
    b = n.ident("k2", "a/b", prefix="m_")
    assert (a, b) == ("m_a_b", "m_a_b_2")
    assert n.ident("k1", "whatever", prefix="m_") == a
    assert n.ident("k3", "init", prefix="m_") == "m_init_2"


@pytest.mark.parametrize("x", [0.1, 1.0, 1e-8, 3.4e38, 0.0039215689, 7.0, 1 / 3])
def test_c_float_reads_back_exactly(x: float) -> None:
    text = c_float(x)
    assert text.endswith("f")
    assert np.float32(float(text[:-1])) == np.float32(x)


def test_c_array_body_and_int32_min() -> None:
    rows = c_array_body(np.array([1, -2, 3], np.int8), per_line=2)
    assert rows == ["     1, -2,", "     3"]
    assert "(-2147483647 - 1)" in c_array_body(np.array([-(2**31)], np.int32))[0]


def test_comments_cannot_be_closed_by_model_text() -> None:
    e = Emitter()
    e.comment("node a*/b /* c")
    assert str(e) == "/* node a* /b / * c */\n"
    assert comment_text("x */ y\n z") == "x * / y z"


# -- generated files ---------------------------------------------------------------------------------


def test_files_and_byte_identical_recompile(compiled, tmp_path: Path) -> None:
    a = compiled(mlp(), "mlp").output_dir
    b = compiled(mlp(), "mlp2").output_dir
    names = {p.name for p in a.iterdir() if not p.name.startswith(".")}
    assert names == EXPECTED_FILES
    # same model under another output folder: only the folder differs, so every file is byte-identical
    c = tmp_path / "again"
    from cmsis_helpers import compile_graph

    compile_graph(mlp(), c, "mlp")
    for name in names:
        assert (a / name).read_bytes() == (c / name).read_bytes(), name
    assert (b / "mlp2.c").exists()


def test_generated_c_reads_like_the_graph(compiled) -> None:
    out = compiled(cnn(), "cnn").output_dir
    src = (out / "cnn.c").read_text()
    # one call per layer, each with a comment naming the node and its source location
    for kernel in ("arm_convolve_wrapper_s8", "arm_depthwise_conv_wrapper_s8", "arm_elementwise_add_s8", "arm_elementwise_mul_s8", "arm_max_pool_s8", "arm_avgpool_s8", "arm_fully_connected_per_channel_s8", "arm_softmax_s8"):
        assert f"= {kernel}(" in src or f"{kernel}(" in src, kernel
    for node in ("conv1", "dw1", "pw1", "res1", "dw2", "conv2", "sq", "maxpool", "avgpool", "flatten", "classifier", "softmax"):
        assert f" {node}  <- cnn.onnx: model.onnx:{node}\n" in src, node
    assert "malloc" not in src and "stdio" not in src and "printf" not in src
    weights = (out / "cnn_weights.c").read_text()
    assert 'TINYC_SECTION(".rodata")' in weights and 'TINYC_SECTION(".dtcm_bss")' in weights
    assert "static" not in (out / "cnn.h").read_text().split("API")[-1]


def test_report_figures_match_the_code(compiled) -> None:
    out = compiled(cnn(), "cnn").output_dir
    rep = json.loads((out / "report.json").read_text())
    assert rep["schema"] == "tinyc.cmsis-nn-report/1"
    t = rep["totals"]
    weights_c = (out / "cnn_weights.c").read_text()
    arenas = [int(line.split("[")[1].split("]")[0]) for line in weights_c.splitlines() if line.startswith("int8_t cnn_arena_")]
    assert t["arena_bytes"] == sum(arenas) == t["ram_bytes"]
    assert t["macs"] == sum(layer["macs"] for layer in rep["layers"]) > 0
    assert t["scratch_max_bytes"] == max(layer["scratch_bytes"] for layer in rep["layers"])
    assert t["scratch_max_bytes"] > 0  # conv1's im2col columns are planned for Arm's DSP kernels
    header = (out / "cnn.h").read_text()
    assert f"#define CNN_ARENA_BYTES {t['arena_bytes']} " in header
    assert f"#define CNN_MACS {t['macs']}" in header
    assert set(rep["sections"]) == {".rodata", ".dtcm_bss"}
    md = (out / "report.md").read_text()
    assert "| DTCM |" in md and f"{t['macs']:,}" in md


def test_linker_snippet_places_each_region_section(compiled) -> None:
    out = compiled(cnn(), "cnn").output_dir
    ld = (out / "cnn_sections.ld").read_text()
    assert ".dtcm_bss (NOLOAD) : ALIGN(16) { KEEP(*(.dtcm_bss)) KEEP(*(.dtcm_bss.*)) } > DTCM" in ld
    assert "DTCM       (rwx) : ORIGIN = 0x20000000, LENGTH = 0x20000" in ld


# -- build glue --------------------------------------------------------------------------------------

MAIN_C = """
#include <stdio.h>
#include "mlp.h"
int main(void)
{
    static float x[MLP_IN0_SIZE], y[MLP_OUT0_SIZE];
    for (int i = 0; i < MLP_IN0_SIZE; ++i) x[i] = (float)i / 10.0f;
    if (mlp_init() != MLP_OK || mlp_run_float(x, y) != MLP_OK) return 1;
    printf("%.6f %.6f %.6f\\n", (double)y[0], (double)y[1], (double)y[2]);
    return 0;
}
"""


@needs_gcc
def test_makefile_fragment_builds_an_app(compiled, tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    out = compiled(mlp(), "mlp").output_dir
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.c").write_text(MAIN_C)
    (app / "Makefile").write_text(
        f"CC = gcc\nCFLAGS = -O2 -Wall -Wextra -Werror\ninclude {out}/mlp.mk\n"
        "app: main.c $(MLP_OBJS)\n\t$(CC) -std=c99 $(CFLAGS) $(MLP_CFLAGS) main.c $(MLP_OBJS) -o $@\n"
    )
    proc = subprocess.run(["make", "-s", "app"], cwd=app, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    run = subprocess.run([str(app / "app")], capture_output=True, text=True)
    assert run.returncode == 0 and len(run.stdout.split()) == 3


@needs_gcc
def test_cmake_library_target_builds_an_app(compiled, tmp_path: Path) -> None:
    if shutil.which("cmake") is None:
        pytest.skip("cmake not installed")
    out = compiled(mlp(), "mlp").output_dir
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.c").write_text(MAIN_C)
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(app C)\n"
        f'add_subdirectory("{out}" mlp)\nadd_executable(app main.c)\ntarget_link_libraries(app PRIVATE mlp)\n'
        "target_compile_options(app PRIVATE -Wall -Wextra -Werror)\n"
    )
    build = tmp_path / "b"
    for cmd in (["cmake", "-S", str(app), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"], ["cmake", "--build", str(build)]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    run = subprocess.run([str(build / "app")], capture_output=True, text=True)
    assert run.returncode == 0 and len(run.stdout.split()) == 3


@needs_gcc
def test_makefile_fragment_swaps_in_another_cmsis_nn(compiled, tmp_path: Path) -> None:
    """TINYC_CMSIS_NN_DIR points the build at a CMSIS-NN checkout's layout (Source/*/*.c, Include/).

    Arm's library is not shipped here, so the stand-in checkout holds tinyc's own kernels
    in that layout; what is checked is that the generated fragment builds from it alone."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    from tinyc.backends.cmsis_nn.glue import runtime_dir

    fake = tmp_path / "CMSIS-NN"
    (fake / "Source" / "All").mkdir(parents=True)
    for f in (runtime_dir() / "src").iterdir():
        shutil.copy(f, fake / "Source" / "All" / f.name)
    shutil.copytree(runtime_dir() / "include", fake / "Include")
    out = compiled(mlp(), "mlp").output_dir
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.c").write_text(MAIN_C)
    (app / "Makefile").write_text(
        f"CC = gcc\nCFLAGS = -O2 -Wall -Wextra -Werror -I{fake / 'Source' / 'All'}\ninclude {out}/mlp.mk\n"
        "app: main.c $(MLP_OBJS)\n\t$(CC) -std=c99 $(CFLAGS) $(MLP_CFLAGS) main.c $(MLP_OBJS) -o $@\n"
        "info: tinyc-runtime-info\n"
    )
    info = subprocess.run(["make", "-s", "info", f"TINYC_CMSIS_NN_DIR={fake}"], cwd=app, capture_output=True, text=True)
    assert "backend: cmsis-nn" in info.stdout and str(fake) in info.stdout, info.stdout + info.stderr
    proc = subprocess.run(["make", "-s", "app", f"TINYC_CMSIS_NN_DIR={fake}"], cwd=app, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert str(runtime_dir() / "src") not in proc.stdout
    run = subprocess.run([str(app / "app")], capture_output=True, text=True)
    assert run.returncode == 0 and len(run.stdout.split()) == 3
