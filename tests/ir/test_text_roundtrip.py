"""The textual IR: print(parse(text)) == text, exact constants, and errors with line and column."""

from __future__ import annotations

import dataclasses
import enum
import math
import typing

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinyc.errors import IRParseError
from tinyc.ir import OPS, DType, Graph, Loc, QuantParams, TensorType, verify
from tinyc.ir.opdef import attr_fields
from tinyc.ir.parser import parse_graph, parse_graphs
from tinyc.ir.printer import print_graph, print_graphs, value_ref
from tinyc.testing import assert_graphs_equal

F32 = DType.F32


def roundtrip(g: Graph) -> Graph:
    verify(g)
    text = print_graph(g)
    g2 = parse_graph(text)
    assert print_graph(g2) == text
    assert_graphs_equal(g, g2)
    verify(g2)
    return g2


def parse_error(text: str) -> IRParseError:
    with pytest.raises(IRParseError) as info:
        parse_graph(text)
    return info.value


# -- examples ---------------------------------------------------------------------------


MLP = """\
graph @main(%x: f32[1,6]) {
  %w = const f32[3,6] dense<"0x00000000CDCCCC3DCDCC4C3E9A99993ECDCCCC3E0000003F9A99193F3333333FCDCC4C3F6666663F0000803FCDCC8C3F9A99993F6666A63F3333B33F0000C03FCDCCCC3F9A99D93F">
  %b = const f32[3] dense<[0.5, -0.25, 0.0]>
  %g = Gemm(%x, %w, %b) {trans_b = true} : f32[1,3] loc("Gemm_0")
  %r = Relu(%g) : f32[1,3]{q: scale=0.0123, zp=-3} loc("Relu_1", "fused:Clip_2")
  %a, %"/split/out:1" = Split(%r) {split = [1, 2], axis = 1} : f32[1,1]{q: scale=0.0123, zp=-3}, f32[1,2]{q: scale=0.0123, zp=-3} name("split node") loc("s")
  return %a, %"/split/out:1", %g
}"""


def test_example_text_roundtrips_exactly() -> None:
    g = parse_graph(MLP)
    assert print_graph(g) == MLP
    gemm = g.node("g")
    assert gemm.attrs.trans_b is True and gemm.attrs.alpha == 1.0
    assert gemm.loc == Loc(("Gemm_0",))
    relu = g.node("r")
    assert relu.output.type.quant == QuantParams.per_tensor(0.0123, -3)
    assert relu.loc.parts == ("Relu_1", "fused:Clip_2")
    split = g.node("split node")
    assert [v.name for v in split.outputs] == ["a", "/split/out:1"]
    assert [v.name for v in g.outputs] == ["a", "/split/out:1", "g"]
    np.testing.assert_array_equal(g.value("b").const, np.array([0.5, -0.25, 0.0], np.float32))
    assert g.value("w").const[2, 3] == np.float32(1.5)
    roundtrip(g)


def test_tricky_names_are_quoted() -> None:
    g = Graph('my "graph"\n')
    names = ["/conv1/Conv_output_0", "a:0", "with space", 'q"uote', "back\\slash", "tab\t", "ünïcödé", "日本", "", "%x", "0", "x-y.z$"]
    vals = [g.add_input(n, TensorType(F32, (2,))) for n in names]
    y = g.add_node(OPS["Add"], [vals[0], vals[1]], output_names=["y/0"], loc=Loc.of('Conv "3"', "línea\n2")).output
    g.outputs = [y, *vals]
    text = print_graph(g)
    assert '%"/conv1/Conv_output_0": f32[2]' in text
    assert "%0: f32[2]" in text and "%x-y.z$" in text and '%"": f32[2]' in text
    assert value_ref("a b") == '%"a b"' and value_ref("ab_1") == "%ab_1"
    roundtrip(g)


