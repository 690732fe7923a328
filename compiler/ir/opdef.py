"""How an op is defined: one class per op, registered once.

An op definition carries, in one place: its name, a one-line doc (the class
docstring), its typed attributes (a frozen dataclass ``Attrs``), its arity,
its type/shape inference, and its NumPy reference semantics (``evaluate``,
which sees the input and output types so integer semantics can follow the
quantization parameters). ``OPS`` is the closed registry; the README's
support table is generated from it.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from tinyc.errors import ShapeError, UnsupportedOpError
from tinyc.ir.types import TensorType

if typing.TYPE_CHECKING:
    from tinyc.ir.core import Value


@dataclass(frozen=True)
class NoAttrs:
    """An op without attributes."""


@dataclass
class EvalContext:
    """What ``evaluate`` may look at besides the input arrays."""

    in_types: Sequence[TensorType | None]
    out_types: Sequence[TensorType]
    node_name: str = ""


class OpDef:
    """Base class of op definitions. Subclass, set the class attributes, ``@register``."""

    name: ClassVar[str] = ""
    Attrs: ClassVar[type] = NoAttrs
    # Input names in order; a trailing "?" marks an optional input, a "*" on the
    # last one makes it variadic (one or more).
    input_names: ClassVar[tuple[str, ...]] = ("X",)
    output_names: ClassVar[tuple[str, ...]] = ("Y",)
    # ONNX op type this op imports from with the same semantics (None: tinyc-only).
    onnx_op: ClassVar[str | None] = None
    # Group for the docs' support table.
    category: ClassVar[str] = "misc"

    @property
    def doc(self) -> str:
        return (type(self).__doc__ or "").strip().splitlines()[0] if type(self).__doc__ else ""

    # -- arity --------------------------------------------------------------
    @property
    def min_inputs(self) -> int:
        return sum(1 for n in self.input_names if not n.endswith("?"))

    @property
    def max_inputs(self) -> int | None:
        if self.input_names and self.input_names[-1].endswith("*"):
            return None
        return len(self.input_names)

    @property
    def num_outputs(self) -> int | None:
        """Fixed output count, or None when it depends on attributes (e.g. Split)."""
        if self.output_names and self.output_names[-1].endswith("*"):
            return None
        return len(self.output_names)

    # -- semantics (override) ----------------------------------------------
    def infer(self, attrs: Any, inputs: Sequence[Value | None]) -> list[TensorType]:
        """Output types from the attributes and inputs (whose ``.const`` may be read)."""
        raise NotImplementedError(f"{self.name}.infer")

    def evaluate(self, attrs: Any, args: Sequence[np.ndarray | None], ctx: EvalContext) -> list[np.ndarray]:
        """Reference semantics in NumPy."""
        raise NotImplementedError(f"{self.name}.evaluate")

    # -- ONNX import hook ---------------------------------------------------
    def import_onnx(
        self, onnx_attrs: dict[str, Any], inputs: list[Value | None], opset: int
    ) -> tuple[Any, list[Value | None]]:
        """Turn an ONNX node (attributes already plain Python) into (Attrs, IR inputs).

        The default maps ONNX attribute names onto the dataclass fields of the
        same name, rejects unknown ones, and keeps the inputs. Ops override it
        to move constant inputs (shapes, axes, pads) into typed attributes, to
        resolve ``auto_pad``, or to follow older opsets.
        """
        return attrs_from_dict(self, onnx_attrs), inputs

    def macs(self, attrs: Any, in_types: Sequence[TensorType | None], out_types: Sequence[TensorType]) -> int:
        """Multiply-accumulates of one execution (0 for data movement)."""
        return 0

    def __repr__(self) -> str:
        return f"<op {self.name}>"


OPS: dict[str, OpDef] = {}


def register(cls: type[OpDef]) -> type[OpDef]:
    """Class decorator: instantiate the op definition and add it to ``OPS``."""
    if not cls.name:
        cls.name = cls.__name__
    if cls.name in OPS:
        raise RuntimeError(f"op {cls.name} registered twice")
    OPS[cls.name] = cls()
    return cls


def get_op(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise UnsupportedOpError(f"unknown op {name!r}", hint=f"known ops: {', '.join(sorted(OPS))}") from None


def onnx_ops() -> dict[str, OpDef]:
    """ONNX op type -> op definition, for the importer."""
    return {op.onnx_op: op for op in OPS.values() if op.onnx_op}


# -- attributes ---------------------------------------------------------------


def attr_fields(attrs_type: type) -> dict[str, Any]:
    """Field name -> resolved type annotation of an ``Attrs`` dataclass."""
    hints = typing.get_type_hints(attrs_type)
    return {f.name: hints[f.name] for f in dataclasses.fields(attrs_type)}


def coerce_attr(tp: Any, value: Any) -> Any:
    """Convert a plain Python value (from ONNX or the text parser) to the annotated field type."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None:
            return None
        non_none = [a for a in args if a is not type(None)]
        last: Exception | None = None
        for a in non_none:
            try:
                return coerce_attr(a, value)
            except (TypeError, ValueError) as exc:
                last = exc
        raise TypeError(str(last))
    if origin is tuple:
        if not isinstance(value, (list, tuple, np.ndarray)):
            value = [value]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce_attr(args[0], v) for v in value)
        return tuple(coerce_attr(a, v) for a, v in zip(args, value))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if isinstance(value, tp):
            return value
        if isinstance(value, bytes):
            value = value.decode()
        try:
            return tp(value)
        except ValueError:
            return tp[str(value)]
    if tp is bool:
        return bool(value)
    if tp is int:
        if isinstance(value, float) and not value.is_integer():
            raise TypeError(f"expected an integer, got {value}")
        return int(value)
    if tp is float:
        return float(value)
    if tp is str:
        return value.decode() if isinstance(value, bytes) else str(value)
    return value


def attrs_from_dict(op: OpDef, values: dict[str, Any], *, where: str = "") -> Any:
    fields = attr_fields(op.Attrs)
    kwargs: dict[str, Any] = {}
    for key, val in values.items():
        if key not in fields:
            raise UnsupportedOpError(
                f"attribute {key!r} of {op.name} is not supported",
                where=where or None,
                hint=f"{op.name} takes: {', '.join(fields) or 'no attributes'}",
            )
        try:
            kwargs[key] = coerce_attr(fields[key], val)
        except (TypeError, ValueError, KeyError) as exc:
            raise UnsupportedOpError(f"bad value {val!r} for attribute {key!r} of {op.name}: {exc}", where=where or None) from None
    return op.Attrs(**kwargs)


# -- helpers for op definitions ------------------------------------------------


def need(cond: bool, op: str, msg: str) -> None:
    """Raise a ShapeError for ``op`` unless ``cond``."""
    if not cond:
        raise ShapeError(f"{op}: {msg}")


def broadcast_shapes(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(f"{op}: shapes {' and '.join(str(list(s)) for s in shapes)} do not broadcast") from None


def norm_axis(op: str, axis: int, rank: int) -> int:
    need(-rank <= axis < max(rank, 1), op, f"axis {axis} out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def const_of(v: Value | None, op: str, what: str) -> np.ndarray:
    """The constant data of an input that must be constant (shapes, axes, pads)."""
    if v is None or v.const is None:
        raise ShapeError(
            f"{op}: input {what!r} must be a constant for tinyc's static shapes",
            hint="export the model with constant shapes, or pass --input-shape so shape subgraphs fold",
        )
    return v.const
