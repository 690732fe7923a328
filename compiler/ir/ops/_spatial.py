"""Shared pieces of the NN op definitions: reading ONNX attributes, spatial geometry, sliding windows.

Conv, ConvTranspose and the pools store kernel, strides, dilations and pads
fully resolved; the helpers here turn ONNX's defaults and ``auto_pad`` into
those explicit numbers and check them, so malformed models fail at import with
a TinycError that names the attribute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyc.errors import UnsupportedOpError
from tinyc.ir.opdef import EvalContext

Ints = tuple[int, ...]


def reject_unknown(op: str, onnx_attrs: dict[str, Any], known: Sequence[str]) -> None:
    """Refuse ONNX attributes the op does not know (a typo or a newer opset's feature)."""
    extra = sorted(set(onnx_attrs) - set(known))
    if extra:
        raise UnsupportedOpError(
            f"attribute(s) {extra} of {op} are not supported",
            hint=f"{op} takes: {', '.join(known)}",
        )


def attr_int(op: str, onnx_attrs: dict[str, Any], key: str, default: int) -> int:
    val = onnx_attrs.get(key, default)
    if isinstance(val, (bool, np.bool_)) or not isinstance(val, (int, np.integer)):
        raise UnsupportedOpError(f"attribute {key!r} of {op} must be an integer, got {val!r}")
    return int(val)


def attr_float(op: str, onnx_attrs: dict[str, Any], key: str, default: float) -> float:
    val = onnx_attrs.get(key, default)
    if isinstance(val, (bool, np.bool_)) or not isinstance(val, (int, float, np.integer, np.floating)):
        raise UnsupportedOpError(f"attribute {key!r} of {op} must be a number, got {val!r}")
    if not math.isfinite(float(val)):
        raise UnsupportedOpError(f"attribute {key!r} of {op} must be finite, got {val!r}")
    return float(val)


def attr_str(op: str, onnx_attrs: dict[str, Any], key: str, default: str) -> str:
    val = onnx_attrs.get(key, default)
    if isinstance(val, bytes):
        val = val.decode("utf-8", errors="replace")
    if not isinstance(val, str):
        raise UnsupportedOpError(f"attribute {key!r} of {op} must be a string, got {val!r}")
    return val


def attr_ints(op: str, onnx_attrs: dict[str, Any], key: str, default: Ints | None) -> Ints | None:
    val = onnx_attrs.get(key)
    if val is None:
        return default
    if isinstance(val, (int, np.integer)) and not isinstance(val, bool):
        val = [val]
    if not isinstance(val, (list, tuple, np.ndarray)) or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in val
    ):
        raise UnsupportedOpError(f"attribute {key!r} of {op} must be a list of integers, got {val!r}")
    return tuple(int(v) for v in val)


def attr_enum(op: str, onnx_attrs: dict[str, Any], key: str, enum_type: Any, default: str) -> Any:
    text = attr_str(op, onnx_attrs, key, default)
    try:
        return enum_type(text)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in enum_type)
        raise UnsupportedOpError(f"{op}: {key}={text!r} is not supported", hint=f"use one of {allowed}") from None


def float_only(op: str, ctx: EvalContext) -> None:
    """The float reference path only: quantized integer inputs are not evaluated yet."""
    for t in ctx.in_types:
        if t is not None and t.quant is not None and t.dtype.is_int:
            raise UnsupportedOpError(
                f"{op}: quantized {t.dtype.short} evaluation is not implemented yet",
                where=f"node {ctx.node_name!r}" if ctx.node_name else None,
            )


# -- geometry ------------------------------------------------------------------


# Largest kernel size, stride, dilation or pad accepted (TFLite's own dilation limit, INT16_MAX): keeps every
# offset the generated C computes from them well inside int32.
MAX_GEOMETRY = 32767


def effective(k: int, d: int) -> int:
    """Extent of a dilated kernel."""
    return (k - 1) * d + 1


def check_geometry(op: str, nsp: int, kernel: Ints, strides: Ints, dilations: Ints, pads: Ints) -> None:
    """Lengths and signs of resolved spatial attributes."""
    for key, val, n in (("kernel_shape", kernel, nsp), ("strides", strides, nsp), ("dilations", dilations, nsp), ("pads", pads, 2 * nsp)):
        if len(val) != n:
            raise UnsupportedOpError(f"{op}: {key} {list(val)} has {len(val)} entries, expected {n} for {nsp} spatial dims")
    if any(v < 1 for v in kernel + strides + dilations):
        raise UnsupportedOpError(f"{op}: kernel_shape, strides and dilations must be >= 1 (got {list(kernel)}, {list(strides)}, {list(dilations)})")
    if any(p < 0 for p in pads):
        raise UnsupportedOpError(f"{op}: negative pads {list(pads)} are not supported", hint="apply a Slice before the op instead")
    if any(v > MAX_GEOMETRY for v in (*kernel, *strides, *dilations, *pads)):
        raise UnsupportedOpError(
            f"{op}: kernel_shape, strides, dilations and pads must be at most {MAX_GEOMETRY} "
            f"(got {list(kernel)}, {list(strides)}, {list(dilations)}, {list(pads)})",
            hint="the model declares an implausible geometry (corrupt or crafted file?)",
        )