def test_defaults_are_omitted_and_typed_values_print() -> None:
    g = Graph()
    x = g.add_input("x", TensorType(F32, (2, 3)))
    c = g.add_node(OPS["Clip"], [x], OPS["Clip"].Attrs(min=None, max=6.0)).output
    lk = g.add_node(OPS["LeakyRelu"], [c], OPS["LeakyRelu"].Attrs(alpha=0.01)).output
    lk2 = g.add_node(OPS["LeakyRelu"], [lk], OPS["LeakyRelu"].Attrs(alpha=-0.0)).output
    lk3 = g.add_node(OPS["LeakyRelu"], [lk2], OPS["LeakyRelu"].Attrs(alpha=0.1 + 0.2)).output
    cast = g.add_node(OPS["Cast"], [lk3], OPS["Cast"].Attrs(to=DType.I8)).output
    g.outputs = [cast]
    text = print_graph(g)
    assert "Clip(%x) {max = 6.0}" in text  # min is None, the default
    assert "LeakyRelu(%clip) : f32[2,3]" in text  # alpha at its default
    assert "{alpha = -0.0}" in text  # -0.0 is not the default 0.01, and keeps its sign
    assert "{alpha = 0.30000000000000004}" in text
    assert 'Cast(%leakyrelu_1) {to = "i8"}' in text  # enums by value
    g2 = roundtrip(g)
    assert math.copysign(1.0, g2.node("leakyrelu_0").attrs.alpha) == -1.0
    assert g2.node("cast").attrs.to is DType.I8


@pytest.mark.parametrize("dtype", list(DType))
def test_constants_are_exact_for_every_dtype(dtype: DType) -> None:
    rng = np.random.default_rng(3)
    if dtype.is_float:
        special = np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-30, 3.14159], np.float64).astype(dtype.numpy)
        payload = np.frombuffer(bytes(range(1, 1 + 8 * dtype.itemsize)), dtype.numpy)
        data = np.concatenate([special, payload, rng.standard_normal(20).astype(dtype.numpy)])
    elif dtype == DType.BOOL:
        data = np.frombuffer(bytes([0, 1, 1, 0, 2, 255]), np.bool_)  # bytes other than 0/1 survive too
    else:
        data = np.concatenate([[dtype.qmin, dtype.qmax, 0, -1 if dtype.qmin < 0 else 1], rng.integers(dtype.qmin, dtype.qmax, 30, dtype=dtype.numpy)]).astype(dtype.numpy)
    g = Graph()
    small = g.add_const("small", data[:5].copy())
    full = g.add_const("full", data.copy())
    splat = g.add_const("splat", np.full((3, 2), data[1]))
    g.outputs = [small, full, splat]
    g2 = roundtrip(g)
    for name in ("small", "full", "splat"):
        assert g2.value(name).const.tobytes() == g.value(name).const.tobytes()
        assert g2.value(name).const.dtype == dtype.numpy


def test_constant_forms() -> None:
    g = Graph()
    g.outputs = [
        g.add_const("a", np.zeros((100,), np.float32)),
        g.add_const("b", np.array([1.5, -0.0, np.inf], np.float32)),
        g.add_const("c", np.array([np.float32(np.nan)] * 2 + [np.float32(1)])),
        g.add_const("d", np.frombuffer(b"\x01\x00\xc0\xff", np.float32)),  # a NaN with a payload
        g.add_const("e", np.array([True, False])),
        g.add_const("f", np.zeros((0, 3), np.int8)),
        g.add_const("g", np.arange(17, dtype=np.int16)),
        g.add_const("h", np.array(7, np.int64)),
    ]
    text = print_graph(g)
    assert "%a = const f32[100] dense<0.0>" in text
    assert "%b = const f32[3] dense<[1.5, -0.0, inf]>" in text
    assert "%c = const f32[3] dense<[nan, nan, 1.0]>" in text
    assert '%d = const f32[1] dense<"0x0100C0FF">' in text
    assert "%e = const bool[2] dense<[true, false]>" in text
    assert "%f = const i8[0,3] dense<[]>" in text
    assert '%g = const i16[17] dense<"0x0000' in text
    assert "%h = const i64[] dense<7>" in text
    roundtrip(g)


def test_hand_written_literals() -> None:
    g = parse_graph(
        """
        // comments are ignored
        graph @g(%x: f32[2,2]) {
          %one = const f32[2,2] dense<1>          // a splat
          %w = const f32[2,2] dense<[1, 2.5, -3, 1e-3]>
          %y = Add(%x, %w)                        // types may be left out: inferred
          %z = Mul(%y, %one) : f32[2,2]
          return %z
        }"""
    )
    np.testing.assert_array_equal(g.value("one").const, np.ones((2, 2), np.float32))
    np.testing.assert_array_equal(g.value("w").const, np.array([[1, 2.5], [-3, 1e-3]], np.float32))
    assert g.value("y").type == TensorType(F32, (2, 2))


