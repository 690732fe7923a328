"""The IR's textual form: the parser (lark LALR) that rebuilds a Graph.

Ops are looked up in ``OPS``; attributes are checked against and coerced to
the fields of the op's ``Attrs`` dataclass; output types written in the text
are checked against the op's type inference. Every problem is an
``IRParseError`` that names the source, line and column. The format is
documented in docs/ir.md.
"""

from __future__ import annotations

import difflib
import enum
import functools
import json
import typing
from pathlib import Path
from typing import Any

import lark
import numpy as np

from tinyc.errors import IRParseError, TinycError
from tinyc.ir import ops as _ops  # noqa: F401  (fills the op registry)
from tinyc.ir.core import UNKNOWN_LOC, Graph, Loc, Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import OPS, OpDef, attr_fields, coerce_attr
from tinyc.ir.printer import SEPARATOR, format_type, parse_elements
from tinyc.ir.types import QuantParams, TensorType
from tinyc.ir.verifier import verify

_Tree = lark.Tree
_Token = lark.Token

_TOKEN_NAMES = {
    "VALUE_ID": "a value (%name)",
    "GRAPH_ID": "a graph name (@name)",
    "OP_NAME": "an op name",
    "ATTR_NAME": "an attribute name",
    "DTYPE_NAME": "an element type (f32, i8, ...)",
    "INT": "an integer",
    "FLOAT": "a float",
    "STRING": "a string",
    "HEX": 'hex data ("0x...")',
    "HOLE": "_",
    "RETURN": "return",
    "CONST": "const",
    "RBRACE": "}",
    "LBRACE": "{",
    "LPAR": "(",
    "RPAR": ")",
    "LSQB": "[",
    "RSQB": "]",
    "COMMA": ",",
    "COLON": ":",
    "EQUAL": "=",
    "LESSTHAN": "<",
    "MORETHAN": ">",
    "$END": "the end of the text",
}


