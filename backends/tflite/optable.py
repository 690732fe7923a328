"""The op table: TFLite builtins <-> tinyc IR ops, one entry per family, both directions.

Each ``Mapping`` names the builtins it reads and the IR ops it writes, and
holds both conversions next to each other, so the reader
(``tinyc.frontends.tflite``) and the writer (``tinyc.backends.tflite``) stay
two views of one table. ``op_version`` gives the lowest builtin version that
expresses an operator with the given tensor types (older runtimes and the
Edge TPU compiler reject versions newer than they know).

The contexts (``ReadCtx``, ``WriteCtx``) are what an entry may ask of the
reader or writer; the entries themselves live in ``ops_nn.py`` and
``ops_misc.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from tinyc.errors import ModelLoadError, UnsupportedOpError
from tinyc.ir.core import Graph, Node, Value
from tinyc.ir.dtypes import DType
from tinyc.ir.types import TensorType

INT8_MIN, INT8_MAX = -128, 127


class ReadCtx(Protocol):
    """What a read conversion may ask of the TFLite reader (one operator at a time)."""

    graph: Graph
    options: Any  # the operator's builtin options object (or None)
    builtin: str

    def inputs(self) -> list[int]: ...
    def outputs(self) -> list[int]: ...
    def value(self, k: int) -> Value | None: ...
    def const(self, k: int) -> np.ndarray | None: ...
    def ttype(self, k: int) -> TensorType: ...
    def emit(self, op: str, inputs: Sequence[Value | None], attrs: Any = None, *, out: int) -> Value: ...
    def emit_tmp(self, op: str, inputs: Sequence[Value | None], attrs: Any, ttype: TensorType, hint: str) -> Value: ...
    def fail(self, what: str, hint: str | None = None) -> UnsupportedOpError: ...
    def bad(self, what: str) -> ModelLoadError: ...


def options_of(r: ReadCtx, name: str) -> Any:
    """The operator's builtin options of table ``name`` (defaults when absent); another table is a malformed file."""
    from tinyc.backends.tflite.schema import schema

    o = r.options
    if o is None:
        return getattr(schema(), f"{name}T")()
    if type(o).__name__ != f"{name}T":
        raise r.bad(f"{r.builtin} carries {type(o).__name__[:-1]} instead of {name}")
    return o


class WriteCtx(Protocol):
    """What a write conversion may ask of the TFLite writer (one IR node at a time)."""

    edgetpu: bool  # prefer rewrites that keep ops on the Edge TPU

    def tensor(self, v: Value) -> int: ...
    def const(self, data: np.ndarray, name: str, quant: Any = None) -> int: ...
    def temp(self, ttype: TensorType, name: str) -> int: ...
    def op(self, builtin: str, inputs: Sequence[int], outputs: Sequence[int], options: Any = None) -> None: ...
    def note(self, node: Node, text: str) -> None: ...
    def fail(self, node: Node, what: str, hint: str | None = None) -> UnsupportedOpError: ...


class Mapping:
    """One family of TFLite builtins and the IR ops they correspond to."""

    builtins: ClassVar[tuple[str, ...]] = ()  # builtins this entry reads
    # Required (present, non-optional) inputs per builtin read; 1 unless listed. Every builtin read has one output.
    min_inputs: ClassVar[dict[str, int]] = {}
    ir_ops: ClassVar[tuple[str, ...]] = ()  # IR ops this entry writes
    # (builtin, IR op, "both" | "read" | "write") rows for the docs' table; default: every pair, both ways.
    pairs: ClassVar[tuple[tuple[str, str, str], ...]] = ()

    def read(self, r: ReadCtx, op: Any) -> None:
        raise r.fail(f"{r.builtin} is not supported")

    def write(self, w: WriteCtx, node: Node) -> None:
        raise w.fail(node, f"{node.op.name} has no TFLite form")


TABLE: list[Mapping] = []
READERS: dict[str, Mapping] = {}
WRITERS: dict[str, Mapping] = {}


def mapping(cls: type[Mapping]) -> type[Mapping]:
    """Class decorator: add an entry to the table (each builtin and IR op once)."""
    inst = cls()
    for b in cls.builtins:
        if b in READERS:
            raise RuntimeError(f"builtin {b} mapped twice")
        READERS[b] = inst
    for o in cls.ir_ops:
        if o in WRITERS:
            raise RuntimeError(f"IR op {o} mapped twice")
        WRITERS[o] = inst
    TABLE.append(inst)
    return cls


def table_pairs() -> list[tuple[str, str, str]]:
    """(TFLite builtin, IR op, direction) rows for the docs: "both", "read" or "write"."""
    _load_entries()
    rows: list[tuple[str, str, str]] = []
    for m in TABLE:
        rows.extend(m.pairs or tuple((b, o, "both") for b in m.builtins for o in m.ir_ops))
    return sorted(rows)