def test_quantization_per_tensor_and_per_axis() -> None:
    g = Graph()
    w = g.add_const("w", np.arange(-6, 6, dtype=np.int8).reshape(3, 4), QuantParams.per_axis([0.1, 1 / 3, 2.5e-7], [0, 0, 0], 0))
    x = g.add_input("x", TensorType(DType.I8, (3, 4), QuantParams.per_tensor(0.003921568859368563, -128)))
    z = g.add_input("z", TensorType(DType.I8, (3, 4)))
    y = g.add_node(OPS["Identity"], [z], output_types=[TensorType(DType.I8, (3, 4), QuantParams((0.5, 0.25, 0.125, 1.0), (1, 2, 3, 4), 1))])
    g.outputs = [w, x, y.output]
    text = print_graph(g)
    assert "{q: axis=0, scale=[0.1, 0.33333334, 2.5e-07], zp=[0, 0, 0]}" in text
    assert "i8[3,4]{q: scale=0.003921569, zp=-128}" in text
    g2 = roundtrip(g)
    assert g2.value("w").type.quant == w.type.quant
    assert g2.value("x").type.quant.scale == x.type.quant.scale


def test_elided_constants_print_but_do_not_parse() -> None:
    g = Graph()
    g.outputs = [g.add_const("w", np.arange(300, dtype=np.float32)), g.add_const("z", np.zeros(300, np.float32))]
    text = print_graph(g, elide_constants_over=64)
    assert "%w = const f32[300] dense<elided 1.2 KiB sha=" in text
    assert "%z = const f32[300] dense<0.0>" in text  # splats stay (short and exact)
    err = parse_error(text)
    assert "elided" in str(err) and "%w" in str(err)
    assert (err.line, err.column) == (2, 29)
    assert "without elide_constants_over" in str(err)


def test_several_graphs() -> None:
    g1 = parse_graph(MLP)
    g2 = Graph("second")
    g2.outputs = [g2.add_input("x", TensorType(DType.BOOL, ()))]
    text = print_graphs([g1, g2])
    assert "\n// -----\n" in text
    back = parse_graphs(text)
    assert [g.name for g in back] == ["main", "second"]
    assert print_graphs(back) == text
    with pytest.raises(IRParseError, match="expected one graph"):
        parse_graph(text)
    bad = text.replace("return %x", "return %nope")
    with pytest.raises(IRParseError) as info:
        parse_graphs(bad)
    assert info.value.line == text.split("\n").index("  return %x") + 1


# -- errors -------------------------------------------------------------------------


