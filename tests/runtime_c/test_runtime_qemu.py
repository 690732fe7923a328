"""runtime_c's DSP-extension path on an emulated Cortex-M7 (QEMU mps2-an500), bit-exact with tinyc.quant.kernels.

The same harness as the host test is cross-compiled with the SMLAD / SXTAB16
dot products, linked with the mps2-an500 start-up from runtime_c/platform and
semihosting I/O, and run once for all the random calls.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cases import ALL_GENERATORS
from harness import HARNESS_SRC, RUNTIME, Batch, run, runtime_sources

from tinyc.backends import qemu

ARM_GCC = shutil.which("arm-none-eabi-gcc")
QEMU = shutil.which("qemu-system-arm")
PLATFORM = RUNTIME / "platform" / "mps2_an500"

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(ARM_GCC is None, reason="arm-none-eabi-gcc not installed"),
    pytest.mark.skipif(QEMU is None, reason="qemu-system-arm not installed"),
]

COUNTS = {"conv": 120, "dwconv": 120, "fc": 80, "pool": 60, "softmax": 60, "eltwise": 60, "activation": 10, "vector_sum": 20, "requantize": 2000}


@pytest.fixture(scope="session")
def m7_harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("m7") / "harness.elf"
    cmd = [
        ARM_GCC,
        *qemu.C_FLAGS,
        *qemu.M7_FLAGS,
        "-O2",
        f"-I{RUNTIME / 'include'}",
        *map(str, runtime_sources()),
        str(HARNESS_SRC),
        str(PLATFORM / "startup.c"),
        "-T",
        str(PLATFORM / "mps2_an500.ld"),
        "-nostartfiles",
        "--specs=rdimon.specs",
        "-o",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"cross build failed:\n{proc.stderr}")
    return out


def test_dsp_kernels_bit_exact_on_cortex_m7(m7_harness: Path, tmp_path: Path) -> None:
    batch = Batch()
    expected = []
    for seed, (family, gen) in enumerate(sorted(ALL_GENERATORS.items())):
        for op, ints, arrays, want in gen(seed=900 + seed, count=COUNTS[family]):
            batch.add(op, ints, arrays)
            expected.append((op, ints, want))
    # Without arguments the harness reads calls.bin / writes results.bin in QEMU's working directory.
    qemu = [
        "timeout",
        "300",
        QEMU,
        "-M",
        "mps2-an500",
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        str(m7_harness),
    ]
    results = _run_in(tmp_path, qemu, batch)
    for i, ((status, got), (op, ints, want)) in enumerate(zip(results, expected, strict=True)):
        assert status == 0, f"case {i} ({op} {ints}) returned status {status}"
        np.testing.assert_array_equal(got, want.reshape(-1), err_msg=f"case {i}: {op} {ints}")


def _run_in(work: Path, qemu: list[str], batch: Batch) -> list[tuple[int, np.ndarray]]:
    """run() appends the calls / results paths (both in ``work``); the guest takes no arguments,
    so a small script starts QEMU inside ``work`` instead."""
    script = work / "run_qemu.sh"
    script.write_text('#!/bin/sh\ncd "$(dirname "$1")" && exec ' + " ".join(f"'{a}'" for a in qemu) + "\n")
    script.chmod(0o755)
    return run([str(script)], batch, work, timeout=330)
