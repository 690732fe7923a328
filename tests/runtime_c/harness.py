"""Test helper: build the runtime_c test harness and drive it with batches of kernel calls.

``Batch`` encodes calls in the binary format ``harness.c`` reads; ``run``
executes one harness process for the whole batch and decodes the results.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "runtime_c"
HARNESS_SRC = Path(__file__).resolve().parent / "harness.c"

OPS = {
    "conv": 1,
    "dwconv": 2,
    "fc": 3,
    "avgpool": 4,
    "maxpool": 5,
    "softmax": 6,
    "add": 7,
    "mul": 8,
    "relu6": 9,
    "relu": 10,
    "vector_sum": 11,
    "requantize": 12,
}

HOST_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1"]


def runtime_sources() -> list[Path]:
    return sorted((RUNTIME / "src").glob("*.c"))


def build_host_harness(out_dir: Path, extra_flags: list[str] | None = None) -> Path:
    """Compile harness.c with all of runtime_c using the host gcc and sanitizers."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise FileNotFoundError("gcc")
    exe = out_dir / "harness"
    cmd = [gcc, *HOST_FLAGS, *(extra_flags or []), f"-I{RUNTIME / 'include'}", *map(str, runtime_sources()), str(HARNESS_SRC), "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"harness build failed:\n{' '.join(cmd)}\n{proc.stderr}")
    return exe


@dataclass
class Batch:
    """Kernel calls to send to the harness in one run."""

    chunks: list[bytes] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    def add(self, op: str, ints: list[int], arrays: list[np.ndarray]) -> int:
        parts = [struct.pack("<ii", OPS[op], len(ints)), struct.pack(f"<{len(ints)}i", *[int(v) for v in ints]), struct.pack("<i", len(arrays))]
        for a in arrays:
            a = np.ascontiguousarray(a)
            if a.dtype == np.int8:
                parts.append(struct.pack("<ii", 0, a.size))
            elif a.dtype == np.int32:
                parts.append(struct.pack("<ii", 1, a.size))
                a = a.astype("<i4")
            else:
                raise TypeError(f"harness arrays are int8 or int32, got {a.dtype}")
            parts.append(a.tobytes())
        self.chunks.append(b"".join(parts))
        self.kinds.append(op)
        return len(self.chunks) - 1

    def encode(self) -> bytes:
        return b"".join(self.chunks)


def decode(data: bytes, kinds: list[str]) -> list[tuple[int, np.ndarray]]:
    results = []
    pos = 0
    for kind in kinds:
        status, n = struct.unpack_from("<ii", data, pos)
        pos += 8
        raw = data[pos : pos + n]
        pos += n
        dtype = np.dtype("<i4") if kind in ("vector_sum", "requantize") else np.int8
        results.append((status, np.frombuffer(raw, dtype=dtype).copy()))
    if pos != len(data):
        raise ValueError("trailing harness output")
    return results


def run(cmd_prefix: list[str], batch: Batch, work: Path, timeout: float = 120) -> list[tuple[int, np.ndarray]]:
    """Run the harness (``cmd_prefix`` + in/out paths) on ``batch``; returns (status, output) per call."""
    work.mkdir(parents=True, exist_ok=True)
    inp = work / "calls.bin"
    out = work / "results.bin"
    inp.write_bytes(batch.encode())
    if out.exists():
        out.unlink()
    proc = subprocess.run([*cmd_prefix, str(inp), str(out)], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"harness failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return decode(out.read_bytes(), batch.kinds)