@functools.lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    grammar = (Path(__file__).parent / "grammar.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=False)


def _ch(tree: Any) -> list[Any]:
    """A parse tree's children (tokens or trees: the grammar says which)."""
    return list(tree.children)


def _unquote(text: str) -> str:
    return json.loads(text) if text.startswith('"') else text


class _Builder:
    """Walks the parse tree of one graph and builds it, checking as it goes."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = text.split("\n")
        self.values: dict[str, Value] = {}

    # -- errors -------------------------------------------------------------
    def error(self, msg: str, at: Any, hint: str | None = None) -> IRParseError:
        line = getattr(at, "line", None)
        column = getattr(at, "column", None)
        if line is None and hasattr(at, "meta") and not at.meta.empty:
            line, column = at.meta.line, at.meta.column
        return make_error(msg, self.source, self.lines, line, column, hint)

    def name_of(self, tok: _Token) -> str:
        try:
            return _unquote(tok.value[1:])
        except json.JSONDecodeError as exc:
            raise self.error(f"bad string escape in name {tok.value}: {exc.msg}", tok) from None

    def string(self, tok: _Token) -> str:
        try:
            return json.loads(tok.value)
        except json.JSONDecodeError as exc:
            raise self.error(f"bad string escape in {tok.value}: {exc.msg}", tok) from None

    def define(self, tok: _Token) -> str:
        name = self.name_of(tok)
        if name in self.values:
            raise self.error(f"value {tok.value} is defined twice", tok, hint="every value name must be unique in a graph (SSA)")
        return name

    def use(self, tok: _Token) -> Value:
        name = self.name_of(tok)
        v = self.values.get(name)
        if v is None:
            raise self.error(f"value {tok.value} is used before it is defined", tok, hint="define it as a graph input, a constant or a node result above this line")
        return v

    # -- graph --------------------------------------------------------------
    def build(self, tree: _Tree) -> Graph:
        gtree = _ch(tree)[0]
        gname_tok = _ch(gtree)[0]
        graph = Graph(self.name_of(gname_tok))
        for child in _ch(gtree)[1:]:
            if child.data == "param":
                tok, ttree = _ch(child)
                name = self.define(tok)
                self.values[name] = graph.add_input(name, self.type(ttree))
            elif child.data == "const_stmt":
                self.const_stmt(graph, child)
            elif child.data == "node_stmt":
                self.node_stmt(graph, child)
            elif child.data == "return_stmt":
                graph.outputs = [self.use(tok) for tok in _ch(child)]
        try:
            verify(graph)
        except TinycError as exc:
            raise self.error(f"the graph does not verify: {exc.what}", gname_tok) from None
        return graph

    # -- types --------------------------------------------------------------
    def type(self, tree: _Tree) -> TensorType:
        dtok = _ch(tree)[0]
        try:
            dtype = DType(dtok.value)
        except ValueError:
            known = ", ".join(d.value for d in DType)
            raise self.error(f"unknown element type {dtok.value!r}", dtok, hint=f"known types: {known}") from None
        dims = [int(t) for t in _ch(tree)[1:] if isinstance(t, _Token)]
        quant = None
        qtrees = [c for c in _ch(tree)[1:] if isinstance(c, _Tree)]
        if qtrees:
            quant = self.quant(qtrees[0])
        try:
            return TensorType(dtype, tuple(dims), quant)
        except ValueError as exc:
            raise self.error(f"bad type: {exc}", tree) from None

    def quant(self, tree: _Tree) -> QuantParams:
        fields: dict[str, Any] = {}
        for qf in _ch(tree):
            key, qv = _ch(qf)
            if key.value not in ("scale", "zp", "axis"):
                raise self.error(f"unknown quantization field {key.value!r}", key, hint="use scale=, zp= and (per axis) axis=")
            if key.value in fields:
                raise self.error(f"quantization field {key.value!r} given twice", key)
            fields[key.value] = (key, [t.value for t in _ch(qv)], qv.data == "qlist")
        if "scale" not in fields:
            raise self.error("quantization needs scale=", tree)
        axis = None
        if "axis" in fields:
            atok, avals, alist = fields["axis"]
            if alist or not _is_int(avals[0]):
                raise self.error("axis= takes one integer", atok)
            axis = int(avals[0])
        stok, scales, slist = fields["scale"]
        ztok, zps, zlist = fields.get("zp", (stok, ["0"] * len(scales), slist))
        if axis is None and (slist or zlist):
            raise self.error("per-tensor quantization takes one scale and one zp; give axis= for per-axis lists", stok)
        if axis is not None and not (slist and zlist):
            raise self.error("per-axis quantization takes lists: axis=A, scale=[...], zp=[...]", stok)
        if any(not _is_int(z) for z in zps):
            raise self.error("zero points must be integers", ztok)
        try:
            return QuantParams(tuple(float(s) for s in scales), tuple(int(z) for z in zps), axis)
        except ValueError as exc:
            raise self.error(f"bad quantization: {exc}", stok) from None

    # -- constants ----------------------------------------------------------
    def const_stmt(self, graph: Graph, tree: _Tree) -> None:
        results, ttree, dense = _ch(tree)
        if len(_ch(results)) != 1:
            raise self.error("a constant defines exactly one value", _ch(results)[1])
        tok = _ch(results)[0]
        name = self.define(tok)
        t = self.type(ttree)
        arr = self.dense(dense, t, tok)
        v = graph.add_const(name, arr, t.quant)
        assert v.name == name
        self.values[name] = v

    def dense(self, tree: _Tree, t: TensorType, name_tok: _Token) -> np.ndarray:
        body = _ch(tree)[0]
        if isinstance(body, _Token) and body.type == "ELIDED":
            raise self.error(
                f"constant {name_tok.value} was printed with its data elided ({body.value.strip()}), so this text cannot be parsed back",
                body,
                hint="print the graph with print_graph(graph) (without elide_constants_over) to get text that parses",
            )
        if isinstance(body, _Token) and body.type == "HEX":
            data = bytes.fromhex(body.value[3:-1]) if len(body.value) % 2 == 0 else None
            if data is None:
                raise self.error("hex data has an odd number of digits", body)
            if len(data) != t.nbytes:
                raise self.error(f"hex data has {len(data)} bytes, type {format_type(t)} needs {t.nbytes}", body)
            le = t.dtype.numpy.newbyteorder("<")
            return np.frombuffer(data, dtype=le).astype(t.dtype.numpy).reshape(t.shape)
        toks = _ch(body) if isinstance(body, _Tree) else [body]
        try:
            flat = parse_elements([tk.value for tk in toks], t.dtype)
        except ValueError as exc:
            raise self.error(f"bad {t.dtype.short} literal: {exc}", body) from None
        if isinstance(body, _Token):  # a splat fills the whole shape
            return np.full(t.shape, flat[0], dtype=t.dtype.numpy)
        if flat.size != t.numel:
            raise self.error(f"{flat.size} elements given, type {format_type(t)} has {t.numel}", body)
        return flat.reshape(t.shape)

    # -- nodes --------------------------------------------------------------
    def node_stmt(self, graph: Graph, tree: _Tree) -> None:
        results, op_tok, *rest = _ch(tree)
        out_names = [self.define(tok) for tok in _ch(results)]
        if len(set(out_names)) != len(out_names):
            raise self.error("a node defines the same value twice", results)
        op = OPS.get(op_tok.value)
        if op is None:
            close = difflib.get_close_matches(op_tok.value, list(OPS), n=3)
            hint = f"did you mean {' or '.join(close)}?" if close else f"known ops: {', '.join(sorted(OPS))}"
            raise self.error(f"unknown op {op_tok.value!r}", op_tok, hint=hint)
        operands: list[Value | None] = []
        attrs_tree = types_tree = None
        node_name: str | None = None
        loc = UNKNOWN_LOC
        for part in rest:
            if part.data == "operand":
                tok = _ch(part)[0]
                operands.append(None if tok.type == "HOLE" else self.use(tok))
            elif part.data == "attr_dict":
                attrs_tree = part
            elif part.data == "type_list":
                types_tree = part
            elif part.data == "name_clause":
                node_name = self.string(_ch(part)[0])
            elif part.data == "loc_clause":
                loc = Loc(tuple(self.string(tk) for tk in _ch(part)))
        n_in = len(operands)
        if n_in < op.min_inputs or (op.max_inputs is not None and n_in > op.max_inputs):
            want = f"{op.min_inputs}" if op.max_inputs == op.min_inputs else f"{op.min_inputs}..{op.max_inputs or 'n'}"
            raise self.error(f"{op.name} takes {want} input(s) ({', '.join(op.input_names)}), got {n_in}", op_tok)
        attrs = self.attrs(op, attrs_tree, op_tok)
        try:
            inferred = op.infer(attrs, operands)
        except Exception as exc:  # a TinycError, or a bug in the op's inference: both belong at this line
            what = exc.what if isinstance(exc, TinycError) else f"{type(exc).__name__}: {exc}"
            raise self.error(f"type inference of {op.name} failed: {what}", op_tok) from None
        if len(inferred) != len(out_names):
            raise self.error(f"{op.name} here has {len(inferred)} result(s), {len(out_names)} name(s) given", results)
        types = inferred
        if types_tree is not None:
            types = [self.type(tt) for tt in _ch(types_tree)]
            if len(types) != len(out_names):
                raise self.error(f"{len(out_names)} result name(s) but {len(types)} type(s)", types_tree)
            for tt, given, want in zip(_ch(types_tree), types, inferred, strict=True):
                if given.dtype != want.dtype or given.shape != want.shape:
                    raise self.error(f"type {format_type(given)} does not match the inferred {format_type(want)}", tt)
                if want.quant is not None and given.quant != want.quant:
                    raise self.error(f"quantization {format_type(given)} differs from the inferred {format_type(want)}", tt)
        node = graph.add_node(op, operands, attrs, name=node_name or "", loc=loc, output_names=out_names, output_types=types)
        if node_name is not None:
            node.name = node_name
        for v in node.outputs:
            self.values[v.name] = v

    def attrs(self, op: OpDef, tree: _Tree | None, op_tok: _Token) -> Any:
        fields = attr_fields(op.Attrs)
        kwargs: dict[str, Any] = {}
        for attr in _ch(tree) if tree is not None else []:
            key, vtree = _ch(attr)
            if key.value not in fields:
                raise self.error(f"{op.name} has no attribute {key.value!r}", key, hint=f"{op.name} takes: {', '.join(fields) or 'no attributes'}")
            if key.value in kwargs:
                raise self.error(f"attribute {key.value!r} given twice", key)
            tp = fields[key.value]
            value = self.attr_value(vtree)
            if not _fits(tp, value):
                raise self.error(f"attribute {key.value!r} of {op.name} takes {_type_name(tp)}, got {vtree_text(self.lines, vtree)}", key)
            try:
                kwargs[key.value] = coerce_attr(tp, value)
            except (TypeError, ValueError, KeyError) as exc:
                raise self.error(f"bad value for attribute {key.value!r} of {op.name}: {exc}", key) from None
        try:
            return op.Attrs(**kwargs)
        except (TypeError, ValueError) as exc:
            raise self.error(f"bad attributes for {op.name}: {exc}", op_tok) from None

    def attr_value(self, tree: _Tree) -> Any:
        kind = tree.data
        if kind == "list_":
            return [self.attr_value(c) for c in _ch(tree)]
        tok = _ch(tree)[0]
        if kind == "int_":
            return int(tok.value)
        if kind == "float_":
            return float(tok.value)
        if kind == "str_":
            return self.string(tok)
        return {"true_": True, "false_": False, "none_": None}[kind]


# -- helpers --------------------------------------------------------------------


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def vtree_text(lines: list[str], tree: _Tree) -> str:
    m = tree.meta
    if m.empty or m.line != m.end_line:
        return f"a {tree.data.rstrip('_')}"
    return lines[m.line - 1][m.column - 1 : m.end_column - 1]


def _fits(tp: Any, v: Any) -> bool:
    """Whether a parsed value has the right kind for a field type (before coercion)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or (origin is not None and type(tp).__name__ == "UnionType"):
        return any(v is None if a is type(None) else _fits(a, v) for a in args)
    if origin is tuple:
        if not isinstance(v, list):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(args[0], x) for x in v)
        return len(args) == len(v) and all(_fits(a, x) for a, x in zip(args, v, strict=True))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return isinstance(v, (str, int)) and not isinstance(v, bool) and (v in {m.value for m in tp} or v in tp.__members__)
    if tp is bool:
        return isinstance(v, bool)
    if tp is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if tp is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if tp is str:
        return isinstance(v, str)
    return True


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(json.dumps(m.value) if isinstance(m.value, str) else str(m.value) for m in tp)
    if typing.get_origin(tp) is tuple:
        return f"a list [{_type_name(typing.get_args(tp)[0])}, ...]"
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def make_error(msg: str, source: str, lines: list[str], line: int | None, column: int | None, hint: str | None = None) -> IRParseError:
    """An IRParseError at ``source:line:column`` that shows the line with a caret."""
    where = source if line is None else f"{source}:{line}:{column}"
    what = msg
    if line is not None and 1 <= line <= len(lines):
        what += f"\n    {lines[line - 1]}\n    {' ' * ((column or 1) - 1)}^"
    err = IRParseError(what, where=where, hint=hint)
    err.line, err.column = line, column  # type: ignore[attr-defined]
    return err