def _g(body: str, params: str = "%x: f32[2]") -> str:
    return f"graph @g({params}) {{\n{body}\n}}"


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        (_g("  %y = Relu(%x) : f32[2\n  return %y"), "syntax error: unexpected 'return'", 3, 3),
        (_g("  %y = Relu(%x) : f32[2] $\n  return %y"), "unexpected character '$'", 2, 26),
        (_g("  %y = Relu(%x) : f32[2]"), "syntax error", 3, 1),
        (_g("  %y = Rleu(%x) : f32[2]\n  return %y"), "unknown op 'Rleu'", 2, 8),
        (_g("  %y = LeakyRelu(%x) {beta = 1.0} : f32[2]\n  return %y"), "LeakyRelu has no attribute 'beta'", 2, 23),
        (_g('  %y = LeakyRelu(%x) {alpha = "a"} : f32[2]\n  return %y'), "takes float", 2, 23),
        (_g("  %y = LeakyRelu(%x) {alpha = 1.0, alpha = 2.0} : f32[2]\n  return %y"), "given twice", 2, 36),
        (_g('  %y = Cast(%x) {to = "f31"} : f32[2]\n  return %y'), "takes one of", 2, 18),
        (_g("  %y = Relu(%z) : f32[2]\n  return %y"), "%z is used before it is defined", 2, 13),
        (_g("  %y = Relu(%x) : f32[2]\n  return %q"), "%q is used before it is defined", 3, 10),
        (_g("  %x = Relu(%x) : f32[2]\n  return %x"), "%x is defined twice", 2, 3),
        (_g("  %y = Relu(%x) : f32[2]\n  %y = const f32[] dense<1>\n  return %y"), "%y is defined twice", 3, 3),
        (_g("  %y = Relu(%x) : f32[3]\n  return %y"), "does not match the inferred f32[2]", 2, 19),
        (_g("  %y = Relu(%x) : f32[2], f32[2]\n  return %y"), "1 result name(s) but 2 type(s)", 2, 19),
        (_g("  %y, %z = Relu(%x)\n  return %y"), "Relu here has 1 result(s), 2 name(s) given", 2, 3),
        (_g("  %y = Relu(%x, %x) : f32[2]\n  return %y"), "Relu takes 1 input(s)", 2, 8),
        (_g("  %y = Add(%x, %b) : f32[2]\n  return %y", "%x: f32[2], %b: i8[2]"), "type inference of Add failed", 2, 8),
        (_g("  %y = Relu(%x)\n  return %y", "%x: f33[2]"), "unknown element type 'f33'", 1, 14),
        (_g('  %w = const f32[2] dense<"0x00">\n  return %w'), "hex data has 1 bytes, type f32[2] needs 8", 2, 27),
        (_g("  %w = const i8[2] dense<[1, 300]>\n  return %w"), "300 does not fit i8", 2, 26),
        (_g("  %w = const f32[3] dense<[1, 2]>\n  return %w"), "2 elements given", 2, 27),
        (_g("  %w = const bool[1] dense<[2]>\n  return %w"), "not a bool", 2, 28),
        (_g("  %w, %v = const f32[1] dense<1>\n  return %w"), "exactly one value", 2, 7),
        (_g("  return %x", "%x: i8[2]{q: axis=0, scale=0.5, zp=0}"), "per-axis quantization takes lists", 1, 31),
        (_g("  return %x", "%x: i8[2]{q: scale=[0.5], zp=[0]}"), "per-tensor quantization takes one scale", 1, 23),
        (_g("  return %x", "%x: i8[2]{q: zp=1}"), "needs scale=", 1, 19),
        (_g("  return %x", "%x: i8[2]{q: scale=0.5, zq=1}"), "unknown quantization field 'zq'", 1, 34),
        (_g('  %y = Relu(%"a\\qb")\n  return %y'), "bad string escape", 2, 13),
    ],
)
def test_parse_errors_name_line_and_column(text: str, message: str, line: int, column: int) -> None:
    err = parse_error(text)
    assert message in str(err)
    assert (err.line, err.column) == (line, column), str(err)
    assert str(err).startswith(f"<ir>:{line}:{column}: ")


def test_syntax_errors_say_what_was_expected() -> None:
    assert "hint: expected a graph name (@name)" in str(parse_error("graph main() {\n  return\n}"))
    assert "hint: expected the end of the text" in str(parse_error("graph @g() {\n  return\n}\ngraph @h() {\n  return\n}"))
    assert "expected a graph, the text is empty" in str(parse_error("  // nothing\n"))


def test_error_names_the_source_and_shows_the_line() -> None:
    with pytest.raises(IRParseError) as info:
        parse_graph(_g("  %y = Rleu(%x)\n  return %y"), source="cases.ir", line=10)
    text = str(info.value)
    assert text.startswith("cases.ir:11:8: unknown op 'Rleu'")
    assert "%y = Rleu(%x)\n           ^" in text
    assert "did you mean Relu" in text


# -- property: random graphs round-trip --------------------------------------------------

SPECIAL_NAMES = ["/conv1/Conv_output_0", "a:0", "with space", 'q"', "\\", "new\nline", "ünï", "日本", "", "-", "0", "1.5",
                 "%x", "@g", "_", "true", "const", "return", "loc", "name", "dense", "}", "//c"]
names_st = st.one_of(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True), st.sampled_from(SPECIAL_NAMES), st.text(max_size=6))
float_elems = {
    DType.F16: st.floats(width=16),
    DType.F32: st.floats(width=32),
    DType.F64: st.floats(),
}
shapes_st = st.lists(st.integers(1, 3), max_size=3).map(tuple)


