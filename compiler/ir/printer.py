"""The IR's textual form: the printer (``tinyc.ir.parser`` reads it back).

``parse_graph(print_graph(g))`` rebuilds ``g`` exactly, and printing that again
gives the same text. Constants are exact: small ones are written as literals
only when the literal gives back the very same bytes, everything else as the
raw little-endian bytes in hex. The format is documented in docs/ir.md.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import re
import typing
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyc.ir.core import Graph, Loc, Node, Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import attr_fields, coerce_attr
from tinyc.ir.types import QuantParams, TensorType

# A line holding only this separates graphs in one text (MLIR's split-input-file).
SEPARATOR = "// -----"

# Constants with more elements than this are printed in hex unless they are a splat.
LITERAL_MAX_ELEMENTS = 16

_BARE_NAME = re.compile(r"[A-Za-z0-9_$.][A-Za-z0-9_$.\-]*")


# -- names and strings ----------------------------------------------------------


def quote(text: str) -> str:
    """A double-quoted string literal (JSON escapes; non-ASCII characters kept as they are)."""
    return json.dumps(text, ensure_ascii=False)


def _ident(sigil: str, name: str) -> str:
    return sigil + (name if _BARE_NAME.fullmatch(name) else quote(name))


def value_ref(name: str) -> str:
    """``%name``, or ``%"..."`` when the name is not a simple identifier."""
    return _ident("%", name)


def graph_ref(name: str) -> str:
    return _ident("@", name)


# -- numbers --------------------------------------------------------------------


def parse_elements(texts: Sequence[str], dtype: DType) -> np.ndarray:
    """Literal element texts (``1``, ``-0.0``, ``inf``, ``true``) to a 1-D array of ``dtype``.

    The parser and the printer's exactness check share this function, so a
    literal is printed only when it reads back to the same bytes.
    Raises ValueError for text that does not fit the dtype.
    """
    if dtype == DType.BOOL:
        flags = []
        for t in texts:
            if t not in ("true", "false", "0", "1"):
                raise ValueError(f"{t!r} is not a bool (use true or false)")
            flags.append(t in ("true", "1"))
        return np.array(flags, dtype=np.bool_)
    if dtype.is_float:
        vals = []
        for t in texts:
            if t in ("true", "false"):
                raise ValueError(f"{t!r} is not a number")
            vals.append(float(t))
        return np.array(vals, dtype=np.float64).astype(dtype.numpy)
    ints = []
    for t in texts:
        if not re.fullmatch(r"[+-]?\d+", t):
            raise ValueError(f"{t!r} is not an integer")
        i = int(t)
        if not dtype.qmin <= i <= dtype.qmax:
            raise ValueError(f"{i} does not fit {dtype.short} ({dtype.qmin}..{dtype.qmax})")
        ints.append(i)
    return np.array(ints, dtype=dtype.numpy)


def _element_text(x: Any, dtype: DType) -> str:
    if dtype == DType.BOOL:
        return "true" if bool(x) else "false"
    if dtype.is_float:
        short = str(x)  # NumPy's shortest text that identifies the value in its own precision
        if dtype != DType.F64 and parse_elements([short], dtype).tobytes() != np.asarray(x).tobytes():
            return repr(float(x))  # the exact double; it converts back without rounding
        return short
    return str(int(x))


def format_scale(s: float) -> str:
    """A quantization scale (a float32 value) as the shortest text that gives it back."""
    return _element_text(np.float32(s), DType.F32)


# -- types ----------------------------------------------------------------------


def format_quant(q: QuantParams) -> str:
    if q.axis is None:
        return f"{{q: scale={format_scale(q.scale[0])}, zp={q.zero_point[0]}}}"
    scales = ", ".join(format_scale(s) for s in q.scale)
    zps = ", ".join(str(z) for z in q.zero_point)
    return f"{{q: axis={q.axis}, scale=[{scales}], zp=[{zps}]}}"


def format_type(t: TensorType) -> str:
    """``f32[1,48]``, ``i8[1,50]{q: scale=0.0123, zp=-3}``."""
    text = f"{t.dtype.short}[{','.join(str(d) for d in t.shape)}]"
    return text + format_quant(t.quant) if t.quant is not None else text


# -- constants ------------------------------------------------------------------


def _le_bytes(arr: np.ndarray) -> bytes:
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()


def _human_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def _literal(flat: np.ndarray, dtype: DType) -> list[str] | None:
    """Element texts that read back to exactly these bytes, or None."""
    texts = [_element_text(x, dtype) for x in flat]
    if parse_elements(texts, dtype).tobytes() != flat.tobytes():
        return None  # NaN payloads, negative NaN, bool bytes other than 0/1
    return texts


def format_dense(arr: np.ndarray, *, elide_over: int | None = None) -> str:
    """``dense<...>``: a splat, a short literal list, hex bytes, or (for reading only) an elided summary."""
    dtype = DType.from_numpy(arr.dtype.newbyteorder("="))
    flat = np.ascontiguousarray(arr.reshape(-1), dtype=dtype.numpy)
    raw = _le_bytes(flat)
    if flat.size >= 1:
        rows = flat.view(np.uint8).reshape(flat.size, dtype.itemsize)
        if (rows == rows[0]).all():
            splat = _literal(flat[:1], dtype)
            if splat is not None:
                return f"dense<{splat[0]}>"
    if elide_over is not None and len(raw) > elide_over:
        return f"dense<elided {_human_size(len(raw))} sha={hashlib.sha256(raw).hexdigest()[:8]}>"
    if flat.size <= LITERAL_MAX_ELEMENTS:
        texts = _literal(flat, dtype)
        if texts is not None:
            return f"dense<[{', '.join(texts)}]>"
    return f'dense<"0x{raw.hex().upper()}">'


# -- attributes -----------------------------------------------------------------


def format_attr_value(v: Any) -> str:
    """A typed attribute value: ints, floats (repr, so they read back exactly), bools, strings, lists, none."""
    if v is None:
        return "none"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, enum.Enum):
        return format_attr_value(v.value)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(format_attr_value(x) for x in v) + "]"
    raise TypeError(f"cannot print attribute value {v!r} of type {type(v).__name__}")


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _normalize(tp: Any, v: Any) -> Any:
    try:
        return coerce_attr(tp, v)
    except (TypeError, ValueError, KeyError):
        return v


def format_attrs(node: Node) -> str:
    """``{name = value, ...}`` with the fields that differ from their defaults, in field order; "" if none."""
    attrs = node.attrs
    if not dataclasses.is_dataclass(attrs):
        return ""
    try:
        hints = attr_fields(type(attrs))
    except Exception:  # unresolvable annotations: print values as they are
        hints = {f.name: typing.Any for f in dataclasses.fields(attrs)}
    parts = []
    for f in dataclasses.fields(attrs):
        tp = hints.get(f.name, typing.Any)
        text = format_attr_value(_normalize(tp, getattr(attrs, f.name)))
        default = _field_default(f)
        if default is not dataclasses.MISSING:
            try:
                if format_attr_value(_normalize(tp, default)) == text:
                    continue
            except TypeError:
                pass
        parts.append(f"{f.name} = {text}")
    return "{" + ", ".join(parts) + "}" if parts else ""


# -- statements -----------------------------------------------------------------


def format_loc(loc: Loc) -> str:
    return "loc(" + ", ".join(quote(p) for p in loc.parts) + ")" if loc.parts else ""


def format_node(node: Node) -> str:
    outs = ", ".join(value_ref(v.name) for v in node.outputs)
    ins = ", ".join("_" if v is None else value_ref(v.name) for v in node.inputs)
    text = f"{outs} = {node.op.name}({ins})"
    attrs = format_attrs(node)
    if attrs:
        text += " " + attrs
    if node.outputs:
        text += " : " + ", ".join(format_type(v.type) for v in node.outputs)
    if not node.outputs or node.name != node.outputs[0].name:
        text += f" name({quote(node.name)})"
    loc = format_loc(node.loc)
    if loc:
        text += " " + loc
    return text


def format_const(v: Value, *, elide_over: int | None = None) -> str:
    assert v.const is not None, f"constant %{v.name} has no data"
    return f"{value_ref(v.name)} = const {format_type(v.type)} {format_dense(v.const, elide_over=elide_over)}"


def print_graph(graph: Graph, *, elide_constants_over: int | None = None) -> str:
    """The graph as text (no trailing newline).

    ``elide_constants_over=n`` replaces the data of constants larger than
    ``n`` bytes by a size and hash summary: shorter to read, but the parser
    refuses such text.
    """
    params = ", ".join(f"{value_ref(v.name)}: {format_type(v.type)}" for v in graph.inputs)
    lines = [f"graph {graph_ref(graph.name)}({params}) {{"]
    for c in graph.constants:
        lines.append("  " + format_const(c, elide_over=elide_constants_over))
    for node in graph.nodes:
        lines.append("  " + format_node(node))
    ret = ", ".join(value_ref(v.name) for v in graph.outputs)
    lines.append(f"  return {ret}" if ret else "  return")
    lines.append("}")
    return "\n".join(lines)


def print_graphs(graphs: Sequence[Graph], *, elide_constants_over: int | None = None) -> str:
    """Several graphs separated by ``// -----`` lines (what ``parse_graphs`` reads)."""
    return f"\n{SEPARATOR}\n".join(print_graph(g, elide_constants_over=elide_constants_over) for g in graphs)
