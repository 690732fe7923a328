"""Test helper: build one-operator int8 TFLite flatbuffers and run them on the real interpreters.

Used to check :mod:`tinyc.quant.kernels` and :mod:`tinyc.quant.params` against
LiteRT (reference kernels) and TensorFlow Lite Micro on configurations the
shared models do not cover (SAME padding with odd totals, strides, dilation,
depth multipliers, add, mul, softmax parameters, ...). The flatbuffer is
written with the schema module that ships with ai-edge-litert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

try:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema
except ImportError:  # pragma: no cover - the tests importing this skip first
    schema = None
    flatbuffers = None

TFLITE_TYPES = {np.dtype(np.int8): 9, np.dtype(np.int32): 2, np.dtype(np.float32): 0}


@dataclass
class Tensor:
    """One tensor of the model: constant when ``data`` is given."""

    shape: tuple[int, ...]
    dtype: Any = np.int8
    scale: tuple[float, ...] = (1.0,)
    zero_point: tuple[int, ...] = (0,)
    quantized_dimension: int = 0
    data: np.ndarray | None = field(default=None, repr=False)


def build_model(op_name: str, version: int, inputs: list[Tensor | None], output: Tensor, options: Any, options_type: int) -> bytes:
    """A flatbuffer with one subgraph and one ``op_name`` operator; ``None`` inputs are omitted (-1)."""
    buffers = [schema.BufferT()]
    tensors = []
    op_inputs = []
    graph_inputs = []

    def add_tensor(t: Tensor, name: str) -> int:
        tt = schema.TensorT()
        tt.shape = list(t.shape)
        tt.type = TFLITE_TYPES[np.dtype(t.dtype)]
        tt.name = name
        q = schema.QuantizationParametersT()
        q.scale = [float(s) for s in t.scale]
        q.zeroPoint = [int(z) for z in t.zero_point]
        q.quantizedDimension = t.quantized_dimension
        tt.quantization = q
        if t.data is not None:
            b = schema.BufferT()
            b.data = list(np.ascontiguousarray(t.data, dtype=t.dtype).tobytes())
            buffers.append(b)
            tt.buffer = len(buffers) - 1
        else:
            tt.buffer = 0
        tensors.append(tt)
        return len(tensors) - 1

    for i, t in enumerate(inputs):
        if t is None:
            op_inputs.append(-1)
            continue
        idx = add_tensor(t, f"in{i}")
        op_inputs.append(idx)
        if t.data is None:
            graph_inputs.append(idx)
    out_idx = add_tensor(output, "out")

    code = schema.OperatorCodeT()
    builtin = getattr(schema.BuiltinOperator, op_name)
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = version

    op = schema.OperatorT()
    op.opcodeIndex = 0
    op.inputs = op_inputs
    op.outputs = [out_idx]
    op.builtinOptionsType = options_type
    op.builtinOptions = options

    sg = schema.SubGraphT()
    sg.tensors = tensors
    sg.inputs = graph_inputs
    sg.outputs = [out_idx]
    sg.operators = [op]
    sg.name = "main"

    model = schema.ModelT()
    model.version = 3
    model.operatorCodes = [code]
    model.subgraphs = [sg]
    model.buffers = buffers
    model.description = "tinyc test"

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def run_litert(model: bytes, inputs: list[np.ndarray]) -> np.ndarray:
    """Run with LiteRT's reference kernels (``BUILTIN_REF``)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    for d, x in zip(interp.get_input_details(), inputs, strict=True):
        interp.set_tensor(d["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def run_tflm(model: bytes, inputs: list[np.ndarray]) -> np.ndarray:
    """Run with TensorFlow Lite Micro's Python interpreter (reference kernels)."""
    from tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(model)
    for i, x in enumerate(inputs):
        interp.set_input(x, i)
    interp.invoke()
    return interp.get_output(0)


def options(kind: str, **fields: Any) -> tuple[Any, int]:
    """``(XOptionsT instance, BuiltinOptions enum value)`` with ``fields`` set."""
    obj = getattr(schema, f"{kind}T")()
    for k, v in fields.items():
        if not hasattr(obj, k):
            raise AttributeError(f"{kind} has no field {k}")
        setattr(obj, k, v)
    return obj, getattr(schema.BuiltinOptions, kind)