def elements(dtype: DType) -> st.SearchStrategy:
    if dtype.is_float:
        return float_elems[dtype]
    if dtype == DType.BOOL:
        return st.booleans()
    return st.integers(dtype.qmin, dtype.qmax)


@st.composite
def const_arrays(draw: st.DrawFn, dtype: DType, shape: tuple[int, ...]) -> np.ndarray:
    kind = draw(st.sampled_from(["elements", "raw", "splat", "big"]))
    if kind == "big":
        shape = (draw(st.integers(0, 40)),)
    n = math.prod(shape)
    if kind == "raw":  # any bit pattern: NaN payloads, bool bytes other than 0/1
        data = draw(st.binary(min_size=n * dtype.itemsize, max_size=n * dtype.itemsize))
        return np.frombuffer(data, dtype.numpy).reshape(shape).copy()
    if kind == "splat":
        return np.full(shape, draw(elements(dtype)), dtype=dtype.numpy)
    return draw(hnp.arrays(dtype.numpy, shape, elements=elements(dtype)))


@st.composite
def quant_st(draw: st.DrawFn, t: TensorType) -> QuantParams | None:
    if draw(st.integers(0, 4)):  # mostly unquantized: most float ops refuse quantized inputs
        return None
    zp = st.integers(-128, 255) if t.dtype.is_float or t.dtype == DType.BOOL else st.integers(t.dtype.qmin, t.dtype.qmax)
    scale = st.floats(2.0**-40, 2.0**20, width=32)
    if t.rank and min(t.shape) <= 16 and draw(st.booleans()):
        axis = draw(st.sampled_from([i for i, d in enumerate(t.shape) if d <= 16]))
        n = t.shape[axis]
        return QuantParams(tuple(draw(st.lists(scale, min_size=n, max_size=n))), tuple(draw(st.lists(zp, min_size=n, max_size=n))), axis)
    return QuantParams.per_tensor(draw(scale), draw(zp))