def _syntax_error(exc: lark.exceptions.UnexpectedInput, source: str, lines: list[str]) -> IRParseError:
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        tok = exc.token
        got = "the end of the text" if tok.type == "$END" else repr(tok.value)
        expected = sorted(_TOKEN_NAMES.get(e, e.lower().strip('"')) for e in exc.accepts or exc.expected)
        msg = f"syntax error: unexpected {got}"
        hint = f"expected {' or '.join(expected)}" if expected else None
        return make_error(msg, source, lines, exc.line if exc.line != -1 else None, exc.column if exc.column != -1 else None, hint)
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        ch = lines[exc.line - 1][exc.column - 1 : exc.column] if 1 <= exc.line <= len(lines) else "?"
        return make_error(f"syntax error: unexpected character {ch!r}", source, lines, exc.line, exc.column)
    return make_error(f"syntax error: {exc}", source, lines, getattr(exc, "line", None), getattr(exc, "column", None))


# -- entry points ----------------------------------------------------------------


def split_graphs(text: str) -> list[tuple[int, str]]:
    """Split text at ``// -----`` lines into (first line number, chunk) pairs.

    Chunks holding only blank lines and comments are dropped.
    """
    chunks: list[tuple[int, str]] = []
    start, cur = 1, list[str]()
    for i, line in enumerate(text.split("\n"), start=1):
        if line.strip() == SEPARATOR:
            chunks.append((start, "\n".join(cur)))
            start, cur = i + 1, []
        else:
            cur.append(line)
    chunks.append((start, "\n".join(cur)))
    return [(n, c) for n, c in chunks if any(x.strip() and not x.strip().startswith("//") for x in c.split("\n"))]