def _load_entries() -> None:
    from tinyc.backends.tflite import ops_misc, ops_nn  # noqa: F401  (registers the entries)


def reader_for(builtin: str) -> Mapping | None:
    _load_entries()
    return READERS.get(builtin)


def writer_for(op_name: str) -> Mapping | None:
    _load_entries()
    return WRITERS.get(op_name)


# -- fused activations ------------------------------------------------------------------------


def quantize_bound(f: float, scale: float, zp: int) -> int:
    """A real bound in integer units as TFLite's CalculateActivationRangeQuantized does (float32 divide, round half away)."""
    q = float(np.float32(f) / np.float32(scale))
    return int(zp) + int(math.copysign(math.floor(abs(q) + 0.5), q))


def int_clamp(act_min: float | None, act_max: float | None, t: TensorType) -> tuple[int, int]:
    """The integer range a real clamp gives on a quantized tensor type."""
    assert t.quant is not None
    lo, hi = t.dtype.qmin, t.dtype.qmax
    s, z = t.quant.scale[0], t.quant.zero_point[0]
    if act_min is not None:
        lo = max(lo, quantize_bound(act_min, s, z))
    if act_max is not None:
        hi = min(hi, quantize_bound(act_max, s, z))
    return lo, hi


FUSED = {"NONE": (None, None), "RELU": (0.0, None), "RELU_N1_TO_1": (-1.0, 1.0), "RELU6": (0.0, 6.0)}


def choose_activation(act_min: float | None, act_max: float | None, t: TensorType, allow_fused: bool = True) -> tuple[str, tuple[float | None, float | None] | None]:
    """(fused activation name, clamp still to apply after the op or None) for an IR clamp on output type ``t``.

    A clamp matches a fused activation when the real bounds are the same, or,
    on a quantized output, when both give the same integer range (so ``act_min
    = 0`` on an output whose zero point is -128 is no clamp at all).
    """
    quantized = t.quant is not None and t.dtype.is_int and t.quant.is_per_tensor
    if quantized and int_clamp(act_min, act_max, t) == (t.dtype.qmin, t.dtype.qmax):
        return "NONE", None
    if act_min is None and act_max is None:
        return "NONE", None
    if allow_fused:
        for name, (lo, hi) in FUSED.items():
            if (lo, hi) == (act_min, act_max):
                return name, None
        if quantized:
            want = int_clamp(act_min, act_max, t)
            for name, (lo, hi) in FUSED.items():
                if name != "NONE" and int_clamp(lo, hi, t) == want:
                    return name, None
    return "NONE", (act_min, act_max)


def write_clamp(w: WriteCtx, node: Node, src: int, dst: int, t: TensorType, bounds: tuple[float | None, float | None], src_type: TensorType | None = None) -> None:
    """Clamp tensor ``src`` into ``dst`` as standalone ops.

    RELU requantizes from its input's parameters to its output's in every
    interpreter. RELU6 in TFLite Micro (and MAXIMUM/MINIMUM everywhere) does
    not, so when the parameters differ a QUANTIZE (integer requantization)
    comes first; the clamp then runs on the output's grid, which is what
    tinyc's quantized Clip computes.
    """
    if bounds == (0.0, None):
        w.op("RELU", [src], [dst])
        return
    quantized = t.quant is not None and t.dtype.is_int
    cur = src
    if quantized and src_type is not None and (src_type.quant != t.quant or src_type.dtype is not t.dtype):
        cur = w.temp(t, f"{node.name}_requantized")
        w.op("QUANTIZE", [src], [cur])
        w.note(node, "input requantized to the output's parameters before the clamp")
    if bounds in ((0.0, 6.0), (-1.0, 1.0)) and not (quantized and bounds == (-1.0, 1.0)):
        w.op("RELU6" if bounds == (0.0, 6.0) else "RELU_N1_TO_1", [cur], [dst])
        return
    lo, hi = bounds
    steps: list[tuple[str, float]] = [(k, v) for k, v in (("MAXIMUM", lo), ("MINIMUM", hi)) if v is not None]
    if not steps:
        w.op("RESHAPE", [cur, w.const(np.array(t.shape, dtype=np.int32), f"{node.name}_shape")], [dst])
        return
    for i, (builtin, bound) in enumerate(steps):
        if quantized:
            assert t.quant is not None
            q = min(max(quantize_bound(bound, t.quant.scale[0], t.quant.zero_point[0]), t.dtype.qmin), t.dtype.qmax)
            c = w.const(np.full((1,), q, dtype=t.dtype.numpy), f"{node.name}_{builtin.lower()}_bound", t.quant)
        else:
            c = w.const(np.full((1,), bound, dtype=t.dtype.numpy), f"{node.name}_{builtin.lower()}_bound")
        out = dst if i == len(steps) - 1 else w.temp(t, f"{node.name}_clamp_lo")
        w.op(builtin, [cur, c], [out])
        cur = out
    w.note(node, f"clamp [{lo}, {hi}] written as {' + '.join(s for s, _ in steps)}")


