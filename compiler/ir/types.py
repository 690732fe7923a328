"""Tensor types: shape, element type and optional quantization."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tinyc.ir.dtypes import DType

Shape = tuple[int, ...]


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization: ``real = scale * (q - zero_point)``.

    Per tensor when ``axis is None`` (one scale, one zero point); per axis
    otherwise (one of each per index along ``axis``). Scales are kept as
    float32 values (what TFLite and CMSIS-NN store) in Python floats.
    """

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None

    def __post_init__(self) -> None:
        if len(self.scale) != len(self.zero_point):
            raise ValueError("scale and zero_point must have the same length")
        if self.axis is None and len(self.scale) != 1:
            raise ValueError("per-tensor quantization takes exactly one scale")
        object.__setattr__(self, "scale", tuple(float(np.float32(s)) for s in self.scale))
        object.__setattr__(self, "zero_point", tuple(int(z) for z in self.zero_point))

    @classmethod
    def per_tensor(cls, scale: float, zero_point: int = 0) -> QuantParams:
        return cls((float(scale),), (int(zero_point),), None)

    @classmethod
    def per_axis(cls, scales: np.ndarray | list[float], zero_points: np.ndarray | list[int] | None, axis: int) -> QuantParams:
        scales = [float(s) for s in np.asarray(scales).reshape(-1)]
        zps = [0] * len(scales) if zero_points is None else [int(z) for z in np.asarray(zero_points).reshape(-1)]
        return cls(tuple(scales), tuple(zps), axis)

    @property
    def is_per_tensor(self) -> bool:
        return self.axis is None

    def scale_array(self) -> np.ndarray:
        return np.asarray(self.scale, dtype=np.float32)

    def zero_point_array(self) -> np.ndarray:
        return np.asarray(self.zero_point, dtype=np.int64)


@dataclass(frozen=True)
class TensorType:
    """A static shape, an element type, and optional quantization."""

    dtype: DType
    shape: Shape
    quant: QuantParams | None = field(default=None)

    def __post_init__(self) -> None:
        shape = tuple(int(d) for d in self.shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"negative dimension in shape {shape}")
        object.__setattr__(self, "shape", shape)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize

    def with_shape(self, shape: Shape) -> TensorType:
        return TensorType(self.dtype, tuple(shape), self.quant)

    def with_dtype(self, dtype: DType, quant: QuantParams | None = None) -> TensorType:
        return TensorType(dtype, self.shape, quant)

    def with_quant(self, quant: QuantParams | None) -> TensorType:
        return TensorType(self.dtype, self.shape, quant)

    def __str__(self) -> str:
        return f"{self.dtype.short}[{','.join(str(d) for d in self.shape)}]"

    @classmethod
    def of_array(cls, arr: np.ndarray, quant: QuantParams | None = None) -> TensorType:
        return cls(DType.from_numpy(arr.dtype), tuple(arr.shape), quant)