def same_pads(in_sp: Ints, kernel: Ints, strides: Ints, dilations: Ints, upper: bool) -> Ints:
    """Explicit pads for auto_pad SAME_UPPER / SAME_LOWER: output = ceil(input / stride)."""
    begin: list[int] = []
    end: list[int] = []
    for n, k, s, d in zip(in_sp, kernel, strides, dilations, strict=True):
        out = -(-n // s)
        total = max(0, (out - 1) * s + effective(k, d) - n)
        small, big = total // 2, total - total // 2
        begin.append(small if upper else big)
        end.append(big if upper else small)
    return tuple(begin + end)


def resolve_pads(
    op: str, onnx_attrs: dict[str, Any], in_sp: Ints, kernel: Ints, strides: Ints, dilations: Ints
) -> Ints:
    """Explicit pads (begins then ends) from ONNX ``auto_pad`` and ``pads``."""
    nsp = len(in_sp)
    auto_pad = attr_str(op, onnx_attrs, "auto_pad", "NOTSET")
    pads = attr_ints(op, onnx_attrs, "pads", None)
    if auto_pad == "NOTSET":
        return pads if pads is not None else (0,) * (2 * nsp)
    if pads is not None and any(pads):
        raise UnsupportedOpError(f"{op}: auto_pad={auto_pad} together with explicit pads {list(pads)}", hint="give one or the other")
    if auto_pad == "VALID":
        return (0,) * (2 * nsp)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        check_geometry(op, nsp, kernel, strides, dilations, (0,) * (2 * nsp))
        return same_pads(in_sp, kernel, strides, dilations, auto_pad == "SAME_UPPER")
    raise UnsupportedOpError(f"{op}: auto_pad={auto_pad!r} is not supported", hint="use NOTSET, VALID, SAME_UPPER or SAME_LOWER")


def out_size(n: int, k: int, s: int, d: int, pb: int, pe: int, ceil_mode: bool = False) -> int:
    """Output length along one spatial axis (ONNX pooling/conv formula)."""
    span = n + pb + pe - effective(k, d)
    if span < 0:
        return 0
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    # A window that would start inside the end padding is dropped.
    if (out - 1) * s >= n + pb:
        out -= 1
    return out


def out_spatial(in_sp: Ints, kernel: Ints, strides: Ints, dilations: Ints, pads: Ints, ceil_mode: bool = False) -> Ints:
    nsp = len(in_sp)
    return tuple(
        out_size(in_sp[i], kernel[i], strides[i], dilations[i], pads[i], pads[nsp + i], ceil_mode) for i in range(nsp)
    )


def windows(xp: np.ndarray, kernel: Ints, strides: Ints, dilations: Ints, out_sp: Ints) -> np.ndarray:
    """A read-only view (N, C, *out_sp, *kernel) of the windows of a padded (N, C, *spatial) array.

    ``xp`` must be large enough for ``out_sp`` windows along each axis.
    """
    nsp = len(kernel)
    ext = tuple(effective(k, d) for k, d in zip(kernel, dilations, strict=True))
    view = np.lib.stride_tricks.sliding_window_view(xp, ext, axis=tuple(range(2, 2 + nsp)))
    index = (
        (slice(None), slice(None))
        + tuple(slice(0, (o - 1) * s + 1 if o > 0 else 0, s) for o, s in zip(out_sp, strides, strict=True))
        + tuple(slice(None, None, d) for d in dilations)
    )
    return view[index]


def pad_spatial(x: np.ndarray, pads: Ints, extra_end: Ints, value: float) -> np.ndarray:
    """Pad the spatial axes of (N, C, *spatial) by ``pads`` plus ``extra_end`` more at the ends."""
    nsp = x.ndim - 2
    width = [(0, 0), (0, 0)] + [(pads[i], pads[nsp + i] + extra_end[i]) for i in range(nsp)]
    if not any(b or e for b, e in width):
        return x
    return np.pad(x, width, mode="constant", constant_values=value)


def needed_extra(in_sp: Ints, kernel: Ints, strides: Ints, dilations: Ints, pads: Ints, out_sp: Ints) -> Ints:
    """How much past the end padding the last window reaches (ceil_mode overhang)."""
    nsp = len(in_sp)
    return tuple(
        max(0, (out_sp[i] - 1) * strides[i] + effective(kernel[i], dilations[i]) - (in_sp[i] + pads[i] + pads[nsp + i]))
        if out_sp[i] > 0
        else 0
        for i in range(nsp)
    )
