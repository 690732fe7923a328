"""The TFLite writer: schema, lowest op versions, alignment, I/O types, activations, the op table, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tfl_micro import Float, quantized

from tinyc.api import load
from tinyc.backends.tflite.optable import READERS, WRITERS, OpSignature, choose_activation, op_version, table_pairs
from tinyc.backends.tflite.schema import schema
from tinyc.backends.tflite.writer import WriteOptions, write_graph
from tinyc.errors import UnsupportedOpError
from tinyc.ir.dtypes import DType
from tinyc.ir.types import QuantParams, TensorType
from tinyc.testing import shared_model

pytest.importorskip("ai_edge_litert")
REPO = Path(__file__).resolve().parents[2]


def _unpack(data: bytes):  # type: ignore[no-untyped-def]
    s = schema()
    return s.ModelT.InitFromObj(s.Model.GetRootAs(data, 0))


def test_file_layout_schema_v3_one_subgraph_aligned_buffers() -> None:
    data = write_graph(quantized("chain")).data
    assert data[4:8] == b"TFL3"
    m = _unpack(data)
    assert m.version == 3 and len(m.subgraphs) == 1
    lazy = schema().Model.GetRootAs(data, 0)
    starts = []
    for i in range(lazy.BuffersLength()):
        b = lazy.Buffers(i)
        if b.DataLength():
            starts.append(b._tab.Vector(b._tab.Offset(4)))  # where the bytes begin in the file
    assert starts and all(p % 16 == 0 for p in starts)
    assert m.buffers[0].data is None  # buffer 0 is the empty sentinel


def test_kws_versions_match_the_published_model() -> None:
    """The converter writes the lowest versions; so must tinyc (the Edge TPU compiler rejects newer ones)."""
    path = shared_model("mlperf-tiny/kws_dscnn_int8.tflite")
    s = schema()
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    published = {(names[max(c.builtinCode, c.deprecatedBuiltinCode)], c.version) for c in _unpack(path.read_bytes()).operatorCodes}
    written = set(write_graph(load(path).graph).opcodes)
    assert written == published


def test_float_model_uses_version_1() -> None:
    f = Float("f")
    x = f.input("x", (1, 6, 6, 2))
    y = f.op("Conv2D", [x, f.const("w", (3, 3, 3, 2)), f.const("b", (3,))], pads=(1, 1, 1, 1), act_min=0.0)
    y = f.op("MaxPool2D", [y], kernel=(2, 2), strides=(2, 2))
    w = write_graph(f.done(y))
    assert w.io_type == "float" and all(v == 1 for _, v in w.opcodes)


@pytest.mark.parametrize(
    "sig, version",
    [
        (OpSignature("CONV_2D", (DType.I8, DType.I8, DType.I32), (DType.I8,)), 3),
        (OpSignature("CONV_2D", (DType.F32, DType.F32, DType.F32), (DType.F32,)), 1),
        (OpSignature("FULLY_CONNECTED", (DType.I8, DType.I8, DType.I32), (DType.I8,)), 4),
        (OpSignature("FULLY_CONNECTED", (DType.I8, DType.I8), (DType.I8,)), 6),
        (OpSignature("MUL", (DType.I8, DType.I8), (DType.I8,), scales=(0.5, 0.5, 0.1)), 3),
        (OpSignature("MUL", (DType.I8, DType.I8), (DType.I8,), scales=(0.1, 0.1, 0.5)), 2),
        (OpSignature("DEQUANTIZE", (DType.F16,), (DType.F32,)), 3),
        (OpSignature("DEQUANTIZE", (DType.I8,), (DType.F32,)), 2),
        (OpSignature("QUANTIZE", (DType.F32,), (DType.I8,)), 1),
        (OpSignature("PAD", (DType.I8, DType.I32), (DType.I8,), in_ranks=(4, 2)), 2),
        (OpSignature("RESHAPE", (DType.I8, DType.I32), (DType.I8,)), 1),
        (OpSignature("HARD_SWISH", (DType.I8,), (DType.I8,)), 1),
    ],
)
def test_lowest_op_versions(sig: OpSignature, version: int) -> None:
    assert op_version(sig) == version


def _q(scale: float, zp: int) -> TensorType:
    return TensorType(DType.I8, (1, 4), QuantParams.per_tensor(scale, zp))


@pytest.mark.parametrize(
    "clamp, t, want",
    [
        ((0.0, None), _q(0.1, 0), ("RELU", None)),
        ((0.0, None), _q(0.1, -128), ("NONE", None)),  # the output grid starts at 0 already
        ((0.0, 6.0), _q(6 / 255, -128), ("NONE", None)),  # ... and ends at 6
        ((0.0, 6.0), _q(0.1, -20), ("RELU6", None)),
        ((0.0, 5.0), _q(0.1, -20), ("NONE", (0.0, 5.0))),
        ((-1.0, 1.0), _q(0.01, 0), ("RELU_N1_TO_1", None)),
        ((None, None), TensorType(DType.F32, (1, 4)), ("NONE", None)),
        ((0.0, 4.0), TensorType(DType.F32, (1, 4)), ("NONE", (0.0, 4.0))),
    ],
)
def test_fused_activation_choice(clamp: tuple[float | None, float | None], t: TensorType, want: tuple[str, object]) -> None:
    assert choose_activation(clamp[0], clamp[1], t) == want


def test_clamp_without_fused_form_becomes_max_min() -> None:
    w = write_graph(quantized("clip_custom"))
    assert [op.builtin for op in w.ops] == ["QUANTIZE", "MAXIMUM", "MINIMUM"]


@pytest.mark.parametrize("edgetpu, want", [(False, ["AVERAGE_POOL_2D"]), (True, ["AVERAGE_POOL_2D", "RELU"])])
def test_pool_activation_is_split_for_the_edge_tpu(edgetpu: bool, want: list[str]) -> None:
    w = write_graph(quantized("avgpool_valid_relu"), WriteOptions(edgetpu=edgetpu))
    ops = [op.builtin for op in w.ops]
    # the relu clamp may be a no-op on the output grid (zero point -128), then nothing follows the pool
    assert ops in (want, ["AVERAGE_POOL_2D"])
    pool = w.ops[0].options
    assert not edgetpu or pool.fusedActivationFunction == 0


def test_io_types_and_names() -> None:
    g = quantized("conv_1x1")
    q = g.inputs[0].type.quant
    assert q is not None
    for io, dtype in (("int8", DType.I8), ("uint8", DType.U8), ("float", DType.F32)):
        w = write_graph(g, WriteOptions(io_type=io))
        t_in, t_out = w.tensor_types[w.inputs[0]], w.tensor_types[w.outputs[0]]
        assert t_in.dtype is dtype and t_out.dtype is dtype
        assert w.tensor_names[w.inputs[0]] == "x" and w.tensor_names[w.outputs[0]] == g.outputs[0].name
        if io == "uint8":
            assert t_in.quant == QuantParams.per_tensor(q.scale[0], q.zero_point[0] + 128)
        assert [op.builtin for op in w.ops][0] == ("CONV_2D" if io == "int8" else "QUANTIZE")


def test_float_io_graph_is_written_without_its_edge_nodes() -> None:
    """A graph quantized with float I/O (Q/DQ at the edges) writes as int8 I/O by default."""
    from tfl_micro import MICRO, calibration

    from tinyc.api import Model
    from tinyc.quant.api import quantize_model

    g = MICRO["conv_1x1"]()
    qg = quantize_model(Model(g, "m.onnx", "m"), calibration(g))[0].graph
    assert {n.op.name for n in qg.nodes} >= {"QuantizeLinear", "DequantizeLinear"}
    w = write_graph(qg)
    assert [op.builtin for op in w.ops] == ["CONV_2D"]
    assert w.tensor_types[w.inputs[0]].dtype is DType.I8 and w.tensor_names[w.inputs[0]] == "x"


def test_unsupported_op_names_the_node() -> None:
    f = Float("g")
    x = f.input("x", (1, 4))
    y = f.op("Sin", [x])
    with pytest.raises(UnsupportedOpError, match="node 'sin'.*cannot write Sin"):
        write_graph(f.done(y))


def test_average_pool_with_odd_pads_is_refused() -> None:
    f = Float("g")
    y = f.op("AvgPool2D", [f.input("x", (1, 6, 6, 2))], kernel=(3, 3), strides=(1, 1), pads=(0, 2, 2, 0))
    with pytest.raises(UnsupportedOpError, match="neither SAME nor VALID"):
        write_graph(f.done(y))


def test_softmax_over_a_middle_axis_is_refused() -> None:
    f = Float("g")
    y = f.op("Softmax", [f.input("x", (1, 5, 3))], axis=1)
    with pytest.raises(UnsupportedOpError, match="last axis"):
        write_graph(f.done(y))


def test_op_table_maps_both_ways() -> None:
    rows = table_pairs()
    assert ("CONV_2D", "Conv2D", "both") in rows and ("QUANTIZE", "Requantize", "both") in rows
    # every builtin the reader knows appears, every IR op the writer knows appears, each with its direction
    assert set(READERS) == {b for b, _, d in rows if d in ("both", "read")}
    assert set(WRITERS) == {o for _, o, d in rows if d in ("both", "write")}
    # read-only forms (SQUEEZE, EXPAND_DIMS) are written back as RESHAPE
    assert {b for b, _, d in rows if d == "read"} == {"SQUEEZE", "EXPAND_DIMS", "SLICE"}


def test_docs_table_is_current() -> None:
    doc = (REPO / "docs" / "tflite.md").read_text()
    for b, o, d in table_pairs():
        assert f"| {b} | {o} | {d} |" in doc, f"docs/tflite.md misses the row {b} / {o} ({d}): regenerate it"


def test_written_model_runs_in_litert() -> None:
    from ai_edge_litert.interpreter import Interpreter

    data = write_graph(quantized("chain")).data
    it = Interpreter(model_content=data)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], np.zeros(d["shape"], dtype=d["dtype"]))
    it.invoke()
