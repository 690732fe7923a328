"""The TFLite reader: real models in, the quantized IR form out; every malformed file a ModelLoadError.

Malformed files are made by editing a valid model with the schema's object
API (each breaks one invariant), by truncating it, and by Hypothesis flipping
bytes: the reader must answer with a TinycError (or a graph that verifies),
never another exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tfl_micro import quantized

from tinyc.api import load
from tinyc.backends.tflite.schema import schema, serialize
from tinyc.backends.tflite.writer import write_graph
from tinyc.errors import ModelLoadError, TinycError, UnsupportedOpError
from tinyc.frontends.tflite import load_tflite, load_tflite_bytes
from tinyc.ir import verify
from tinyc.ir.dtypes import DType
from tinyc.testing import shared_model
from tinyc.validate import validate

pytest.importorskip("ai_edge_litert")


# -- real models ------------------------------------------------------------------------------------


def test_kws_int8_imports_as_the_quantized_ir() -> None:
    path = shared_model("mlperf-tiny/kws_dscnn_int8.tflite")
    g = load(path).graph
    assert [n.op.name for n in g.nodes] == ["Conv2D", "DepthwiseConv2D"] * 4 + ["Conv2D", "AvgPool2D", "Reshape", "FullyConnected", "Softmax"]
    x = g.inputs[0]
    assert x.type.dtype is DType.I8 and x.type.shape == (1, 49, 10, 1)
    assert x.type.quant is not None and x.type.quant.zero_point == (83,) and x.type.quant.scale[0] == pytest.approx(0.5847029)
    conv, dw = g.nodes[0], g.nodes[1]
    assert conv.attrs.strides == (2, 2) and conv.attrs.pads == (4, 1, 5, 1) and conv.attrs.act_min == 0.0 and conv.attrs.act_max is None
    w, b = conv.input(1), conv.input(2)
    assert w.type.dtype is DType.I8 and w.type.quant is not None and w.type.quant.axis == 0 and len(w.type.quant.scale) == 64
    assert b.type.dtype is DType.I32 and w.is_const and b.is_const
    assert dw.input(1).type.quant is not None and dw.input(1).type.quant.axis == 3
    fc = g.node(g.nodes[-2].name)
    assert fc.input(1).type.quant is not None and fc.input(1).type.quant.is_per_tensor
    assert g.outputs[0].type.quant is not None and g.outputs[0].type.quant.scale[0] == 1 / 256


def test_ad_int8_imports() -> None:
    g = load(shared_model("mlperf-tiny/ad_autoencoder_int8.tflite")).graph
    assert [n.op.name for n in g.nodes] == ["FullyConnected"] * 10
    assert [n.attrs.act_min for n in g.nodes] == [0.0] * 9 + [None]


@pytest.mark.parametrize("which", ["kws_dscnn_int8", "ad_autoencoder_int8"])
def test_mlperf_int8_compiles_for_cmsis_nn_and_validates(which: str) -> None:
    pytest.importorskip("tflite_micro")
    import shutil

    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    report = validate(shared_model(f"mlperf-tiny/{which}.tflite"), target="stm32h7", on="host", random=4, seed=3)
    assert report.ok and report.int8_mismatches == 0, report.text()


# -- malformed files ------------------------------------------------------------------------------------


def _model() -> Any:
    """A small valid model (conv with odd pads: PAD + CONV_2D) as an object tree to break."""
    data = write_graph(quantized("conv_odd_pads")).data
    s = schema()
    return s.ModelT.InitFromObj(s.Model.GetRootAs(data, 0))


def _two_subgraphs(m: Any) -> None:
    m.subgraphs.append(m.subgraphs[0])


def _bad_buffer(m: Any) -> None:
    m.subgraphs[0].tensors[1].buffer = 999


def _negative_dim(m: Any) -> None:
    m.subgraphs[0].tensors[0].shape = [1, -1, 6, 3]


def _data_size(m: Any) -> None:
    t = next(t for t in m.subgraphs[0].tensors if t.buffer)
    m.buffers[t.buffer].data = np.zeros(3, dtype=np.uint8)


def _input_index(m: Any) -> None:
    m.subgraphs[0].operators[0].inputs = [0, 77]


def _opcode_index(m: Any) -> None:
    m.subgraphs[0].operators[1].opcodeIndex = 9


def _order(m: Any) -> None:
    ops = m.subgraphs[0].operators
    ops[0], ops[1] = ops[1], ops[0]


def _written_twice(m: Any) -> None:
    ops = m.subgraphs[0].operators
    ops[1].outputs = list(ops[0].outputs)


def _scale_count(m: Any) -> None:
    t = next(t for t in m.subgraphs[0].tensors if t.quantization is not None and t.quantization.scale is not None and len(t.quantization.scale) > 1)
    t.quantization.zeroPoint = [0]


def _zero_scale(m: Any) -> None:
    m.subgraphs[0].tensors[0].quantization.scale = [0.0]


def _quant_dim(m: Any) -> None:
    t = next(t for t in m.subgraphs[0].tensors if t.quantization is not None and t.quantization.scale is not None and len(t.quantization.scale) > 1)
    t.quantization.quantizedDimension = 7


def _string_tensor(m: Any) -> None:
    m.subgraphs[0].tensors[0].type = schema().TensorType.STRING


def _wrong_output_shape(m: Any) -> None:
    out = m.subgraphs[0].operators[-1].outputs[0]
    m.subgraphs[0].tensors[out].shape = [1, 9, 9, 4]


def _schema_version(m: Any) -> None:
    m.version = 2


def _external_buffer(m: Any) -> None:
    t = next(t for t in m.subgraphs[0].tensors if t.buffer)
    m.buffers[t.buffer].data = None
    m.buffers[t.buffer].offset, m.buffers[t.buffer].size = 10**6, 64


def _output_never_computed(m: Any) -> None:
    sg = m.subgraphs[0]
    sg.operators = sg.operators[:1]  # the conv that computes the model's output is gone


BREAKS: dict[str, tuple[Callable[[Any], None], str]] = {
    "two subgraphs": (_two_subgraphs, "2 subgraphs"),
    "buffer index": (_bad_buffer, "buffer index 999"),
    "negative dimension": (_negative_dim, "negative dimension"),
    "constant size": (_data_size, "constant data is 3 bytes"),
    "input index": (_input_index, "input tensor index 77"),
    "opcode index": (_opcode_index, "opcode index 9"),
    "operator order": (_order, "before any operator produces it"),
    "tensor written twice": (_written_twice, "already has a value"),
    "scales vs zero points": (_scale_count, "scales but 1 zero points"),
    "zero scale": (_zero_scale, "finite and positive"),
    "quantized dimension": (_quant_dim, "quantized_dimension 7"),
    "string tensor": (_string_tensor, "STRING is not supported"),
    "output shape": (_wrong_output_shape, "the operator computes"),
    "schema version": (_schema_version, "schema version 2"),
    "external buffer": (_external_buffer, "outside the file"),
    "output never computed": (_output_never_computed, "never computed"),
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_malformed_model_is_a_model_load_error(case: str) -> None:
    fn, message = BREAKS[case]
    m = _model()
    fn(m)
    with pytest.raises(ModelLoadError, match=message):
        load_tflite_bytes(serialize(m), where="broken.tflite")


def _set_op(m: Any, builtin: str, options: Any = None) -> None:
    s = schema()
    code = s.OperatorCodeT()
    code.builtinCode = getattr(s.BuiltinOperator, builtin)
    code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    code.version = 1
    m.operatorCodes.append(code)
    op = m.subgraphs[0].operators[-1]
    op.opcodeIndex = len(m.operatorCodes) - 1
    if options is not None:
        op.builtinOptions = options


def test_unknown_builtin_is_unsupported() -> None:
    m = _model()
    _set_op(m, "LSTM")
    with pytest.raises(UnsupportedOpError, match="LSTM is not supported"):
        load_tflite_bytes(serialize(m))


def test_custom_op_is_unsupported() -> None:
    m = _model()
    _set_op(m, "CUSTOM")
    m.operatorCodes[-1].customCode = "edgetpu-custom-op"
    with pytest.raises(UnsupportedOpError, match="CUSTOM"):
        load_tflite_bytes(serialize(m))


def test_tanh_fused_activation_is_unsupported() -> None:
    m = _model()
    m.subgraphs[0].operators[-1].builtinOptions.fusedActivationFunction = schema().ActivationFunctionType.TANH
    with pytest.raises(UnsupportedOpError, match="fused activation TANH"):
        load_tflite_bytes(serialize(m))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "too short"),
        (b"\x10\x00\x00\x00TFL2xxxxxxxx", "file identifier"),
        (b"\xff\xff\xff\x00TFL3xxxxxxxx", "root table offset"),
        (b"\x0c\x00\x00\x00TFL3" + b"\xff" * 24, "corrupt|claims|more entries"),
    ],
)
def test_garbage_is_a_model_load_error(data: bytes, message: str) -> None:
    with pytest.raises(ModelLoadError, match=message):
        load_tflite_bytes(data)


def test_missing_file(tmp_path: Any) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        load_tflite(tmp_path / "nope.tflite")


def _answer(data: bytes) -> None:
    """A graph that verifies, or a TinycError; anything else fails the test."""
    try:
        g = load_tflite_bytes(data)
    except TinycError:
        return
    verify(g, where="fuzz")


VALID = write_graph(quantized("chain")).data


def test_every_truncation_is_refused_cleanly() -> None:
    for n in range(0, len(VALID), max(1, len(VALID) // 97)):
        _answer(VALID[:n])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_flipped_bytes_never_crash_the_reader(edits: list[tuple[int, int]]) -> None:
    data = bytearray(VALID)
    for pos, value in edits:
        data[pos] = value
    _answer(bytes(data))


def test_structural_mutations_never_crash_the_reader() -> None:
    """Valid flatbuffers with wrong contents: shapes, options, indices, types, quantization, constant bytes."""
    import copy
    import random

    s = schema()
    bases = [s.ModelT.InitFromObj(s.Model.GetRootAs(write_graph(quantized(n)).data, 0)) for n in ("chain", "concat", "slice", "pad", "fc_rank3")]
    rng = random.Random(0)
    values = [-3, -1, 0, 1, 2, 3, 7, 100, 2**31 - 1]

    def mutate(m: Any) -> None:
        sg = m.subgraphs[0]
        kind = rng.randrange(5)
        if kind == 0:
            t = rng.choice(sg.tensors)
            t.shape = [rng.choice(values) if rng.random() < 0.3 else d for d in t.shape]
        elif kind == 1:
            o = rng.choice(sg.operators).builtinOptions
            keys = [k for k, v in vars(o).items() if isinstance(v, (int, float))] if o is not None else []
            if keys:
                setattr(o, rng.choice(keys), rng.choice(values))
        elif kind == 2:
            op = rng.choice(sg.operators)
            ins = list(op.inputs)
            ins[rng.randrange(len(ins))] = rng.choice([-1, 0, 1, len(sg.tensors) - 1])
            op.inputs = ins
        elif kind == 3:
            t = rng.choice(sg.tensors)
            t.type = rng.choice([0, 1, 2, 3, 4, 7, 9])
        else:
            q = rng.choice(sg.tensors).quantization
            if q is not None and q.scale is not None:
                q.quantizedDimension = rng.choice([0, 1, 2, 3])
                q.zeroPoint = [rng.choice([-200, -128, 0, 127, 300])] * len(q.scale)

    for _ in range(300):
        m = copy.deepcopy(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            mutate(m)
        try:
            data = serialize(m)
        except Exception:  # the object API refuses some values itself (e.g. out-of-range ints)
            continue
        _answer(data)
