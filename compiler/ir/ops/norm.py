"""Normalisations and softmax: BatchNormalization (inference), LayerNormalization, Softmax, LogSoftmax."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Value
from tinyc.ir.opdef import EvalContext, OpDef, broadcast_shapes, need, norm_axis, register
from tinyc.ir.ops._spatial import attr_float, attr_int, float_only, reject_unknown
from tinyc.ir.ops.quantized import any_quantized, eval_softmax, fixed_output_quant
from tinyc.ir.types import TensorType


def _first(op: str, inputs: Sequence[Value | None]) -> Value:
    need(len(inputs) >= 1 and inputs[0] is not None, op, "missing input X")
    x = inputs[0]
    assert x is not None
    return x


@register
class BatchNormalization(OpDef):
    """Inference-mode batch norm over axis 1: (x - mean) / sqrt(var + epsilon) * scale + B."""

    onnx_op = "BatchNormalization"
    category = "normalization"
    input_names = ("X", "scale", "B", "input_mean", "input_var")

    @dataclass(frozen=True)
    class Attrs:
        epsilon: float = 1e-5

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        op = "BatchNormalization"
        reject_unknown(op, onnx_attrs, ("epsilon", "momentum", "training_mode", "spatial"))
        if attr_int(op, onnx_attrs, "training_mode", 0) != 0:
            raise UnsupportedOpError(f"{op}: training_mode=1 is not supported", hint="export the model in eval mode (model.eval())")
        if attr_int(op, onnx_attrs, "spatial", 1) != 1:
            raise UnsupportedOpError(f"{op}: spatial=0 (per-element statistics) is not supported")
        attr_float(op, onnx_attrs, "momentum", 0.9)  # training only
        eps = attr_float(op, onnx_attrs, "epsilon", 1e-5)
        if eps < 0:
            raise UnsupportedOpError(f"{op}: epsilon must be >= 0, got {eps}")
        return self.Attrs(eps), inputs

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = _first(self.name, inputs)
        need(len(inputs) == 5 and all(v is not None for v in inputs), self.name, "needs X, scale, B, mean and var")
        need(x.type.rank >= 2, self.name, f"X must be (N, C, ...), got shape {list(x.type.shape)}")
        c = x.type.shape[1]
        for name, v in zip(self.input_names[1:], inputs[1:], strict=True):
            assert v is not None
            need(v.type.shape == (c,), self.name, f"{name} has shape {list(v.type.shape)}, expected [{c}]")
        return [TensorType(x.type.dtype, x.type.shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        float_only(self.name, ctx)
        x, scale, b, mean, var = (np.asarray(a, dtype=np.float64) for a in args)  # type: ignore[arg-type]
        # float path
        shape = (x.shape[1],) + (1,) * (x.ndim - 2)
        k = scale / np.sqrt(var + attrs.epsilon)
        y = (x - mean.reshape(shape)) * k.reshape(shape) + b.reshape(shape)
        return [y.astype(ctx.out_types[0].dtype.numpy)]

    def macs(self, attrs: Any, in_types: Sequence[TensorType | None], out_types: Sequence[TensorType]) -> int:
        return out_types[0].numel


@register
class LayerNormalization(OpDef):
    """Normalise over the axes from ``axis`` to the last, then scale and shift (Y output only)."""

    onnx_op = "LayerNormalization"
    category = "normalization"
    input_names = ("X", "Scale", "B?")

    @dataclass(frozen=True)
    class Attrs:
        axis: int = -1
        epsilon: float = 1e-5

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        op = "LayerNormalization"
        reject_unknown(op, onnx_attrs, ("axis", "epsilon", "stash_type"))
        if attr_int(op, onnx_attrs, "stash_type", 1) != 1:
            raise UnsupportedOpError(f"{op}: stash_type other than 1 (float32 statistics) is not supported")
        x = _first(op, inputs)
        axis = attr_int(op, onnx_attrs, "axis", -1)
        if not -x.type.rank <= axis < x.type.rank:
            raise UnsupportedOpError(f"{op}: axis {axis} is out of range for rank {x.type.rank}")
        eps = attr_float(op, onnx_attrs, "epsilon", 1e-5)
        if eps < 0:
            raise UnsupportedOpError(f"{op}: epsilon must be >= 0, got {eps}")
        return self.Attrs(axis % x.type.rank, eps), inputs

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = _first(self.name, inputs)
        need(len(inputs) >= 2 and inputs[1] is not None, self.name, "needs input Scale")
        axis = norm_axis(self.name, attrs.axis, x.type.rank)
        norm_shape = x.type.shape[axis:]
        for v in inputs[1:]:
            if v is not None:
                need(
                    v.type.rank <= len(norm_shape) and broadcast_shapes(self.name, v.type.shape, norm_shape) == norm_shape,
                    self.name,
                    f"{v.name} of shape {list(v.type.shape)} does not broadcast to the normalised shape {list(norm_shape)}",
                )
        return [TensorType(x.type.dtype, x.type.shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        float_only(self.name, ctx)
        x = np.asarray(args[0], dtype=np.float64)
        # float path
        axes = tuple(range(norm_axis(self.name, attrs.axis, x.ndim), x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        d = x - mean
        var = (d * d).mean(axis=axes, keepdims=True)
        y = d / np.sqrt(var + attrs.epsilon) * np.asarray(args[1], dtype=np.float64)
        if len(args) > 2 and args[2] is not None:
            y = y + np.asarray(args[2], dtype=np.float64)
        return [y.astype(ctx.out_types[0].dtype.numpy)]

    def macs(self, attrs: Any, in_types: Sequence[TensorType | None], out_types: Sequence[TensorType]) -> int:
        return out_types[0].numel


class _SoftmaxBase(OpDef):
    """Shared by Softmax and LogSoftmax.

    ``coerce_2d`` keeps opset < 13 semantics: the input is viewed as a matrix
    [prod(shape[:axis]), prod(shape[axis:])] and normalised over each row (all
    axes from ``axis`` on). It is stored False whenever that equals the
    single-axis form (``axis`` is the last axis).
    """

    category = "activation"
    input_names = ("input",)
    log: bool = False

    @dataclass(frozen=True)
    class Attrs:
        axis: int = -1
        coerce_2d: bool = False

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown(self.name, onnx_attrs, ("axis",))
        x = _first(self.name, inputs)
        rank = x.type.rank
        axis = attr_int(self.name, onnx_attrs, "axis", -1 if opset >= 13 else 1)
        if not -max(rank, 1) <= axis < max(rank, 1):
            raise UnsupportedOpError(f"{self.name}: axis {axis} is out of range for rank {rank}")
        axis = axis % max(rank, 1)
        coerce = opset < 13 and axis < rank - 1
        return self.Attrs(axis, coerce), inputs

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = _first(self.name, inputs)
        norm_axis(self.name, attrs.axis, x.type.rank)
        if not self.log and x.type.quant is not None and x.type.dtype.is_int:  # integer softmax (TFLite int8)
            return [TensorType(x.type.dtype, x.type.shape, fixed_output_quant(self.name, x.type.dtype))]
        need(x.type.dtype.is_float, self.name, f"input must be float, got {x.type.dtype.short}")
        return [TensorType(x.type.dtype, x.type.shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        if not self.log and any_quantized(ctx):
            assert args[0] is not None
            return [eval_softmax(args[0], ctx, attrs.axis, attrs.coerce_2d)]
        float_only(self.name, ctx)
        x = np.asarray(args[0], dtype=np.float64)
        axis = norm_axis(self.name, attrs.axis, x.ndim) if x.ndim else 0
        if x.ndim == 0:
            flat, red = x.reshape(1, 1), 1
        elif attrs.coerce_2d:
            flat, red = x.reshape(math.prod(x.shape[:axis]), -1), 1
        else:
            flat, red = x, axis
        shifted = flat - flat.max(axis=red, keepdims=True)
        if self.log:
            y = shifted - np.log(np.exp(shifted).sum(axis=red, keepdims=True))
        else:
            e = np.exp(shifted)
            y = e / e.sum(axis=red, keepdims=True)
        return [y.reshape(x.shape).astype(ctx.out_types[0].dtype.numpy)]


@register
class Softmax(_SoftmaxBase):
    """exp(x) / sum(exp(x)) over one axis (opset >= 13) or all axes from ``axis`` on (opset < 13)."""

    onnx_op = "Softmax"


@register
class LogSoftmax(_SoftmaxBase):
    """log(softmax(x)), with the same axis semantics as Softmax."""

    onnx_op = "LogSoftmax"
    log = True
