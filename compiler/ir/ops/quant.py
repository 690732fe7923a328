"""QuantizeLinear and DequantizeLinear (ONNX semantics), per tensor or per axis.

Scales and zero points are constant inputs in ONNX; in the IR they are
attributes (``scale``, ``zero_point``, ``axis`` None for per tensor), so a
QuantizeLinear output's type carries the same parameters as ``QuantParams``.
The importer never folds these two ops (see ``_foldable`` in the ONNX
importer): the quantizer wants to see them, even on constant weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import EvalContext, OpDef, const_of, need, norm_axis, register
from tinyc.ir.ops._base import dtype_of_onnx_code, present
from tinyc.ir.ops.shape import reject_unknown
from tinyc.ir.types import QuantParams, TensorType

# Integer types a QuantizeLinear may produce and a DequantizeLinear may read.
QUANT_DTYPES = (DType.I8, DType.U8, DType.I16)
DEQUANT_DTYPES = (*QUANT_DTYPES, DType.I32)


def _params(
    op: str, onnx_attrs: dict[str, Any], inputs: list[Value | None], x: Value
) -> tuple[tuple[float, ...], tuple[int, ...] | None, DType | None, int | None, DType]:
    """Read (scales, zero points or None, zero point dtype or None, axis or None, scale dtype) from an ONNX Q/DQ node."""
    if int(onnx_attrs.get("block_size", 0)) != 0:
        raise UnsupportedOpError(f"{op}: blocked quantization (block_size) is not supported", hint="use per-tensor or per-axis scales")
    need(len(inputs) >= 2, op, "needs a scale input")
    scale_v = inputs[1]
    scale = np.asarray(const_of(scale_v, op, "scale"))
    assert scale_v is not None
    need(scale_v.type.dtype.is_float, op, f"scale must be float, got {scale_v.type.dtype.short}")
    zp_v = inputs[2] if len(inputs) > 2 else None
    zp = None if zp_v is None else np.asarray(const_of(zp_v, op, "zero_point"))
    if zp is not None:
        need(zp.shape == scale.shape or zp.size == scale.size, op, f"zero point shape {list(zp.shape)} differs from scale shape {list(scale.shape)}")
    need(scale.ndim <= 1, op, f"scale of rank {scale.ndim} (blocked quantization) is not supported")
    axis: int | None = None
    if scale.size != 1:
        axis = norm_axis(op, int(onnx_attrs.get("axis", 1)), x.type.rank)
        dim = x.type.shape[axis]
        need(scale.size == dim, op, f"{scale.size} scales for axis {axis} of size {dim}")
    scales = tuple(float(s) for s in scale.astype(np.float32).reshape(-1))
    need(all(s > 0 for s in scales), op, "scales must be positive")
    zps = None if zp is None else tuple(int(z) for z in zp.reshape(-1))
    zp_dtype = None if zp_v is None else zp_v.type.dtype
    return scales, zps, zp_dtype, axis, scale_v.type.dtype


def _shaped(values: Sequence[float] | Sequence[int], axis: int | None, rank: int, dtype: type) -> np.ndarray:
    arr: np.ndarray = np.asarray(values, dtype=dtype)
    if axis is None:
        return arr.reshape(())
    shape = [1] * rank
    shape[axis] = arr.size
    return arr.reshape(shape)


@register
class QuantizeLinear(OpDef):
    """Quantize: saturate(round_half_even(x / scale) + zero_point), per tensor or per axis."""

    onnx_op = "QuantizeLinear"
    category = "quantization"
    input_names = ("x",)
    output_names = ("y",)

    @dataclass(frozen=True)
    class Attrs:
        scale: tuple[float, ...] = (1.0,)
        zero_point: tuple[int, ...] = (0,)
        axis: int | None = None
        dtype: DType = DType.U8

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self, onnx_attrs, ["axis", "saturate", "block_size", "output_dtype"])
        x = present(inputs[:1], self.name)[0]
        scales, zps, zp_dtype, axis, _ = _params(self.name, onnx_attrs, inputs, x)
        out_code = int(onnx_attrs.get("output_dtype", 0))
        dtype = zp_dtype or (dtype_of_onnx_code(out_code, self.name) if out_code else DType.U8)
        if zp_dtype is not None and out_code:
            need(dtype_of_onnx_code(out_code, self.name) == zp_dtype, self.name, "output_dtype differs from the zero point's type")
        if dtype not in QUANT_DTYPES:
            raise UnsupportedOpError(f"{self.name}: output type {dtype.short} is not supported", hint="tinyc quantizes to int8, uint8 or int16")
        zps = zps or (0,) * len(scales)
        return self.Attrs(scale=scales, zero_point=zps, axis=axis, dtype=dtype), inputs[:1]

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = present(inputs[:1], self.name)[0]
        need(x.type.dtype.is_float or x.type.dtype is DType.I32, self.name, f"input must be float or int32, got {x.type.dtype.short}")
        need(attrs.dtype in QUANT_DTYPES, self.name, f"output type {attrs.dtype.short} is not an integer quantized type")
        qp = _quant_params(self.name, attrs, x.type)
        for z in qp.zero_point:
            need(attrs.dtype.qmin <= z <= attrs.dtype.qmax, self.name, f"zero point {z} does not fit {attrs.dtype.short}")
        return [TensorType(attrs.dtype, x.type.shape, qp)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        x = args[0]
        assert x is not None
        rank = x.ndim
        scale = _shaped(attrs.scale, attrs.axis, rank, np.float32)
        zp = _shaped(attrs.zero_point, attrs.axis, rank, np.int64)
        q = np.rint(x.astype(np.float32) / scale).astype(np.float64) + zp
        return [np.clip(q, attrs.dtype.qmin, attrs.dtype.qmax).astype(attrs.dtype.numpy)]


def _quant_params(op: str, attrs: Any, t: TensorType) -> QuantParams:
    need(len(attrs.scale) == len(attrs.zero_point) >= 1, op, "scale and zero_point differ in length")
    if attrs.axis is None:
        need(len(attrs.scale) == 1, op, f"{len(attrs.scale)} scales without an axis")
        return QuantParams(attrs.scale, attrs.zero_point, None)
    axis = norm_axis(op, attrs.axis, t.rank)
    need(len(attrs.scale) == t.shape[axis], op, f"{len(attrs.scale)} scales for axis {axis} of size {t.shape[axis]}")
    return QuantParams(attrs.scale, attrs.zero_point, axis)


@register
class DequantizeLinear(OpDef):
    """Dequantize: (x - zero_point) * scale, per tensor or per axis."""

    onnx_op = "DequantizeLinear"
    category = "quantization"
    input_names = ("x",)
    output_names = ("y",)

    @dataclass(frozen=True)
    class Attrs:
        scale: tuple[float, ...] = (1.0,)
        zero_point: tuple[int, ...] = (0,)
        axis: int | None = None
        dtype: DType = DType.F32

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self, onnx_attrs, ["axis", "block_size"])
        x = present(inputs[:1], self.name)[0]
        scales, zps, zp_dtype, axis, scale_dtype = _params(self.name, onnx_attrs, inputs, x)
        if zp_dtype is not None:
            need(zp_dtype == x.type.dtype, self.name, f"zero point type {zp_dtype.short} differs from the input's {x.type.dtype.short}")
        zps = zps or (0,) * len(scales)
        return self.Attrs(scale=scales, zero_point=zps, axis=axis, dtype=scale_dtype), inputs[:1]

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = present(inputs[:1], self.name)[0]
        need(x.type.dtype in DEQUANT_DTYPES, self.name, f"input must be int8, uint8, int16 or int32, got {x.type.dtype.short}")
        need(attrs.dtype.is_float, self.name, f"output type {attrs.dtype.short} is not a float type")
        _quant_params(self.name, attrs, x.type)
        return [TensorType(attrs.dtype, x.type.shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        x = args[0]
        assert x is not None
        rank = x.ndim
        scale = _shaped(attrs.scale, attrs.axis, rank, np.float32)
        zp = _shaped(attrs.zero_point, attrs.axis, rank, np.int64)
        diff = (x.astype(np.int64) - zp).astype(np.float32)
        return [(diff * scale).astype(attrs.dtype.numpy)]
