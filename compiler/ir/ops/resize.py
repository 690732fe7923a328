"""Resize (ONNX semantics): nearest, linear and cubic interpolation, separable over any axes.

The ``scales``/``sizes`` inputs must be constant and become attributes: the
resolved output shape (``sizes``) and the per-axis scale used to map output
coordinates back to input coordinates (``scales``; when the model gave sizes it
is output / input, as ONNX defines). ``tf_crop_and_resize`` and antialiasing
are not supported.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Value
from tinyc.ir.opdef import EvalContext, OpDef, const_of, need, register
from tinyc.ir.ops._spatial import attr_enum, attr_float, attr_int, attr_ints, attr_str, float_only, reject_unknown
from tinyc.ir.types import TensorType


class ResizeMode(enum.Enum):
    NEAREST = "nearest"
    LINEAR = "linear"
    CUBIC = "cubic"


class CoordMode(enum.Enum):
    """How an output coordinate maps back to an input coordinate."""

    HALF_PIXEL = "half_pixel"
    HALF_PIXEL_SYMMETRIC = "half_pixel_symmetric"
    PYTORCH_HALF_PIXEL = "pytorch_half_pixel"
    ALIGN_CORNERS = "align_corners"
    ASYMMETRIC = "asymmetric"
    TF_HALF_PIXEL_FOR_NN = "tf_half_pixel_for_nn"


class NearestMode(enum.Enum):
    ROUND_PREFER_FLOOR = "round_prefer_floor"
    ROUND_PREFER_CEIL = "round_prefer_ceil"
    FLOOR = "floor"
    CEIL = "ceil"


_F32 = np.float32


def source_coords(mode: CoordMode, n_in: int, n_out: int, scale: float) -> np.ndarray:
    """Input coordinate of each output index along one axis.

    Computed in float32 like onnxruntime, so that ties in the nearest modes
    round the same way.
    """
    x = np.arange(n_out, dtype=_F32)
    s = _F32(scale)
    half = _F32(0.5)
    if mode is CoordMode.HALF_PIXEL:
        return (x + half) / s - half
    if mode is CoordMode.PYTORCH_HALF_PIXEL:
        return (x + half) / s - half if n_out > 1 else np.zeros_like(x)
    if mode is CoordMode.ALIGN_CORNERS:
        if n_out == 1:
            return np.zeros_like(x)
        return x * _F32(n_in - 1) / _F32(n_out - 1)
    if mode is CoordMode.ASYMMETRIC:
        return x / s
    if mode is CoordMode.TF_HALF_PIXEL_FOR_NN:
        return (x + half) / s
    # half_pixel_symmetric (onnxruntime evaluates this one in double precision)
    xd, sd = x.astype(np.float64), float(s)
    offset = n_in / 2 * (1 - n_out / (sd * n_in))
    return offset + (xd + 0.5) / sd - 0.5


def nearest_index(mode: NearestMode, coords: np.ndarray, n_in: int) -> np.ndarray:
    if mode is NearestMode.ROUND_PREFER_FLOOR:
        idx = np.ceil(coords - _F32(0.5))
    elif mode is NearestMode.ROUND_PREFER_CEIL:
        idx = np.floor(coords + _F32(0.5))
    elif mode is NearestMode.FLOOR:
        idx = np.floor(coords)
    else:
        idx = np.ceil(coords)
    return np.clip(idx, 0, n_in - 1).astype(np.int64)


def _cubic_weights(t: np.ndarray, a: float) -> np.ndarray:
    """Weights of the four taps at offsets -1, 0, 1, 2 from floor(x), for fractions t (Keys' kernel)."""
    d = np.stack([t + 1, t, 1 - t, 2 - t], axis=-1).astype(np.float64)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, far)


def _interp_axis(x: np.ndarray, axis: int, idx: np.ndarray, w: np.ndarray) -> np.ndarray:
    """sum_j w[o, j] * x[..., idx[o, j], ...] along ``axis``."""
    taken = np.take(x, idx, axis=axis)  # axis becomes (n_out, taps)
    shape = [1] * taken.ndim
    shape[axis], shape[axis + 1] = w.shape
    return (taken * w.reshape(shape)).sum(axis=axis + 1)