def _parse_one(chunk: str, first_line: int, source: str) -> Graph:
    padded = "\n" * (first_line - 1) + chunk  # so lark's line numbers are those of the whole text
    lines = padded.split("\n")
    try:
        tree = _lark().parse(padded)
    except lark.exceptions.UnexpectedInput as exc:
        raise _syntax_error(exc, source, lines) from None
    return _Builder(source, padded).build(tree)


def parse_graphs(text: str, *, source: str = "<ir>", line: int = 1) -> list[Graph]:
    """All graphs in a text whose graphs are separated by ``// -----`` lines.

    ``source`` and ``line`` (the line number of the text's first line) place error messages.
    """
    return [_parse_one(chunk, first + line - 1, source) for first, chunk in split_graphs(text)]


def parse_graph(text: str, *, source: str = "<ir>", line: int = 1) -> Graph:
    """One graph from its text (as written by ``print_graph``)."""
    chunks = split_graphs(text)
    if not chunks:
        raise IRParseError("expected a graph, the text is empty", where=source)
    if len(chunks) != 1:
        raise IRParseError(
            f"expected one graph, the text holds {len(chunks)} (separated by {SEPARATOR!r} lines)",
            where=source,
            hint="use parse_graphs for texts with several graphs",
        )
    first, chunk = chunks[0]
    return _parse_one(chunk, first + line - 1, source)