def attr_value_st(tp: typing.Any) -> st.SearchStrategy | None:
    """A strategy for values of an attribute field type, or None if we cannot generate it."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if args and type(None) in args:
        inner = [attr_value_st(a) for a in args if a is not type(None)]
        return None if None in inner else st.one_of(st.none(), *inner)  # type: ignore[arg-type]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            elem = attr_value_st(args[0])
            return None if elem is None else st.lists(elem, max_size=4).map(tuple)
        parts = [attr_value_st(a) for a in args]
        return None if None in parts else st.tuples(*parts)  # type: ignore[arg-type]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    return {bool: st.booleans(), int: st.integers(-3, 4), float: st.floats(), str: st.one_of(names_st, st.text(max_size=8))}.get(tp)


def _field_strategies(op: typing.Any) -> dict[str, st.SearchStrategy] | None:
    try:
        fields = attr_fields(op.Attrs)
    except Exception:
        return None
    out = {}
    for f in dataclasses.fields(op.Attrs):
        s = attr_value_st(fields[f.name])
        if s is None:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                return None
            continue
        out[f.name] = s
    return out


def _hinted(op_name: str, inputs: list, draw: st.DrawFn) -> dict[str, typing.Any]:
    """Hand-written attributes that shape ops accept (the generic ones rarely fit)."""
    x = inputs[0] if inputs else None
    rank = x.type.rank if x is not None else 0
    if op_name == "Transpose" and x is not None:
        return {"perm": tuple(draw(st.permutations(range(rank))))}
    if op_name == "Reshape" and x is not None:
        dims = list(x.type.shape)
        return {"shape": draw(st.sampled_from([(x.type.numel,), tuple(reversed(dims)), (1, *dims)]))}
    if op_name in ("Concat", "Split", "Flatten", "Softmax", "Gather") and rank:
        hint: dict[str, typing.Any] = {"axis": draw(st.integers(0, rank - 1))}
        if op_name == "Split":
            d = x.type.shape[hint["axis"]]
            cut = draw(st.integers(0, d))
            hint["split"] = (cut, d - cut)
        return hint
    if op_name in ("QuantizeLinear", "DequantizeLinear"):
        scale = draw(st.floats(2.0**-20, 2.0**10, width=32))
        return {"scale": (scale,), "zero_point": (draw(st.integers(-128, 127)),), "axis": None, "dtype": DType.I8}
    if op_name in ("Squeeze", "Unsqueeze"):
        return {"axes": (0,)}
    return {}


BUILDABLE = {name: fs for name, op in sorted(OPS.items()) if (fs := _field_strategies(op)) is not None}


@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    used: set[str] = set()

    def fresh() -> str:
        name = draw(names_st.filter(lambda n: n not in used))
        used.add(name)
        return name

    g = Graph(draw(names_st))
    dtypes = st.one_of(st.just(F32), st.sampled_from(list(DType)))
    base = TensorType(draw(dtypes), draw(shapes_st))
    pool = []

    def some_type() -> TensorType:
        t = base if draw(st.integers(0, 3)) else TensorType(draw(dtypes), draw(shapes_st))
        return t.with_quant(draw(quant_st(t)))

    for _ in range(draw(st.integers(0, 3))):
        pool.append(g.add_input(fresh(), some_type()))
    for _ in range(draw(st.integers(0 if pool else 1, 3))):
        t = some_type()
        arr = draw(const_arrays(t.dtype, t.shape))
        q = t.quant if t.quant is None or t.quant.axis is None or arr.shape == t.shape else None
        pool.append(g.add_const(fresh(), arr, q))
    for _ in range(draw(st.integers(0, 16))):  # attempts; those the op refuses are skipped
        op_name = draw(st.sampled_from(sorted(BUILDABLE)))
        op = OPS[op_name]
        hi = op.max_inputs if op.max_inputs is not None else op.min_inputs + 2
        n_in = draw(st.integers(op.min_inputs, max(op.min_inputs, hi)))
        same = draw(st.booleans())
        first = draw(st.sampled_from(pool))
        inputs = [first if same else draw(st.sampled_from(pool)) for _ in range(n_in)]
        for i, iname in enumerate(op.input_names[:n_in]):
            if iname.endswith("?") and draw(st.booleans()):
                inputs[i] = None
        kwargs = {k: draw(s) for k, s in BUILDABLE[op_name].items() if draw(st.booleans())}
        kwargs.update(_hinted(op_name, inputs, draw))
        try:
            attrs = op.Attrs(**kwargs)
            types = op.infer(attrs, inputs)
        except Exception:
            continue  # this op does not accept these inputs/attributes: try another
        types = [t if t.quant is not None else t.with_quant(draw(quant_st(t))) for t in types]
        loc = Loc(tuple(draw(st.lists(names_st, max_size=3))))
        node = g.add_node(op, inputs, attrs, loc=loc, output_names=[fresh() for _ in types], output_types=types)
        if draw(st.booleans()):
            node.name = draw(names_st)
        pool.extend(node.outputs)
    g.outputs = draw(st.lists(st.sampled_from(pool), max_size=4))
    return g


@given(graphs())
def test_random_graphs_roundtrip(g: Graph) -> None:
    g2 = roundtrip(g)
    both = print_graphs([g, g2])
    assert print_graphs(parse_graphs(both)) == both


@given(graphs())
def test_elided_text_is_refused_exactly_when_data_was_dropped(g: Graph) -> None:
    text = print_graph(g, elide_constants_over=8)
    if "dense<elided" in text:
        with pytest.raises(IRParseError, match="elided"):
            parse_graph(text)
    else:
        assert text == print_graph(g)


def test_the_generator_covers_many_ops() -> None:
    # the property test is only as good as the ops it can build
    assert {"Add", "Relu", "LeakyRelu"} <= set(BUILDABLE)
    assert len(BUILDABLE) >= 0.8 * len(OPS)


# -- real models -----------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["kws_float", "ad_float"])
def test_real_models_roundtrip(fixture: str, request: pytest.FixtureRequest) -> None:
    from tinyc.frontends.onnx.importer import load_onnx

    g = load_onnx(request.getfixturevalue(fixture))
    g2 = roundtrip(g)
    assert len(g2.nodes) == len(g.nodes) > 10
    short = print_graph(g, elide_constants_over=64)
    assert "dense<elided" in short and len(short) < len(print_graph(g))
