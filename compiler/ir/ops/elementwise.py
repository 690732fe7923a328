"""Element-wise arithmetic and activations (ONNX semantics)."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Value
from tinyc.ir.opdef import EvalContext, attrs_from_dict, broadcast_shapes, const_of, need, register
from tinyc.ir.ops import quantized as q
from tinyc.ir.ops._base import BinaryOp, UnaryOp, VariadicOp
from tinyc.ir.types import TensorType

_erf = np.vectorize(math.erf, otypes=[np.float64])

# -- binary arithmetic -------------------------------------------------------------


@register
class Add(BinaryOp):
    """Element-wise sum with broadcasting."""

    onnx_op = "Add"
    fn = staticmethod(np.add)

    def evaluate_quantized(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        return [q.eval_add(args, ctx, self.name)]


@register
class Sub(BinaryOp):
    """Element-wise difference with broadcasting."""

    onnx_op = "Sub"
    fn = staticmethod(np.subtract)


@register
class Mul(BinaryOp):
    """Element-wise product with broadcasting."""

    onnx_op = "Mul"
    fn = staticmethod(np.multiply)

    def evaluate_quantized(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        return [q.eval_mul(args, ctx, self.name)]


@register
class Div(BinaryOp):
    """Element-wise quotient with broadcasting; integer division truncates toward zero."""

    onnx_op = "Div"

    def compute(self, attrs: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.dtype.kind in "iu":
            q = np.floor_divide(a, b)
            # floor_divide rounds toward -inf; ONNX (and C) truncate toward zero.
            fix = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
            return q + fix.astype(q.dtype)
        return np.divide(a, b)


@register
class Mod(BinaryOp):
    """Element-wise remainder: sign of the divisor (fmod=0, integers) or of the dividend (fmod=1)."""

    onnx_op = "Mod"

    @dataclass(frozen=True)
    class Attrs:
        fmod: bool = False

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        out = super().infer(attrs, inputs)
        if out[0].dtype.is_float and not attrs.fmod:
            raise UnsupportedOpError("Mod: float inputs need fmod=1", hint="set the fmod attribute to 1")
        return out

    def compute(self, attrs: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.fmod(a, b) if attrs.fmod else np.mod(a, b)


@register
class Pow(BinaryOp):
    """Element-wise power base ** exponent; the exponent may have another dtype, the result has the base's."""

    onnx_op = "Pow"
    input_names = ("X", "Y")

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        x, y = inputs[0], inputs[1]
        need(x is not None and y is not None, self.name, "needs two inputs")
        assert x is not None and y is not None
        return [TensorType(x.type.dtype, broadcast_shapes(self.name, x.type.shape, y.type.shape))]

    def compute(self, attrs: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.power(a.astype(np.float64), b.astype(np.float64))


# -- variadic ----------------------------------------------------------------------


@register
class Max(VariadicOp):
    """Element-wise maximum of one or more inputs with broadcasting."""

    onnx_op = "Max"
    fn = staticmethod(np.maximum)


@register
class Min(VariadicOp):
    """Element-wise minimum of one or more inputs with broadcasting."""

    onnx_op = "Min"
    fn = staticmethod(np.minimum)


@register
class Sum(VariadicOp):
    """Element-wise sum of one or more inputs with broadcasting."""

    onnx_op = "Sum"
    fn = staticmethod(np.add)


@register
class Mean(VariadicOp):
    """Element-wise mean of one or more inputs with broadcasting."""

    onnx_op = "Mean"

    def compute(self, attrs: Any, arrays: list[np.ndarray]) -> np.ndarray:
        total = arrays[0].astype(np.float32)
        for a in arrays[1:]:
            total = total + a
        return total / np.float32(len(arrays))


# -- unary math --------------------------------------------------------------------


@register
class Neg(UnaryOp):
    """-x."""

    onnx_op = "Neg"
    fn = staticmethod(np.negative)


@register
class Abs(UnaryOp):
    """|x|."""

    onnx_op = "Abs"
    fn = staticmethod(np.abs)


@register
class Sign(UnaryOp):
    """-1, 0 or 1 by the sign of x."""

    onnx_op = "Sign"
    fn = staticmethod(np.sign)


@register
class Sqrt(UnaryOp):
    """Square root (NaN below zero)."""

    onnx_op = "Sqrt"
    float_only = True
    fn = staticmethod(np.sqrt)


@register
class Reciprocal(UnaryOp):
    """1 / x."""

    onnx_op = "Reciprocal"
    float_only = True
    fn = staticmethod(np.reciprocal)


@register
class Exp(UnaryOp):
    """e ** x."""

    onnx_op = "Exp"
    float_only = True
    fn = staticmethod(np.exp)


@register
class Log(UnaryOp):
    """Natural logarithm."""

    onnx_op = "Log"
    float_only = True
    fn = staticmethod(np.log)


@register
class Cos(UnaryOp):
    """Cosine."""

    onnx_op = "Cos"
    float_only = True
    fn = staticmethod(np.cos)


@register
class Sin(UnaryOp):
    """Sine."""

    onnx_op = "Sin"
    float_only = True
    fn = staticmethod(np.sin)


@register
class Erf(UnaryOp):
    """The Gauss error function."""

    onnx_op = "Erf"
    float_only = True
    fn = staticmethod(_erf)


@register
class Floor(UnaryOp):
    """Round toward -inf."""

    onnx_op = "Floor"
    float_only = True
    fn = staticmethod(np.floor)


@register
class Ceil(UnaryOp):
    """Round toward +inf."""

    onnx_op = "Ceil"
    float_only = True
    fn = staticmethod(np.ceil)


@register
class Round(UnaryOp):
    """Round to the nearest integer, halves to even."""

    onnx_op = "Round"
    float_only = True
    fn = staticmethod(np.rint)


# -- activations -------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def _softplus(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return np.logaddexp(0.0, x)


@register
class Relu(UnaryOp):
    """max(x, 0)."""

    onnx_op = "Relu"
    category = "activation"
    fn = staticmethod(lambda x: np.maximum(x, 0))

    def evaluate_quantized(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        return [q.eval_clamp(args[0], ctx, self.name, 0.0, None)]


@register
class LeakyRelu(UnaryOp):
    """x if x >= 0 else alpha * x."""

    onnx_op = "LeakyRelu"
    category = "activation"
    float_only = True

    @dataclass(frozen=True)
    class Attrs:
        alpha: float = 0.01

    def compute(self, attrs: Any, x: np.ndarray) -> np.ndarray:
        return np.where(x >= 0, x, x * np.float32(attrs.alpha))


@register
class PRelu(BinaryOp):
    """x if x >= 0 else slope * x, the slope broadcast to x's shape."""

    onnx_op = "PRelu"
    category = "activation"
    input_names = ("X", "slope")

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        out = super().infer(attrs, inputs)
        x = inputs[0]
        assert x is not None
        need(out[0].shape == x.type.shape, self.name, f"slope shape {list(inputs[1].type.shape)} does not broadcast to {list(x.type.shape)}")  # type: ignore[union-attr]
        return out

    def compute(self, attrs: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(a >= 0, a, a * b)


@register
class Sigmoid(UnaryOp):
    """1 / (1 + e ** -x)."""

    onnx_op = "Sigmoid"
    category = "activation"
    float_only = True
    quantized_ok = True
    fn = staticmethod(_sigmoid)

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        out = super().infer(attrs, inputs)[0]
        return [out.with_quant(q.fixed_output_quant(self.name, out.dtype)) if out.dtype.is_int else out]

    def evaluate_quantized(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        return [q.eval_logistic(args[0], ctx)]


@register
class Tanh(UnaryOp):
    """Hyperbolic tangent."""

    onnx_op = "Tanh"
    category = "activation"
    float_only = True
    quantized_ok = True
    fn = staticmethod(np.tanh)

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        out = super().infer(attrs, inputs)[0]
        return [out.with_quant(q.fixed_output_quant(self.name, out.dtype)) if out.dtype.is_int else out]

    def evaluate_quantized(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        return [q.eval_tanh(args[0], ctx)]


@register
class HardSigmoid(UnaryOp):
    """max(0, min(1, alpha * x + beta))."""

    onnx_op = "HardSigmoid"
    category = "activation"
    float_only = True

    @dataclass(frozen=True)
    class Attrs:
        alpha: float = 0.2
        beta: float = 0.5

    def compute(self, attrs: Any, x: np.ndarray) -> np.ndarray:
        return np.clip(np.float32(attrs.alpha) * x + np.float32(attrs.beta), 0, 1)


@register
class HardSwish(UnaryOp):
    """x * max(0, min(1, x / 6 + 1 / 2))."""

    onnx_op = "HardSwish"
    category = "activation"
    float_only = True
    quantized_ok = True

    def compute(self, attrs: Any, x: np.ndarray) -> np.ndarray:
        return x * np.clip(x * np.float32(1 / 6) + np.float32(0.5), 0, 1)

    def evaluate_quantized(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        return [q.eval_hard_swish(args[0], ctx)]


@register
class Elu(UnaryOp):
    """x if x > 0 else alpha * (e ** x - 1)."""

    onnx_op = "Elu"
    category = "activation"
    float_only = True

    @dataclass(frozen=True)
    class Attrs:
        alpha: float = 1.0

    def compute(self, attrs: Any, x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x, attrs.alpha * np.expm1(x.astype(np.float64)))


@register
class Selu(UnaryOp):
    """gamma * (x if x > 0 else alpha * (e ** x - 1))."""

    onnx_op = "Selu"
    category = "activation"
    float_only = True

    @dataclass(frozen=True)
    class Attrs:
        alpha: float = 1.67326319217681884765625
        gamma: float = 1.05070102214813232421875

    def compute(self, attrs: Any, x: np.ndarray) -> np.ndarray:
        x64 = x.astype(np.float64)
        return attrs.gamma * np.where(x64 > 0, x64, attrs.alpha * np.expm1(x64))


@register
class Softplus(UnaryOp):
    """log(1 + e ** x)."""

    onnx_op = "Softplus"
    category = "activation"
    float_only = True
    fn = staticmethod(_softplus)


@register
class Softsign(UnaryOp):
    """x / (1 + |x|)."""

    onnx_op = "Softsign"
    category = "activation"
    float_only = True
    fn = staticmethod(lambda x: x / (1 + np.abs(x)))


@register
class Mish(UnaryOp):
    """x * tanh(softplus(x)) (opset 18)."""

    onnx_op = "Mish"
    category = "activation"
    float_only = True
    fn = staticmethod(lambda x: x * np.tanh(_softplus(x)))


class GeluApprox(enum.Enum):
    """How Gelu evaluates the Gaussian CDF."""

    NONE = "none"
    TANH = "tanh"


@register
class Gelu(UnaryOp):
    """x * Phi(x), exactly with erf or with the tanh approximation (opset 20)."""

    onnx_op = "Gelu"
    category = "activation"
    float_only = True

    @dataclass(frozen=True)
    class Attrs:
        approximate: GeluApprox = GeluApprox.NONE

    def compute(self, attrs: Any, x: np.ndarray) -> np.ndarray:
        x64 = x.astype(np.float64)
        if attrs.approximate is GeluApprox.TANH:
            inner = math.sqrt(2.0 / math.pi) * (x64 + 0.044715 * x64**3)
            return 0.5 * x64 * (1.0 + np.tanh(inner))
        return 0.5 * x64 * (1.0 + _erf(x64 / math.sqrt(2.0)))


@register
class Clip(UnaryOp):
    """min(max(x, min), max); the bounds (inputs since opset 11) are stored as attributes."""

    onnx_op = "Clip"
    category = "activation"

    @dataclass(frozen=True)
    class Attrs:
        min: float | None = None
        max: float | None = None

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        bounds: dict[str, float | None] = {}
        for i, key in ((1, "min"), (2, "max")):
            v = inputs[i] if i < len(inputs) else None
            bounds[key] = None if v is None else float(np.asarray(const_of(v, self.name, key)).reshape(-1)[0])
        attrs = attrs_from_dict(self, {**onnx_attrs, **{k: v for k, v in bounds.items() if v is not None}})
        return attrs, inputs[:1]

    def evaluate_quantized(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        assert args[0] is not None
        return [q.eval_clamp(args[0], ctx, self.name, attrs.min, attrs.max)]

    def compute(self, attrs: Any, x: np.ndarray) -> np.ndarray:
        out = x
        if attrs.min is not None:
            out = np.maximum(out, np.asarray(attrs.min).astype(x.dtype))
        if attrs.max is not None:
            out = np.minimum(out, np.asarray(attrs.max).astype(x.dtype))
        return out