@register
class Resize(OpDef):
    """Resize by constant scales or sizes: nearest / (bi)linear / cubic, ONNX coordinate modes."""

    onnx_op = "Resize"
    category = "resize"
    input_names = ("X",)

    @dataclass(frozen=True)
    class Attrs:
        sizes: tuple[int, ...] = ()
        scales: tuple[float, ...] = ()
        mode: ResizeMode = ResizeMode.NEAREST
        coordinate_transformation_mode: CoordMode = CoordMode.HALF_PIXEL
        nearest_mode: NearestMode = NearestMode.ROUND_PREFER_FLOOR
        cubic_coeff_a: float = -0.75
        exclude_outside: bool = False

    _KNOWN = (
        "antialias", "axes", "coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
        "extrapolation_value", "keep_aspect_ratio_policy", "mode", "nearest_mode",
    )  # fmt: skip

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        op = "Resize"
        reject_unknown(op, onnx_attrs, self._KNOWN)
        need(len(inputs) >= 1 and inputs[0] is not None, op, "missing input X")
        x = inputs[0]
        assert x is not None
        rank = x.type.rank
        mode = attr_enum(op, onnx_attrs, "mode", ResizeMode, "nearest")
        if attr_str(op, onnx_attrs, "coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize":
            raise UnsupportedOpError(f"{op}: coordinate_transformation_mode 'tf_crop_and_resize' is not supported")
        ctm = attr_enum(op, onnx_attrs, "coordinate_transformation_mode", CoordMode, "half_pixel")
        if ctm is CoordMode.TF_HALF_PIXEL_FOR_NN and mode is not ResizeMode.NEAREST:
            raise UnsupportedOpError(f"{op}: tf_half_pixel_for_nn applies to mode 'nearest' only, got {mode.value!r}")
        nearest = attr_enum(op, onnx_attrs, "nearest_mode", NearestMode, "round_prefer_floor")
        a = attr_float(op, onnx_attrs, "cubic_coeff_a", -0.75)
        exclude = attr_int(op, onnx_attrs, "exclude_outside", 0)
        if exclude not in (0, 1):
            raise UnsupportedOpError(f"{op}: exclude_outside must be 0 or 1, got {exclude}")
        if attr_int(op, onnx_attrs, "antialias", 0) != 0:
            raise UnsupportedOpError(f"{op}: antialias=1 is not supported", hint="resize without antialiasing, or blur explicitly")
        axes = attr_ints(op, onnx_attrs, "axes", None)
        if axes is None:
            axes = tuple(range(rank))
        if any(not -rank <= ax < rank for ax in axes) or len({ax % rank for ax in axes}) != len(axes):
            raise UnsupportedOpError(f"{op}: axes {list(axes)} are out of range or repeated for rank {rank}")
        axes = tuple(ax % rank for ax in axes)
        policy = attr_str(op, onnx_attrs, "keep_aspect_ratio_policy", "stretch")
        if policy not in ("stretch", "not_larger", "not_smaller"):
            raise UnsupportedOpError(f"{op}: keep_aspect_ratio_policy={policy!r} is not supported", hint="use stretch, not_larger or not_smaller")

        scales_v = inputs[2] if len(inputs) > 2 else None
        sizes_v = inputs[3] if len(inputs) > 3 else None
        has_scales = scales_v is not None and scales_v.type.numel > 0
        has_sizes = sizes_v is not None and sizes_v.type.numel > 0
        if has_scales == has_sizes:
            raise UnsupportedOpError(f"{op}: exactly one of the 'scales' and 'sizes' inputs must be given (non-empty)")
        in_shape = x.type.shape
        out = list(in_shape)
        scales = [1.0] * rank
        if has_scales:
            given = const_of(scales_v, op, "scales").astype(np.float32).reshape(-1)
            if len(given) != len(axes) or not np.all(np.isfinite(given)) or np.any(given <= 0):
                raise UnsupportedOpError(f"{op}: scales {given.tolist()} must be {len(axes)} positive numbers")
            for ax, s in zip(axes, given, strict=True):
                out[ax] = int(math.floor(float(_F32(s) * _F32(in_shape[ax]))))
                scales[ax] = float(s)
        else:
            given_sizes = const_of(sizes_v, op, "sizes").astype(np.int64).reshape(-1)
            if len(given_sizes) != len(axes) or np.any(given_sizes < 1):
                raise UnsupportedOpError(f"{op}: sizes {given_sizes.tolist()} must be {len(axes)} positive integers")
            if policy == "stretch":
                for ax, n in zip(axes, given_sizes, strict=True):
                    out[ax] = int(n)
                    scales[ax] = float(_F32(n) / _F32(in_shape[ax]))
            else:
                ratios = [float(_F32(n) / _F32(in_shape[ax])) for ax, n in zip(axes, given_sizes, strict=True)]
                s = min(ratios) if policy == "not_larger" else max(ratios)
                for ax in axes:
                    out[ax] = int(math.floor(s * in_shape[ax] + 0.5))
                    scales[ax] = s
        if any(n < 1 for n in out):
            raise UnsupportedOpError(f"{op}: the output shape {out} has an empty dimension")
        attrs = self.Attrs(tuple(out), tuple(scales), mode, ctm, nearest, a, bool(exclude))
        return attrs, [x]

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        need(len(inputs) == 1 and inputs[0] is not None, self.name, "takes one input X (scales/sizes are attributes)")
        x = inputs[0]
        assert x is not None
        rank = x.type.rank
        need(len(attrs.sizes) == rank, self.name, f"sizes {list(attrs.sizes)} do not match the rank {rank} of X")
        need(not attrs.scales or len(attrs.scales) == rank, self.name, f"scales {list(attrs.scales)} do not match the rank {rank} of X")
        need(all(n >= 1 for n in attrs.sizes), self.name, f"sizes {list(attrs.sizes)} must be positive")
        return [TensorType(x.type.dtype, tuple(attrs.sizes))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        float_only(self.name, ctx)
        x = args[0]
        assert x is not None
        out_dtype = ctx.out_types[0].dtype.numpy
        y = x if attrs.mode is ResizeMode.NEAREST else x.astype(np.float64)
        for axis, (n_in, n_out) in enumerate(zip(x.shape, attrs.sizes, strict=True)):
            scale = attrs.scales[axis] if attrs.scales else n_out / n_in
            if scale == 1.0 and n_in == n_out:
                continue  # an axis that is not resized maps onto itself, whatever the mode
            coords = source_coords(attrs.coordinate_transformation_mode, n_in, n_out, scale)
            if attrs.mode is ResizeMode.NEAREST:
                y = np.take(y, nearest_index(attrs.nearest_mode, coords, n_in), axis=axis)
            elif attrs.mode is ResizeMode.LINEAR:
                c = np.clip(coords.astype(np.float64), 0, n_in - 1)
                lo = np.floor(c).astype(np.int64)
                hi = np.minimum(lo + 1, n_in - 1)
                frac = c - lo
                y = _interp_axis(y, axis, np.stack([lo, hi], axis=1), np.stack([1 - frac, frac], axis=1))
            else:
                c = coords.astype(np.float64)
                base = np.floor(c).astype(np.int64)
                w = _cubic_weights(c - base, attrs.cubic_coeff_a)
                taps = base[:, None] + np.arange(-1, 3)[None, :]
                if attrs.exclude_outside:
                    w = np.where((taps >= 0) & (taps < n_in), w, 0.0)
                    w = w / w.sum(axis=1, keepdims=True)
                y = _interp_axis(y, axis, np.clip(taps, 0, n_in - 1), w)
        return [np.asarray(y).astype(out_dtype)]
