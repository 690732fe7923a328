"""Group-wise int8 quantization (Q8_0-style) of weights and activations.

A matrix ``[rows, cols]`` is split, row by row, into groups of ``group_size``
consecutive columns (the last group of a row may be shorter when
``group_size`` does not divide ``cols``); each group has one float32 scale
``max|w| / 127`` and int8 values in [-127, 127]. Activations feeding an int8
matmul are quantized the same way, per group along the reduction axis, at run
time. :func:`quantize_activation` and :func:`matmul_q8` follow the generated
C's float32 operation order exactly, so NumPy and C agree bit for bit on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROW = 0  # group_size value meaning "one group per row"


def resolve_group_size(group_size: int | None, cols: int) -> int:
    """The effective group size for a reduction length: 0/None or >= cols means per row."""
    if group_size is None or group_size <= 0 or group_size >= cols:
        return cols
    return int(group_size)


def n_groups(cols: int, group_size: int) -> int:
    return -(-cols // group_size)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """C ``roundf``: halves away from zero (NumPy's ``round`` goes to even)."""
    x64 = np.asarray(x, dtype=np.float64)  # float32 + 0.5 is exact in float64
    return np.trunc(x64 + np.copysign(0.5, x64))


@dataclass(frozen=True)
class GroupQuantized:
    """An int8 matrix with one float32 scale per (row, group of columns)."""

    q: np.ndarray  # int8 [rows, cols]
    scales: np.ndarray  # float32 [rows, n_groups]
    group_size: int

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.q.shape[0]), int(self.q.shape[1]))

    @property
    def nbytes(self) -> int:
        return int(self.q.nbytes + self.scales.nbytes)

    def dequantize(self) -> np.ndarray:
        """float32 ``q * scale`` (each scale repeated over its group)."""
        rows, cols = self.shape
        s = np.repeat(self.scales, self.group_size, axis=1)[:, :cols]
        return (self.q.astype(np.float32) * s).astype(np.float32)

    def row(self, i: int) -> np.ndarray:
        """One dequantized row (what the C does for a token's embedding)."""
        cols = self.shape[1]
        s = np.repeat(self.scales[i], self.group_size)[:cols]
        return (self.q[i].astype(np.float32) * s).astype(np.float32)


def quantize_groups(w: np.ndarray, group_size: int | None = 64) -> GroupQuantized:
    """Quantize a float matrix per row-group: ``scale = max|w| / 127``, ``q = round(w / scale)``."""
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"quantize_groups needs a 2-D matrix, got shape {w.shape}")
    rows, cols = w.shape
    gs = resolve_group_size(group_size, cols)
    ng = n_groups(cols, gs)
    padded = np.zeros((rows, ng * gs), dtype=np.float32)
    padded[:, :cols] = w
    grouped = padded.reshape(rows, ng, gs)
    amax = np.abs(grouped).max(axis=2)
    scales = (amax / np.float32(127.0)).astype(np.float32)
    safe = np.where(scales > 0, scales, np.float32(1.0)).astype(np.float64)
    q = round_half_away(grouped.astype(np.float64) / safe[:, :, None])
    q = np.clip(q, -127, 127).astype(np.int8).reshape(rows, ng * gs)[:, :cols]
    return GroupQuantized(np.ascontiguousarray(q), scales, gs)


def quantize_activation(x: np.ndarray, group_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Dynamic per-group quantization of a float32 vector, in the C kernel's float32 arithmetic.

    Per group: ``amax = max|x|``; ``q = roundf(x * (127 / amax))``;
    ``scale = amax / 127`` (an all-zero group gets scale 0 and zeros).
    """
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[0]
    gs = resolve_group_size(group_size, n)
    ng = n_groups(n, gs)
    q = np.zeros(n, dtype=np.int8)
    s = np.zeros(ng, dtype=np.float32)
    for g in range(ng):
        seg = x[g * gs : (g + 1) * gs]
        amax = np.float32(np.abs(seg).max())
        if amax > 0:
            with np.errstate(over="ignore", invalid="ignore"):  # a subnormal amax: 127 / amax is inf, as in C
                inv = np.float32(127.0) / amax
                r = np.clip(round_half_away(seg * inv), -127, 127)
            q[g * gs : (g + 1) * gs] = np.where(np.isnan(r), 0, r).astype(np.int8)
            s[g] = amax / np.float32(127.0)
    return q, s


def matmul_q8(w: GroupQuantized, xq: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """``W @ x`` with int32 group dot products, combined in float32 group by group like the C."""
    rows, cols = w.shape
    gs = w.group_size
    out = np.zeros(rows, dtype=np.float32)
    wq = w.q.astype(np.int32)
    xi = xq.astype(np.int32)
    for g in range(w.scales.shape[1]):
        lo, hi = g * gs, min((g + 1) * gs, cols)
        acc = wq[:, lo:hi] @ xi[lo:hi]  # exact in int64/int32
        out = out + (acc.astype(np.float32) * w.scales[:, g]) * xs[g]
    return out.astype(np.float32)


def quantize_kv(vec: np.ndarray, group_size: int) -> tuple[np.ndarray, np.ndarray]:
    """A key or value vector stored in an int8 cache (same rule as activations)."""
    return quantize_activation(vec, group_size)
