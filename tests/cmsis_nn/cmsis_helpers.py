"""Shared pieces of the CMSIS-NN backend tests: compiling hand-built graphs, toolchain markers, the oracle check."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cmsis_graphs import reference

from tinyc.api import Model
from tinyc.driver import Artifacts, CompileOptions, compile_model
from tinyc.ir.core import Graph

ARM_GCC = shutil.which("arm-none-eabi-gcc")
QEMU = shutil.which("qemu-system-arm")
GCC = shutil.which("gcc")

needs_gcc = pytest.mark.skipif(GCC is None, reason="gcc not installed")
needs_qemu = [
    pytest.mark.qemu,
    pytest.mark.skipif(ARM_GCC is None, reason="arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"),
    pytest.mark.skipif(QEMU is None, reason="qemu-system-arm not installed (apt-get install qemu-system-arm)"),
]


def compile_graph(graph: Graph, out: Path, name: str, target: str = "stm32h7") -> Artifacts:
    return compile_model(Model(graph, f"{name}.onnx", name), output_dir=out, options=CompileOptions(target=target))


def samples(info: object, n: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Random int8 and float inputs for every input of a build."""
    rng = np.random.default_rng(seed)
    ports = info.inputs  # type: ignore[attr-defined]
    xs = [rng.integers(-128, 128, size=(n, *p["shape"])).astype(np.int8) for p in ports]
    fxs = [(rng.normal(size=(n, *p["shape"])) * 2).astype(np.float32) for p in ports]
    return xs, fxs


def check_against_oracle(graph_factory: Callable[[], Graph], res: object, xs: list[np.ndarray], fxs: list[np.ndarray]) -> None:
    """The C results (int8 and float paths) equal the NumPy oracle exactly."""
    g = graph_factory()
    names = [v.name for v in g.inputs]
    for k in range(xs[0].shape[0]):
        want = reference(g, {n: x[k] for n, x in zip(names, xs)}, int8_io=True)
        for o, w in enumerate(want.values()):
            np.testing.assert_array_equal(res.outputs[o][k], w, err_msg=f"int8 sample {k}, output {o}")  # type: ignore[attr-defined]
        want = reference(g, {n: x[k] for n, x in zip(names, fxs)})
        for o, w in enumerate(want.values()):
            np.testing.assert_array_equal(res.float_outputs[o][k], w, err_msg=f"float sample {k}, output {o}")  # type: ignore[attr-defined]
