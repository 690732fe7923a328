"""The closed set of element types the IR knows, with their behaviour."""

from __future__ import annotations

import enum

import numpy as np


class DType(enum.Enum):
    """Tensor element type. ``value`` is the short name used in textual IR."""

    F32 = "f32"
    F16 = "f16"
    F64 = "f64"
    I8 = "i8"
    U8 = "u8"
    I16 = "i16"
    I32 = "i32"
    I64 = "i64"
    BOOL = "bool"

    @property
    def short(self) -> str:
        return self.value

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(_NUMPY[self])

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    @property
    def is_float(self) -> bool:
        return self in (DType.F32, DType.F16, DType.F64)

    @property
    def is_int(self) -> bool:
        return self in (DType.I8, DType.U8, DType.I16, DType.I32, DType.I64)

    @property
    def qmin(self) -> int:
        """Smallest representable integer (integer types only)."""
        return int(np.iinfo(self.numpy).min)

    @property
    def qmax(self) -> int:
        """Largest representable integer (integer types only)."""
        return int(np.iinfo(self.numpy).max)

    @property
    def c_type(self) -> str:
        return _C_TYPE[self]

    @classmethod
    def from_numpy(cls, dt: np.dtype | type) -> DType:
        dt = np.dtype(dt)
        for member, name in _NUMPY.items():
            if np.dtype(name) == dt:
                return member
        raise ValueError(f"no tinyc dtype for numpy dtype {dt}")

    @classmethod
    def from_short(cls, name: str) -> DType:
        return cls(name)


_NUMPY = {
    DType.F32: "float32",
    DType.F16: "float16",
    DType.F64: "float64",
    DType.I8: "int8",
    DType.U8: "uint8",
    DType.I16: "int16",
    DType.I32: "int32",
    DType.I64: "int64",
    DType.BOOL: "bool",
}

_C_TYPE = {
    DType.F32: "float",
    DType.F16: "uint16_t",
    DType.F64: "double",
    DType.I8: "int8_t",
    DType.U8: "uint8_t",
    DType.I16: "int16_t",
    DType.I32: "int32_t",
    DType.I64: "int64_t",
    DType.BOOL: "uint8_t",
}
