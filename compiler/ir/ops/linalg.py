"""Matrix products: Gemm, MatMul (batched, broadcasting) and Einsum (ONNX semantics)."""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyc.errors import ShapeError, UnsupportedOpError
from tinyc.ir.core import Value
from tinyc.ir.opdef import EvalContext, OpDef, broadcast_shapes, need, register
from tinyc.ir.ops._spatial import attr_float, attr_int, attr_str, float_only, reject_unknown
from tinyc.ir.types import TensorType


@register
class Gemm(OpDef):
    """Y = alpha * A' @ B' + beta * C, A' and B' optionally transposed, C broadcast to (M, N)."""

    onnx_op = "Gemm"
    category = "linalg"
    input_names = ("A", "B", "C?")

    @dataclass(frozen=True)
    class Attrs:
        alpha: float = 1.0
        beta: float = 1.0
        trans_a: bool = False
        trans_b: bool = False

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown("Gemm", onnx_attrs, ("alpha", "beta", "transA", "transB"))
        flags = []
        for key in ("transA", "transB"):
            val = attr_int("Gemm", onnx_attrs, key, 0)
            if val not in (0, 1):
                raise UnsupportedOpError(f"Gemm: {key} must be 0 or 1, got {val}")
            flags.append(bool(val))
        attrs = self.Attrs(attr_float("Gemm", onnx_attrs, "alpha", 1.0), attr_float("Gemm", onnx_attrs, "beta", 1.0), *flags)
        return attrs, inputs

    def _mnk(self, attrs: Any, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, int, int]:
        need(len(a) == 2 and len(b) == 2, self.name, f"A and B must be matrices, got {list(a)} and {list(b)}")
        m, k = (a[1], a[0]) if attrs.trans_a else a
        kb, n = (b[1], b[0]) if attrs.trans_b else b
        need(k == kb, self.name, f"inner dimensions differ: A' is {m}x{k}, B' is {kb}x{n}")
        return m, n, k

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        need(len(inputs) >= 2 and inputs[0] is not None and inputs[1] is not None, self.name, "needs inputs A and B")
        a, b = inputs[0], inputs[1]
        assert a is not None and b is not None
        m, n, _ = self._mnk(attrs, a.type.shape, b.type.shape)
        c = inputs[2] if len(inputs) > 2 else None
        if c is not None:
            need(
                broadcast_shapes(self.name, c.type.shape, (m, n)) == (m, n),
                self.name,
                f"C of shape {list(c.type.shape)} does not broadcast to [{m}, {n}]",
            )
        return [TensorType(a.type.dtype, (m, n))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        float_only(self.name, ctx)
        a, b = args[0], args[1]
        c = args[2] if len(args) > 2 else None
        assert a is not None and b is not None
        # float path
        a64 = a.astype(np.float64).T if attrs.trans_a else a.astype(np.float64)
        b64 = b.astype(np.float64).T if attrs.trans_b else b.astype(np.float64)
        y = attrs.alpha * (a64 @ b64)
        if c is not None:
            y = y + attrs.beta * c.astype(np.float64)
        return [y.astype(ctx.out_types[0].dtype.numpy)]

    def macs(self, attrs: Any, in_types: Sequence[TensorType | None], out_types: Sequence[TensorType]) -> int:
        a, b = in_types[0], in_types[1]
        assert a is not None and b is not None
        m, n, k = self._mnk(attrs, a.shape, b.shape)
        return m * n * k


def _matmul_shape(op: str, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """Output shape and inner dimension of numpy-style matmul (1-D operands promoted then dropped)."""
    need(len(a) >= 1 and len(b) >= 1, op, "operands must have rank >= 1")
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    need(a2[-1] == b2[-2], op, f"inner dimensions differ: {list(a)} @ {list(b)}")
    batch = broadcast_shapes(op, a2[:-2], b2[:-2])
    out = (*batch, *([a2[-2]] if len(a) > 1 else []), *([b2[-1]] if len(b) > 1 else []))
    return out, a2[-1]


@register
class MatMul(OpDef):
    """Matrix product with NumPy semantics: batched, broadcasting, 1-D operands promoted."""

    onnx_op = "MatMul"
    category = "linalg"
    input_names = ("A", "B")

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown("MatMul", onnx_attrs, ())
        return self.Attrs(), inputs

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        need(len(inputs) == 2 and inputs[0] is not None and inputs[1] is not None, self.name, "needs inputs A and B")
        a, b = inputs[0], inputs[1]
        assert a is not None and b is not None
        need(a.type.dtype == b.type.dtype, self.name, f"input types differ: {a.type.dtype.short} vs {b.type.dtype.short}")
        shape, _ = _matmul_shape(self.name, a.type.shape, b.type.shape)
        return [TensorType(a.type.dtype, shape)]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        float_only(self.name, ctx)
        a, b = args[0], args[1]
        assert a is not None and b is not None
        out = ctx.out_types[0].dtype.numpy
        if out.kind == "f":  # float path
            return [np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(out)]
        return [np.matmul(a.astype(np.int64), b.astype(np.int64)).astype(out)]

    def macs(self, attrs: Any, in_types: Sequence[TensorType | None], out_types: Sequence[TensorType]) -> int:
        a, b = in_types[0], in_types[1]
        assert a is not None and b is not None
        shape, k = _matmul_shape(self.name, a.shape, b.shape)
        return math.prod(shape) * k


# -- Einsum ----------------------------------------------------------------------

_LETTERS = set(string.ascii_letters)


def parse_einsum(equation: str, shapes: Sequence[tuple[int, ...]]) -> tuple[list[str], str, dict[str, int]]:
    """Expand ``...`` and check an einsum equation against operand shapes.

    Returns per-operand label strings, the output labels and each label's size.
    Broadcast (``...``) dimensions are given letters the equation does not use,
    so they cannot clash with the user's labels.
    """
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ShapeError(f"Einsum: equation {equation!r} has {len(terms)} operands, the node has {len(shapes)} inputs")
    for t in [*terms, rhs]:
        body = t.replace("...", "")
        if not set(body) <= _LETTERS or t.count("...") > 1:
            raise ShapeError(f"Einsum: malformed term {t!r} in equation {equation!r}")
    used = set(eq) & _LETTERS
    spare = [c for c in string.ascii_letters[::-1] if c not in used]
    ell_rank = 0
    for t, shp in zip(terms, shapes, strict=True):
        n_named = len(t.replace("...", ""))
        if "..." in t:
            ell_rank = max(ell_rank, len(shp) - n_named)
            if len(shp) < n_named:
                raise ShapeError(f"Einsum: term {t!r} names {n_named} axes, the operand has rank {len(shp)}")
        elif len(shp) != n_named:
            raise ShapeError(f"Einsum: term {t!r} names {n_named} axes, the operand has rank {len(shp)}")
    if ell_rank > len(spare):
        raise ShapeError(f"Einsum: too many broadcast dimensions in {equation!r}")
    ell_labels = "".join(reversed(spare[:ell_rank]))  # outermost first
    sizes: dict[str, int] = {}
    expanded: list[str] = []
    for t, shp in zip(terms, shapes, strict=True):
        if "..." in t:
            r = len(shp) - len(t.replace("...", ""))
            t = t.replace("...", ell_labels[ell_rank - r :])
        for label, d in zip(t, shp, strict=True):
            old = sizes.get(label)
            if old is None or old == 1:
                sizes[label] = d
            elif d != 1 and d != old:
                raise ShapeError(f"Einsum: label {label!r} has sizes {old} and {d} in {equation!r}")
        expanded.append(t)
    if arrow:
        if "..." in rhs:
            rhs = rhs.replace("...", ell_labels)
        elif ell_rank:
            raise ShapeError(f"Einsum: the output of {equation!r} drops the '...' dimensions")
        for label in rhs:
            if label not in sizes:
                raise ShapeError(f"Einsum: output label {label!r} of {equation!r} is not in any input")
        if len(set(rhs)) != len(rhs):
            raise ShapeError(f"Einsum: repeated output label in {equation!r}")
    else:
        counts = {c: "".join(expanded).count(c) for c in sizes}
        rhs = ell_labels + "".join(sorted(c for c in sizes if counts[c] == 1 and c not in ell_labels))
    return expanded, rhs, sizes


@register
class Einsum(OpDef):
    """Einstein summation over the inputs as given by the equation (NumPy semantics)."""

    onnx_op = "Einsum"
    category = "linalg"
    input_names = ("Inputs*",)

    @dataclass(frozen=True)
    class Attrs:
        equation: str = ""

    def import_onnx(self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int) -> tuple[Any, list[Value | None]]:
        reject_unknown("Einsum", onnx_attrs, ("equation",))
        eq = attr_str("Einsum", onnx_attrs, "equation", "").replace(" ", "")
        if not eq:
            raise UnsupportedOpError("Einsum: the equation attribute is missing or empty")
        if any(v is None for v in inputs):
            raise UnsupportedOpError("Einsum: empty input names are not allowed")
        return self.Attrs(eq), inputs

    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        need(len(inputs) >= 1 and all(v is not None for v in inputs), self.name, "needs one or more inputs")
        vals = [v for v in inputs if v is not None]
        need(len({v.type.dtype for v in vals}) == 1, self.name, "inputs have different element types")
        _, rhs, sizes = parse_einsum(attrs.equation, [v.type.shape for v in vals])
        return [TensorType(vals[0].type.dtype, tuple(sizes[c] for c in rhs))]

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        float_only(self.name, ctx)
        arrays = [a for a in args if a is not None]
        terms, rhs, _ = parse_einsum(attrs.equation, [a.shape for a in arrays])
        out = ctx.out_types[0].dtype.numpy
        acc = np.float64 if out.kind == "f" else np.int64  # float path / integer path
        y = np.einsum(f"{','.join(terms)}->{rhs}", *[a.astype(acc) for a in arrays], optimize=True)
        return [np.asarray(y).astype(out)]

    def macs(self, attrs: Any, in_types: Sequence[TensorType | None], out_types: Sequence[TensorType]) -> int:
        shapes = [t.shape for t in in_types if t is not None]
        _, _, sizes = parse_einsum(attrs.equation, shapes)
        if len(shapes) < 2:
            return 0
        # the naive loop nest over every label, one multiply-accumulate per product
        return math.prod(sizes.values())