def write_with_activation(
    w: WriteCtx,
    node: Node,
    builtin: str,
    inputs: Sequence[int],
    make_options: Callable[[int], Any],
    *,
    allow_fused: bool = True,
    out: tuple[int, TensorType] | None = None,
) -> None:
    """Write ``builtin`` for ``node`` with its fused clamp; a clamp no fused activation expresses follows as its own op.

    ``out`` replaces the node's output by another (tensor, type), for ops written as several operators.
    """
    dst, t = out if out is not None else (w.tensor(node.output), node.output.type)
    act, rest = choose_activation(getattr(node.attrs, "act_min", None), getattr(node.attrs, "act_max", None), t, allow_fused)
    if rest is None:
        w.op(builtin, inputs, [dst], make_options(activation_value(act)))
        return
    tmp = w.temp(t, f"{node.output.name}_unclamped")
    w.op(builtin, inputs, [tmp], make_options(activation_value("NONE")))
    write_clamp(w, node, tmp, dst, t, rest)
    if not allow_fused:
        w.note(node, f"{builtin} takes no fused activation on the Edge TPU: the clamp is a separate op")


def activation_value(name: str) -> int:
    from tinyc.backends.tflite.schema import activation_code

    return activation_code(name)


def read_activation(r: ReadCtx, code: int) -> tuple[float | None, float | None]:
    """The IR clamp of a TFLite fused activation code (TANH and SIGN_BIT are refused)."""
    from tinyc.backends.tflite.schema import activation_name

    name = activation_name(code)
    if name not in FUSED:
        raise r.fail(f"fused activation {name} is not supported", "only NONE, RELU, RELU6 and RELU_N1_TO_1 fuse into tinyc's kernel ops")
    return FUSED[name]


# -- versions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpSignature:
    """What the version of a written operator depends on."""

    builtin: str
    inputs: tuple[DType | None, ...]  # None: an omitted optional input
    outputs: tuple[DType, ...]
    options: Any = None
    per_channel: bool = False
    in_ranks: tuple[int, ...] = ()
    scales: tuple[float, ...] = ()  # MUL: (s1, s2, s_out)


_INT8_V2 = {
    "ADD", "SUB", "AVERAGE_POOL_2D", "MAX_POOL_2D", "SOFTMAX", "MEAN", "RELU", "RELU6", "LOGISTIC", "TANH",
    "CONCATENATION", "PAD", "PADV2", "TRANSPOSE", "MAXIMUM", "MINIMUM", "DEQUANTIZE", "STRIDED_SLICE",
}


def op_version(sig: OpSignature) -> int:
    """The lowest builtin version that expresses ``sig`` (TFLite's versioning rules for what tinyc writes)."""
    b = sig.builtin
    x = sig.inputs[0] if sig.inputs else None
    y = sig.outputs[0] if sig.outputs else None
    if b == "CONV_2D":
        return 3 if (x, y) == (DType.I8, DType.I8) else 1
    if b == "DEPTHWISE_CONV_2D":
        if (x, y) == (DType.I8, DType.I8):
            return 3
        opts = sig.options
        return 2 if opts is not None and (opts.dilationWFactor != 1 or opts.dilationHFactor != 1) else 1
    if b == "FULLY_CONNECTED":
        if len(sig.inputs) < 3 or sig.inputs[2] is None:
            return 6
        if sig.options is not None and sig.options.keepNumDims:
            return 5
        return 4 if (x, y) == (DType.I8, DType.I8) else 1
    if b == "MUL":
        if len(sig.scales) == 3 and sig.scales[0] * sig.scales[1] / sig.scales[2] >= 1.0:
            return 3
        return 2 if x is DType.I8 else 1
    if b in ("MAXIMUM", "MINIMUM", "SUB") and len(sig.in_ranks) == 2 and len(set(sig.in_ranks)) > 1 and max(sig.in_ranks) > 4:
        return 3
    if b in ("PAD", "PADV2") and sig.in_ranks and sig.in_ranks[0] > 4:
        return 4
    if b == "TRANSPOSE" and sig.in_ranks and sig.in_ranks[0] > 4:
        return 4
    if b == "DEQUANTIZE":
        if x is DType.F16:
            return 3
        if x is DType.I8:
            return 5 if sig.per_channel else 2
        return 1
    if b == "QUANTIZE":
        return 3 if sig.per_channel else (2 if y is DType.I16 else 1)
    if b in _INT8_V2:
        return 2 if x is DType.I8 else 1
    return 1
