"""Range observers: what real range of a tensor the int8 (or int16) grid should cover.

Calibration runs the float graph and feeds every tensor that needs
quantization parameters into a :class:`TensorStats` (running min/max and,
for the percentile and MSE observers, a histogram over that range in a second
pass). An observer turns the statistics into a clipping range; :func:`choose_params`
turns a range into a scale and zero point.

* ``minmax`` — the whole observed range (TFLite's converter, onnxruntime's default);
* ``percentile`` — clip the tails at the given percentile of the values (both sides);
* ``mse`` — the range whose quantize-dequantize round trip minimises the mean
  squared error over the histogram (rounding noise against clipping error).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np

from tinyc.ir.dtypes import DType
from tinyc.ir.types import QuantParams

HIST_BINS = 2048
# Ranges narrower than this are treated as all-zero tensors (scale 1): finer
# scales would underflow float32 or overflow the multipliers derived from them.
MIN_RANGE = 1e-20


class ObserverKind(enum.Enum):
    """How calibration statistics become a clipping range."""

    MINMAX = "minmax"
    PERCENTILE = "percentile"
    MSE = "mse"

    @property
    def needs_histogram(self) -> bool:
        return self is not ObserverKind.MINMAX


@dataclass
class TensorStats:
    """Running statistics of one tensor over the calibration samples."""

    lo: float = math.inf
    hi: float = -math.inf
    count: int = 0
    hist: np.ndarray | None = field(default=None, repr=False)

    def update_range(self, x: np.ndarray) -> None:
        if x.size == 0:
            return
        self.lo = min(self.lo, float(np.min(x)))
        self.hi = max(self.hi, float(np.max(x)))
        self.count += int(x.size)

    def start_histogram(self) -> None:
        self.hist = np.zeros(HIST_BINS, dtype=np.float64)

    def update_histogram(self, x: np.ndarray) -> None:
        assert self.hist is not None
        if self.hi > self.lo:
            counts, _ = np.histogram(np.asarray(x, dtype=np.float64), bins=HIST_BINS, range=(self.lo, self.hi))
            self.hist += counts

    @classmethod
    def of(cls, x: np.ndarray, histogram: bool = False) -> TensorStats:
        s = cls()
        s.update_range(x)
        if histogram:
            s.start_histogram()
            s.update_histogram(x)
        return s

    def centers(self) -> np.ndarray:
        width = (self.hi - self.lo) / HIST_BINS
        return self.lo + width * (np.arange(HIST_BINS) + 0.5)


def choose_params(lo: float, hi: float, dtype: DType, *, symmetric: bool = False) -> QuantParams:
    """Scale and zero point covering [lo, hi] (widened to include 0, so real zero is exact).

    int8 asymmetric: ``scale = (hi - lo) / 255``, ``zp = round(-128 - lo / scale)``.
    int16, or ``symmetric``: zero point 0, ``scale = max(|lo|, |hi|) / qmax``.
    An all-zero range (narrower than ``MIN_RANGE``) gets scale 1.
    """
    lo = min(float(lo), 0.0)
    hi = max(float(hi), 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"cannot quantize a range with non-finite bounds [{lo}, {hi}]")
    if dtype is DType.I16 or symmetric:
        m = max(-lo, hi)
        return QuantParams.per_tensor(m / dtype.qmax if m > MIN_RANGE else 1.0, 0)
    qmin, qmax = dtype.qmin, dtype.qmax
    if hi - lo <= MIN_RANGE:
        return QuantParams.per_tensor(1.0, 0)
    scale = (hi - lo) / (qmax - qmin)
    scale32 = float(np.float32(scale))
    zp = int(np.clip(round(qmin - lo / scale32), qmin, qmax))
    return QuantParams.per_tensor(scale32, zp)


def observed_range(stats: TensorStats, kind: ObserverKind, dtype: DType, *, symmetric: bool = False, percentile: float = 99.99) -> tuple[float, float]:
    """The clipping range the observer picks from ``stats``."""
    if stats.count == 0 or not math.isfinite(stats.lo):
        return 0.0, 0.0
    if kind is ObserverKind.MINMAX or stats.hist is None or stats.hi <= stats.lo or stats.hist.sum() == 0:
        return stats.lo, stats.hi
    if kind is ObserverKind.PERCENTILE:
        return _percentile_range(stats, percentile)
    return _mse_range(stats, dtype, symmetric)


def _percentile_range(stats: TensorStats, percentile: float) -> tuple[float, float]:
    assert stats.hist is not None
    cdf = np.cumsum(stats.hist) / stats.hist.sum()
    edges = np.linspace(stats.lo, stats.hi, HIST_BINS + 1)
    tail = (100.0 - percentile) / 100.0
    lo_i = int(np.searchsorted(cdf, tail, side="left"))
    hi_i = int(np.searchsorted(cdf, 1.0 - tail, side="left"))
    lo = stats.lo if stats.lo >= 0 else float(edges[lo_i])
    hi = stats.hi if stats.hi <= 0 else float(edges[min(hi_i + 1, HIST_BINS)])
    return lo, hi


def _grid_error(centers: np.ndarray, counts: np.ndarray, los: np.ndarray, his: np.ndarray, dtype: DType, symmetric: bool) -> np.ndarray:
    """Histogram-weighted squared error of quantize-dequantize for each candidate range (vectorised)."""
    out = np.empty(los.shape, dtype=np.float64)
    for i in range(0, los.size, 64):
        lo, hi = los[i : i + 64, None], his[i : i + 64, None]
        lo = np.minimum(lo, 0.0)
        hi = np.maximum(hi, 0.0)
        if dtype is DType.I16 or symmetric:
            scale = np.maximum(np.maximum(-lo, hi), 1e-30) / dtype.qmax
            zp = np.zeros_like(scale)
            qmin, qmax = -dtype.qmax, dtype.qmax
        else:
            qmin, qmax = dtype.qmin, dtype.qmax
            scale = np.maximum(hi - lo, 1e-30) / (qmax - qmin)
            zp = np.clip(np.round(qmin - lo / scale), qmin, qmax)
        q = np.clip(np.round(centers[None, :] / scale) + zp, qmin, qmax)
        err = (centers[None, :] - (q - zp) * scale) ** 2
        out[i : i + 64] = err @ counts
    return out


def _mse_range(stats: TensorStats, dtype: DType, symmetric: bool) -> tuple[float, float]:
    assert stats.hist is not None
    centers, counts = stats.centers(), stats.hist
    fractions = np.linspace(0.05, 1.0, 96)
    lo0, hi0 = min(stats.lo, 0.0), max(stats.hi, 0.0)
    if dtype is DType.I16 or symmetric or lo0 == 0.0 or hi0 == 0.0:
        # one free parameter: shrink the range as a whole
        los, his = lo0 * fractions, hi0 * fractions
    else:
        coarse = np.linspace(0.1, 1.0, 32)
        fl, fh = np.meshgrid(coarse, coarse, indexing="ij")
        los, his = (lo0 * fl).reshape(-1), (hi0 * fh).reshape(-1)
    errors = _grid_error(centers, counts, los, his, dtype, symmetric)
    best = int(np.argmin(errors))
    # prefer the widest range among (near-)ties: rounding noise is flat once clipping stops
    tol = errors[best] * (1 + 1e-9)
    widest = max((i for i in range(errors.size) if errors[i] <= tol), key=lambda i: his[i] - los[i])
    return float(los[widest]), float(his[widest])
