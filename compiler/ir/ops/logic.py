"""Comparisons, boolean logic, selection, type conversion and pass-through ops (ONNX semantics)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import EvalContext, OpDef, broadcast_shapes, const_of, need, register
from tinyc.ir.ops._base import BinaryOp, UnaryOp, dtype_of_onnx_code, present, reject_quantized
from tinyc.ir.types import TensorType

# -- comparisons -------------------------------------------------------------------


@register
class Equal(BinaryOp):
    """a == b element-wise with broadcasting (bool result)."""

    onnx_op = "Equal"
    category = "logic"
    bool_result = True
    fn = staticmethod(np.equal)


@register
class Less(BinaryOp):
    """a < b element-wise with broadcasting (bool result)."""

    onnx_op = "Less"
    category = "logic"
    bool_result = True
    fn = staticmethod(np.less)


@register
class LessOrEqual(BinaryOp):
    """a <= b element-wise with broadcasting (bool result)."""

    onnx_op = "LessOrEqual"
    category = "logic"
    bool_result = True
    fn = staticmethod(np.less_equal)


@register
class Greater(BinaryOp):
    """a > b element-wise with broadcasting (bool result)."""

    onnx_op = "Greater"
    category = "logic"
    bool_result = True
    fn = staticmethod(np.greater)


@register
class GreaterOrEqual(BinaryOp):
    """a >= b element-wise with broadcasting (bool result)."""

    onnx_op = "GreaterOrEqual"
    category = "logic"
    bool_result = True
    fn = staticmethod(np.greater_equal)


# -- boolean logic -----------------------------------------------------------------


class _BoolBinary(BinaryOp):
    category = "logic"

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        out = super().infer(attrs, inputs)
        need(all(v is not None and v.type.dtype is DType.BOOL for v in inputs[:2]), self.name, "needs bool inputs")
        return out


@register
class And(_BoolBinary):
    """Logical and with broadcasting."""

    onnx_op = "And"
    fn = staticmethod(np.logical_and)


@register
class Or(_BoolBinary):
    """Logical or with broadcasting."""

    onnx_op = "Or"
    fn = staticmethod(np.logical_or)


@register
class Xor(_BoolBinary):
    """Logical exclusive or with broadcasting."""

    onnx_op = "Xor"
    fn = staticmethod(np.logical_xor)


@register
class Not(UnaryOp):
    """Logical negation."""

    onnx_op = "Not"
    category = "logic"
    fn = staticmethod(np.logical_not)

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        out = super().infer(attrs, inputs)
        need(out[0].dtype is DType.BOOL, self.name, "needs a bool input")
        return out


@register
class IsNaN(UnaryOp):
    """True where x is NaN."""

    onnx_op = "IsNaN"
    category = "logic"

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = present(inputs[:1], self.name)[0]
        need(x.type.dtype.is_float, self.name, "needs a float input")
        return [TensorType(DType.BOOL, x.type.shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        return [np.isnan(args[0])]


@register
class Where(OpDef):
    """X where the condition holds, else Y; the three inputs broadcast together."""

    onnx_op = "Where"
    category = "logic"
    input_names = ("condition", "X", "Y")

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        c, x, y = present(inputs, self.name)
        need(c.type.dtype is DType.BOOL, self.name, f"condition must be bool, got {c.type.dtype.short}")
        need(x.type.dtype == y.type.dtype, self.name, f"X and Y types differ: {x.type.dtype.short} vs {y.type.dtype.short}")
        return [TensorType(x.type.dtype, broadcast_shapes(self.name, c.type.shape, x.type.shape, y.type.shape))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        reject_quantized(self.name, ctx)
        c, x, y = args
        assert c is not None and x is not None and y is not None
        return [np.where(c, x, y).astype(ctx.out_types[0].dtype.numpy)]


# -- conversion and pass-through ---------------------------------------------------


def _cast(x: np.ndarray, to: DType) -> np.ndarray:
    # ONNX casts like C: float to integer truncates toward zero, integer to a narrower
    # integer wraps, anything to bool is "!= 0". Its 'saturate' only concerns float8
    # targets; out-of-range float to integer is left undefined by ONNX, and NumPy's
    # cast gives what onnxruntime gives on x86 (both use the platform's conversion).
    if to is DType.BOOL:
        return x != 0
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(to.numpy)


@register
class Cast(OpDef):
    """Convert to another element type (float to integer truncates toward zero)."""

    onnx_op = "Cast"
    category = "elementwise"
    input_names = ("input",)
    output_names = ("output",)

    @dataclass(frozen=True)
    class Attrs:
        to: DType = DType.F32

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        extra = set(onnx_attrs) - {"to", "saturate"}
        if extra:
            raise UnsupportedOpError(f"Cast: attribute(s) {sorted(extra)} are not supported")
        if "to" not in onnx_attrs:
            raise UnsupportedOpError("Cast: the 'to' attribute is missing")
        # 'saturate' (opset 19) only concerns float8 targets, which tinyc does not have.
        return self.Attrs(to=dtype_of_onnx_code(onnx_attrs["to"], self.name)), inputs

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x = present(inputs[:1], self.name)[0]
        return [TensorType(attrs.to, x.type.shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        reject_quantized(self.name, ctx)
        assert args[0] is not None
        return [_cast(args[0], attrs.to)]


@register
class CastLike(OpDef):
    """Convert to the element type of a second input (opset 15); the target type is stored as an attribute."""

    onnx_op = "CastLike"
    category = "elementwise"
    input_names = ("input",)
    output_names = ("output",)

    @dataclass(frozen=True)
    class Attrs:
        to: DType = DType.F32

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        need(len(inputs) == 2 and inputs[1] is not None, self.name, "needs a target_type input")
        assert inputs[1] is not None
        extra = set(onnx_attrs) - {"saturate"}
        if extra:
            raise UnsupportedOpError(f"CastLike: attribute(s) {sorted(extra)} are not supported")
        return self.Attrs(to=inputs[1].type.dtype), inputs[:1]

    infer = Cast.infer
    evaluate = Cast.evaluate


@register
class Identity(OpDef):
    """The input unchanged."""

    onnx_op = "Identity"
    category = "shape"
    input_names = ("input",)
    output_names = ("output",)

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        return [present(inputs[:1], self.name)[0].type]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        return [args[0]]


@register
class Dropout(OpDef):
    """Inference-mode dropout: the input unchanged (the optional mask output is not supported)."""

    onnx_op = "Dropout"
    category = "shape"
    input_names = ("data",)
    output_names = ("output",)

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        extra = set(onnx_attrs) - {"seed"}
        if extra:
            raise UnsupportedOpError(f"Dropout: attribute(s) {sorted(extra)} are not supported")
        if len(inputs) > 2 and inputs[2] is not None:
            training = const_of(inputs[2], self.name, "training_mode")
            if bool(np.asarray(training).reshape(-1)[0]):
                raise UnsupportedOpError("Dropout: training_mode=true is not supported", hint="export the model in eval mode")
        return self.Attrs(), inputs[:1]

    infer = Identity.infer
    evaluate = Identity.evaluate
