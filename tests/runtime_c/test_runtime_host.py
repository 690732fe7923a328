"""runtime_c built with the host gcc (C99, -Wall -Wextra -Werror, ASan + UBSan) against tinyc.quant.kernels.

The harness is compiled once per session; each test sends one batch of random
calls (fixed seeds) and requires bit-exact outputs and ARM_CMSIS_NN_SUCCESS.
"""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
from cases import ALL_GENERATORS
from harness import Batch, build_host_harness, run

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="host gcc not found")

COUNTS = {"conv": 250, "dwconv": 250, "fc": 150, "pool": 200, "softmax": 120, "eltwise": 120, "activation": 20, "vector_sum": 30, "requantize": 5000}


@pytest.fixture(scope="session")
def host_harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_host_harness(tmp_path_factory.mktemp("harness"))


@pytest.mark.parametrize("family", sorted(ALL_GENERATORS))
def test_kernels_bit_exact_with_reference(family: str, host_harness: Path, tmp_path: Path) -> None:
    batch = Batch()
    expected = []
    for op, ints, arrays, want in ALL_GENERATORS[family](seed=zlib.crc32(family.encode()) % 10_000, count=COUNTS[family]):
        batch.add(op, ints, arrays)
        expected.append((op, ints, want))
    results = run([str(host_harness)], batch, tmp_path)
    assert len(results) == len(expected)
    for i, ((status, got), (op, ints, want)) in enumerate(zip(results, expected, strict=True)):
        assert status == 0, f"case {i} ({op} {ints}) returned status {status}"
        np.testing.assert_array_equal(got, want.reshape(-1), err_msg=f"case {i}: {op} {ints}")


def test_argument_errors_are_reported(host_harness: Path, tmp_path: Path) -> None:
    """Grouped conv whose filter depth does not divide the input channels, and an all-padding pool window."""
    rng = np.random.default_rng(3)
    batch = Batch()
    x = rng.integers(-128, 128, size=(1, 4, 4, 5)).astype(np.int8)
    w = rng.integers(-127, 128, size=(4, 3, 3, 2)).astype(np.int8)  # 5 % 2 != 0
    mult = np.full(4, 2**30, np.int32)
    shift = np.full(4, -3, np.int32)
    bias = np.zeros(4, np.int32)
    batch.add("conv", [1, 4, 4, 5, 4, 3, 3, 2, 1, 1, 1, 1, 1, 1, 0, 0, -128, 127, 4, 4, 1, 0, 1, 1], [x, w, bias, mult, shift])
    xp = rng.integers(-128, 128, size=(1, 2, 2, 1)).astype(np.int8)
    batch.add("avgpool", [1, 2, 2, 1, 2, 2, 1, 1, 0, 0, 4, 4, -128, 127], [xp])  # output rows past the input
    results = run([str(host_harness)], batch, tmp_path)
    assert [status for status, _ in results] == [-1, -1]


@pytest.mark.parametrize("family", ["conv", "dwconv", "fc"])
def test_kws_like_shapes(family: str, host_harness: Path, tmp_path: Path) -> None:
    """The DS-CNN shapes (25x5x64, 3x3 depthwise, 1x1 conv, 64->12 FC) run bit-exact too."""
    from tinyc.quant import arith, kernels

    rng = np.random.default_rng(11)
    batch = Batch()
    mult, shift = arith.quantize_multipliers(rng.uniform(0.001, 0.02, size=64))
    x = rng.integers(-128, 128, size=(1, 25, 5, 64)).astype(np.int8)
    bias = rng.integers(-5000, 5000, size=64).astype(np.int32)
    if family == "conv":
        w = rng.integers(-127, 128, size=(64, 1, 1, 64)).astype(np.int8)
        want = kernels.conv2d(x, w, bias, input_offset=128, output_offset=-128, multiplier=mult, shift=shift, act_min=-128, act_max=127)
        batch.add("conv", [1, 25, 5, 64, 64, 1, 1, 64, 1, 1, 0, 0, 1, 1, 128, -128, -128, 127, 25, 5, 1, 1, 1, 1], [x, w, bias, mult, shift])
    elif family == "dwconv":
        w = rng.integers(-127, 128, size=(1, 3, 3, 64)).astype(np.int8)
        want = kernels.depthwise_conv2d(x, w, bias, input_offset=128, output_offset=-128, multiplier=mult, shift=shift, padding=(1, 1), act_min=-128, act_max=127)
        batch.add("dwconv", [1, 25, 5, 64, 1, 3, 3, 1, 1, 1, 1, 1, 1, 128, -128, -128, 127, 25, 5, 1], [x, w, bias, mult, shift])
    else:
        xf = x[:, 0, 0, :].copy()
        w = rng.integers(-127, 128, size=(12, 64)).astype(np.int8)
        want = kernels.fully_connected(xf, w, bias[:12], input_offset=128, output_offset=14, multiplier=int(mult[0]), shift=int(shift[0]))
        batch.add("fc", [1, 64, 12, 128, 0, 14, -128, 127, 0, 1], [xf, w, bias[:12], mult[:1], shift[:1]])
    (status, got), = run([str(host_harness)], batch, tmp_path)
    assert status == 0
    np.testing.assert_array_equal(got, want.reshape(-1))
