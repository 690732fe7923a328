"""Convolutions: Conv and ConvTranspose (ONNX semantics, N-D, grouped, dilated).

Attributes are stored fully resolved: kernel_shape, strides, dilations and
pads (all begins, then all ends) are explicit; ``auto_pad`` and ConvTranspose's
``output_shape`` are turned into pads at import.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Value
from tinyc.ir.opdef import EvalContext, OpDef, need, register
from tinyc.ir.ops._spatial import (
    Ints,
    attr_int,
    attr_ints,
    attr_str,
    check_geometry,
    effective,
    float_only,
    out_spatial,
    pad_spatial,
    reject_unknown,
    resolve_pads,
    windows,
)
from tinyc.ir.types import TensorType


def _spatial_defaults(attrs: Any, nsp: int) -> tuple[Ints, Ints, Ints]:
    """Strides, dilations and pads, with ONNX defaults for any left empty (hand-built attrs)."""
    strides = attrs.strides or (1,) * nsp
    dilations = attrs.dilations or (1,) * nsp
    pads = attrs.pads or (0,) * (2 * nsp)
    return strides, dilations, pads


def _x_and_w(op: str, inputs: Sequence[Value | None]) -> tuple[Value, Value]:
    need(len(inputs) >= 2 and inputs[0] is not None and inputs[1] is not None, op, "needs inputs X and W")
    x, w = inputs[0], inputs[1]
    assert x is not None and w is not None
    need(x.type.rank >= 3, op, f"X must be (N, C, spatial...), got shape {list(x.type.shape)}")
    need(w.type.rank == x.type.rank, op, f"W has rank {w.type.rank}, X has rank {x.type.rank}")
    return x, w


def _check_bias(op: str, inputs: Sequence[Value | None], channels: int) -> None:
    b = inputs[2] if len(inputs) > 2 else None
    if b is not None:
        need(b.type.shape == (channels,), op, f"B has shape {list(b.type.shape)}, expected [{channels}]")


@register
class Conv(OpDef):
    """N-D convolution (grouped, dilated, strided, padded) with optional bias."""

    onnx_op = "Conv"
    category = "conv"
    input_names = ("X", "W", "B?")

    @dataclass(frozen=True)
    class Attrs:
        kernel_shape: tuple[int, ...] = ()
        strides: tuple[int, ...] = ()
        dilations: tuple[int, ...] = ()
        pads: tuple[int, ...] = ()
        group: int = 1

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown("Conv", onnx_attrs, ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"))
        x, w = _x_and_w("Conv", inputs)
        nsp = x.type.rank - 2
        wk = w.type.shape[2:]
        kernel = attr_ints("Conv", onnx_attrs, "kernel_shape", wk)
        assert kernel is not None
        if kernel != wk:
            raise UnsupportedOpError(f"Conv: kernel_shape {list(kernel)} does not match the weights' spatial shape {list(wk)}")
        strides = attr_ints("Conv", onnx_attrs, "strides", (1,) * nsp)
        dilations = attr_ints("Conv", onnx_attrs, "dilations", (1,) * nsp)
        assert strides is not None and dilations is not None
        pads = resolve_pads("Conv", onnx_attrs, x.type.shape[2:], kernel, strides, dilations)
        check_geometry("Conv", nsp, kernel, strides, dilations, pads)
        group = attr_int("Conv", onnx_attrs, "group", 1)
        if group < 1:
            raise UnsupportedOpError(f"Conv: group must be >= 1, got {group}")
        return self.Attrs(kernel, strides, dilations, pads, group), inputs

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x, w = _x_and_w(self.name, inputs)
        nsp = x.type.rank - 2
        n, c = x.type.shape[:2]
        m, cg = w.type.shape[:2]
        g = attrs.group
        need(g >= 1 and c % g == 0 and m % g == 0, self.name, f"group {g} must divide input channels {c} and output channels {m}")
        need(cg * g == c, self.name, f"W expects {cg} channels per group x {g} groups, X has {c} channels")
        kernel = attrs.kernel_shape or w.type.shape[2:]
        need(kernel == w.type.shape[2:], self.name, f"kernel_shape {list(kernel)} does not match W {list(w.type.shape)}")
        strides, dilations, pads = _spatial_defaults(attrs, nsp)
        need(len(strides) == nsp and len(dilations) == nsp and len(pads) == 2 * nsp, self.name, "strides/dilations/pads do not match the spatial rank")
        _check_bias(self.name, inputs, m)
        out = out_spatial(x.type.shape[2:], kernel, strides, dilations, pads)
        need(all(o > 0 for o in out), self.name, f"kernel {list(kernel)} (dilations {list(dilations)}) is larger than the padded input {list(x.type.shape)}")
        return [TensorType(x.type.dtype, (n, m, *out))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        float_only(self.name, ctx)
        x, w = args[0], args[1]
        b = args[2] if len(args) > 2 else None
        assert x is not None and w is not None
        # float path
        nsp = x.ndim - 2
        kernel = w.shape[2:]
        strides, dilations, pads = _spatial_defaults(attrs, nsp)
        out_sp = ctx.out_types[0].shape[2:]
        xp = pad_spatial(x.astype(np.float64), pads, (0,) * nsp, 0.0)
        win = windows(xp, kernel, strides, dilations, out_sp)  # (N, C, *out, *k)
        n, c = x.shape[:2]
        g = attrs.group
        m = w.shape[0]
        win = win.reshape(n, g, c // g, *out_sp, *kernel)
        wg = w.astype(np.float64).reshape(g, m // g, c // g, *kernel)
        letters = "ijklmnpq"[:nsp]
        kl = "rstuvwxy"[:nsp]
        y = np.einsum(f"Ngc{letters}{kl},gmc{kl}->Ngm{letters}", win, wg, optimize=True)
        y = y.reshape(n, m, *out_sp)
        if b is not None:
            y = y + b.astype(np.float64).reshape(m, *([1] * nsp))
        return [y.astype(ctx.out_types[0].dtype.numpy)]

    def macs(self, attrs: Any, in_types: Sequence[TensorType | None], out_types: Sequence[TensorType]) -> int:
        w = in_types[1]
        assert w is not None
        y = out_types[0]
        # every output element: (C_in / group) * prod(kernel) multiply-accumulates
        return y.numel * w.shape[1] * math.prod(w.shape[2:])


@register
class ConvTranspose(OpDef):
    """N-D transposed convolution (grouped, dilated, strided, padded, output_padding) with optional bias."""

    onnx_op = "ConvTranspose"
    category = "conv"
    input_names = ("X", "W", "B?")

    @dataclass(frozen=True)
    class Attrs:
        kernel_shape: tuple[int, ...] = ()
        strides: tuple[int, ...] = ()
        dilations: tuple[int, ...] = ()
        pads: tuple[int, ...] = ()
        output_padding: tuple[int, ...] = ()
        group: int = 1

    _KNOWN = ("auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads", "strides")

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        op = "ConvTranspose"
        reject_unknown(op, onnx_attrs, self._KNOWN)
        x, w = _x_and_w(op, inputs)
        nsp = x.type.rank - 2
        in_sp = x.type.shape[2:]
        wk = w.type.shape[2:]
        kernel = attr_ints(op, onnx_attrs, "kernel_shape", wk)
        assert kernel is not None
        if kernel != wk:
            raise UnsupportedOpError(f"{op}: kernel_shape {list(kernel)} does not match the weights' spatial shape {list(wk)}")
        strides = attr_ints(op, onnx_attrs, "strides", (1,) * nsp)
        dilations = attr_ints(op, onnx_attrs, "dilations", (1,) * nsp)
        out_pad = attr_ints(op, onnx_attrs, "output_padding", (0,) * nsp)
        assert strides is not None and dilations is not None and out_pad is not None
        check_geometry(op, nsp, kernel, strides, dilations, (0,) * (2 * nsp))
        if len(out_pad) != nsp or any(p < 0 for p in out_pad):
            raise UnsupportedOpError(f"{op}: output_padding {list(out_pad)} must be {nsp} non-negative values")
        group = attr_int(op, onnx_attrs, "group", 1)
        if group < 1:
            raise UnsupportedOpError(f"{op}: group must be >= 1, got {group}")
        auto_pad = attr_str(op, onnx_attrs, "auto_pad", "NOTSET")
        if auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
            raise UnsupportedOpError(f"{op}: auto_pad={auto_pad!r} is not supported", hint="use NOTSET, VALID, SAME_UPPER or SAME_LOWER")
        output_shape = attr_ints(op, onnx_attrs, "output_shape", None)
        natural = [strides[i] * (in_sp[i] - 1) + out_pad[i] + effective(kernel[i], dilations[i]) for i in range(nsp)]
        if output_shape is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            output_shape = tuple(in_sp[i] * strides[i] for i in range(nsp))
        if output_shape is not None:
            if len(output_shape) != nsp or any(o < 1 for o in output_shape):
                raise UnsupportedOpError(f"{op}: output_shape {list(output_shape)} must give {nsp} positive spatial sizes")
            if any(o > n for o, n in zip(output_shape, natural, strict=True)):
                raise UnsupportedOpError(
                    f"{op}: output_shape {list(output_shape)} is larger than the {natural} these strides and kernels produce",
                    hint="lower output_shape or give output_padding",
                )
            begin, end = [], []
            for i in range(nsp):
                total = natural[i] - output_shape[i]
                small, big = total // 2, total - total // 2
                head, tail = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
                begin.append(head)
                end.append(tail)
            pads: Ints = tuple(begin + end)
        elif auto_pad == "VALID":
            pads = (0,) * (2 * nsp)
        else:
            pads = attr_ints(op, onnx_attrs, "pads", (0,) * (2 * nsp)) or ()
        check_geometry(op, nsp, kernel, strides, dilations, pads)
        return self.Attrs(kernel, strides, dilations, pads, tuple(out_pad), group), inputs

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x, w = _x_and_w(self.name, inputs)
        nsp = x.type.rank - 2
        n, c = x.type.shape[:2]
        g = attrs.group
        need(g >= 1 and c % g == 0, self.name, f"group {g} must divide input channels {c}")
        need(w.type.shape[0] == c, self.name, f"W has {w.type.shape[0]} input channels, X has {c}")
        m = w.type.shape[1] * g
        kernel = attrs.kernel_shape or w.type.shape[2:]
        need(kernel == w.type.shape[2:], self.name, f"kernel_shape {list(kernel)} does not match W {list(w.type.shape)}")
        strides, dilations, pads = _spatial_defaults(attrs, nsp)
        out_pad = attrs.output_padding or (0,) * nsp
        need(len(strides) == nsp and len(dilations) == nsp and len(pads) == 2 * nsp and len(out_pad) == nsp, self.name, "strides/dilations/pads/output_padding do not match the spatial rank")
        _check_bias(self.name, inputs, m)
        out = tuple(
            strides[i] * (x.type.shape[2 + i] - 1) + out_pad[i] + effective(kernel[i], dilations[i]) - pads[i] - pads[nsp + i]
            for i in range(nsp)
        )
        need(all(o > 0 for o in out), self.name, f"pads {list(pads)} leave no output")
        return [TensorType(x.type.dtype, (n, m, *out))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        float_only(self.name, ctx)
        x, w = args[0], args[1]
        b = args[2] if len(args) > 2 else None
        assert x is not None and w is not None
        # float path: scatter each kernel tap's contribution into the full (unpadded) output
        nsp = x.ndim - 2
        n, c = x.shape[:2]
        in_sp = x.shape[2:]
        kernel = w.shape[2:]
        g = attrs.group
        mg = w.shape[1]
        strides, dilations, pads = _spatial_defaults(attrs, nsp)
        out_pad = attrs.output_padding or (0,) * nsp
        full = [strides[i] * (in_sp[i] - 1) + out_pad[i] + effective(kernel[i], dilations[i]) for i in range(nsp)]
        acc = np.zeros((n, g, mg, *full), dtype=np.float64)
        xg = x.astype(np.float64).reshape(n, g, c // g, *in_sp)
        wg = w.astype(np.float64).reshape(g, c // g, mg, *kernel)
        letters = "ijklpq"[:nsp]
        lead: tuple[Any, ...] = (slice(None),) * 3
        for tap in itertools.product(*(range(k) for k in kernel)):
            w_tap: np.ndarray = wg[lead + tuple(tap)]
            contrib = np.einsum(f"Ngc{letters},gcm->Ngm{letters}", xg, w_tap, optimize=True)
            dst = tuple(
                slice(tap[i] * dilations[i], tap[i] * dilations[i] + strides[i] * (in_sp[i] - 1) + 1, strides[i]) for i in range(nsp)
            )
            acc[lead + dst] += contrib
        acc = acc.reshape(n, g * mg, *full)
        out_sp = ctx.out_types[0].shape[2:]
        crop = tuple(slice(pads[i], pads[i] + out_sp[i]) for i in range(nsp))
        y = acc[(slice(None), slice(None)) + crop]
        if b is not None:
            y = y + b.astype(np.float64).reshape(g * mg, *([1] * nsp))
        return [y.astype(ctx.out_types[0].dtype.numpy)]

    def macs(self, attrs: Any, in_types: Sequence[TensorType | None], out_types: Sequence[TensorType]) -> int:
        x, w = in_types[0], in_types[1]
        assert x is not None and w is not None
        # every input element meets (M / group) * prod(kernel) weights
        return x.numel * w.shape[1] * math.prod(w.shape[2:])
