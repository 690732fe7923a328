"""IR graph -> TFLite flatbuffer (schema version 3, one subgraph, static shapes).

The writer walks the graph in order and asks the op table for each node's
operators. It owns the tensor, buffer and operator-code lists, gives every
operator the lowest version that expresses it, and decides the model's
inputs and outputs from the I/O type:

- ``int8``: the graph's int8 tensors are the model's inputs and outputs
  (QuantizeLinear on a float input and DequantizeLinear on a float output are
  dropped, as the quantized graph between them is what runs);
- ``uint8``: uint8 inputs/outputs (zero point + 128, same scale) with a
  QUANTIZE operator at each edge, as TFLite's converter writes them;
- ``float``: float inputs/outputs with QUANTIZE/DEQUANTIZE operators.

A float graph is written as it is (float I/O). Constant data is stored
16-byte aligned, as TFLite's converter does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyc.backends.tflite.optable import OpSignature, op_version, writer_for
from tinyc.backends.tflite.schema import SCHEMA_VERSION, builtin_code, options_type, schema, serialize, tflite_type
from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Graph, Node, Value
from tinyc.ir.dtypes import DType
from tinyc.ir.types import QuantParams, TensorType

log = logging.getLogger(__name__)

IO_TYPES = ("int8", "uint8", "float")
BUFFER_ALIGN = 16


@dataclass(frozen=True)
class WriteOptions:
    """How to write: the model's I/O type and whether to prefer Edge TPU-friendly forms."""

    io_type: str = "int8"
    edgetpu: bool = False
    description: str = "tinyc"


@dataclass
class WrittenOp:
    """One operator of the written model, with the IR node it came from (None for I/O conversions)."""

    index: int
    builtin: str
    version: int
    inputs: list[int]
    outputs: list[int]
    node: Node | None
    options: Any = None


@dataclass
class Written:
    """The flatbuffer and what the reports need to know about it."""

    data: bytes
    ops: list[WrittenOp]
    tensor_types: list[TensorType]
    tensor_names: list[str]
    inputs: list[int]
    outputs: list[int]
    io_type: str
    notes: dict[str, list[str]] = field(default_factory=dict)  # node name -> remarks (rewrites)
    constants: dict[int, np.ndarray] = field(default_factory=dict)  # tensor index -> data

    @property
    def opcodes(self) -> list[tuple[str, int]]:
        seen: list[tuple[str, int]] = []
        for op in self.ops:
            if (op.builtin, op.version) not in seen:
                seen.append((op.builtin, op.version))
        return seen


def is_quantized_graph(graph: Graph) -> bool:
    """True when any node computes on quantized integers."""
    return any(v is not None and v.type.quant is not None and v.type.dtype.is_int for n in graph.nodes for v in (*n.inputs, *n.outputs))


class TFLiteWriter:
    """Builds a ModelT from a graph; implements the op table's ``WriteCtx``."""

    def __init__(self, graph: Graph, options: WriteOptions) -> None:
        if options.io_type not in IO_TYPES:
            raise UnsupportedOpError(f"unknown I/O type {options.io_type!r}", hint=f"choose one of {', '.join(IO_TYPES)}")
        self.graph = graph
        self.options = options
        self.edgetpu = options.edgetpu
        self.s = schema()
        self.tensors: list[Any] = []
        self.types: list[TensorType] = []
        self.names: list[str] = []
        self.buffers: list[Any] = [self.s.BufferT()]
        self.operators: list[Any] = []
        self.ops: list[WrittenOp] = []
        self.opcode_index: dict[tuple[str, int], int] = {}
        self.opcodes: list[Any] = []
        self.by_value: dict[int, int] = {}
        self.constants: dict[int, np.ndarray] = {}
        self.rename: dict[int, str] = {}
        self.notes: dict[str, list[str]] = {}
        self._used_names: set[str] = set()
        self._node: Node | None = None

    # -- WriteCtx ---------------------------------------------------------------------------

    def tensor(self, v: Value) -> int:
        k = self.by_value.get(id(v))
        if k is None:
            k = self._add(self.rename.get(id(v), v.name), v.type, v.const)
            self.by_value[id(v)] = k
        return k

    def const(self, data: np.ndarray, name: str, quant: QuantParams | None = None) -> int:
        arr = np.ascontiguousarray(data)
        return self._add(name, TensorType.of_array(arr, quant), arr)

    def temp(self, ttype: TensorType, name: str) -> int:
        return self._add(name, ttype, None)

    def op(self, builtin: str, inputs: Sequence[int], outputs: Sequence[int], options: Any = None) -> None:
        sig = self._signature(builtin, inputs, outputs, options)
        version = op_version(sig)
        key = (builtin, version)
        if key not in self.opcode_index:
            code = self.s.OperatorCodeT()
            code.builtinCode = builtin_code(builtin)
            code.deprecatedBuiltinCode = min(code.builtinCode, 127)
            code.version = version
            self.opcode_index[key] = len(self.opcodes)
            self.opcodes.append(code)
        o = self.s.OperatorT()
        o.opcodeIndex = self.opcode_index[key]
        o.inputs = [int(i) for i in inputs]
        o.outputs = [int(i) for i in outputs]
        if options is not None:
            o.builtinOptionsType = options_type(type(options).__name__[:-1])
            o.builtinOptions = options
        self.operators.append(o)
        self.ops.append(WrittenOp(len(self.ops), builtin, version, list(o.inputs), list(o.outputs), self._node, options))

    def note(self, node: Node, text: str) -> None:
        self.notes.setdefault(node.name, []).append(text)

    def fail(self, node: Node, what: str, hint: str | None = None) -> UnsupportedOpError:
        ins = ", ".join(str(v.type) for v in node.inputs if v is not None)
        return UnsupportedOpError(
            f"the tflite backend cannot write {node.op.name}: {what}",
            where=f"node {node.name!r} ({node.loc}) with inputs {ins}",
            hint=hint or "see docs/tflite.md for the ops tinyc writes",
        )

    # -- building -----------------------------------------------------------------------------

    def _unique(self, name: str) -> str:
        base = name or "t"
        cand, i = base, 0
        while cand in self._used_names:
            i += 1
            cand = f"{base}_{i}"
        self._used_names.add(cand)
        return cand

    def _add(self, name: str, t: TensorType, data: np.ndarray | None) -> int:
        tt = self.s.TensorT()
        tt.shape = [int(d) for d in t.shape]
        tt.type = tflite_type(t.dtype)
        tt.name = self._unique(name)
        if t.quant is not None:
            q = self.s.QuantizationParametersT()
            q.scale = [float(s) for s in t.quant.scale]
            q.zeroPoint = [int(z) for z in t.quant.zero_point]
            q.quantizedDimension = int(t.quant.axis or 0)
            tt.quantization = q
        tt.buffer = 0
        if data is not None:
            b = self.s.BufferT()
            b.data = np.ascontiguousarray(data, dtype=t.dtype.numpy).view(np.uint8).reshape(-1)
            self.buffers.append(b)
            tt.buffer = len(self.buffers) - 1
            self.constants[len(self.tensors)] = np.asarray(data)
        self.tensors.append(tt)
        self.types.append(t)
        self.names.append(tt.name)
        return len(self.tensors) - 1

    def _signature(self, builtin: str, inputs: Sequence[int], outputs: Sequence[int], options: Any) -> OpSignature:
        """What the operator's version depends on: tensor types, per-channel parameters, ranks, MUL's scales."""
        ins = tuple(self.types[i].dtype if i >= 0 else None for i in inputs)
        outs = tuple(self.types[i].dtype for i in outputs)
        quants = [self.types[i].quant for i in (*inputs, *outputs) if i >= 0]
        per_channel = any(q is not None and not q.is_per_tensor for q in quants)
        scales: tuple[float, ...] = ()
        qs = [self.types[i].quant for i in (*inputs[:2], *outputs[:1]) if i >= 0]
        if builtin == "MUL" and len(qs) == 3:
            scales = tuple(q.scale[0] for q in qs if q is not None)
        ranks = tuple(self.types[i].rank for i in inputs if i >= 0)
        return OpSignature(builtin, ins, outs, options, per_channel, ranks, scales)

    def build(self) -> Written:
        skip = self._plan_io()
        for edge, core in self._edge_inputs:
            self.op("QUANTIZE", [edge], [self.tensor(core)])
        for node in self.graph.nodes:
            if node in skip:
                continue
            m = writer_for(node.op.name)
            if m is None:
                raise self.fail(node, "no TFLite builtin corresponds to it")
            self._node = node
            m.write(self, node)
        self._node = None
        for slot, core, name in self._edge_outputs:
            edge = self._add(name, self._edge_type(core.type), None)
            self.op("QUANTIZE" if self.io_type == "uint8" else "DEQUANTIZE", [self.tensor(core)], [edge])
            self.model_outputs[slot] = edge
        return self._serialize()

    # -- inputs and outputs ------------------------------------------------------------------------

    def _plan_io(self) -> set[Node]:
        """Decide each model input/output tensor; returns the edge Q/DQ nodes not to write."""
        g = self.graph
        self.io_type = self.options.io_type if is_quantized_graph(g) else "float"
        skip: set[Node] = set()
        self.model_inputs: list[int] = []
        self.model_outputs: list[int] = []
        self._edge_inputs: list[tuple[int, Value]] = []  # (model input tensor, int8 value it feeds)
        self._edge_outputs: list[tuple[int, Value, str]] = []  # (output slot, int8 value, name)
        for x in g.inputs:
            users = x.users
            core = x
            if (
                x.type.dtype.is_float
                and self.io_type != "float"
                and users
                and x not in g.outputs
                and all(u.op.name == "QuantizeLinear" for u in users)
                and len({u.output.type for u in users}) == 1
            ):
                core = users[0].output
                skip.update(users)
            self._input_for(x, core)
            for u in users[1:] if core is not x else ():
                self.by_value[id(u.output)] = self.tensor(core)
        for y in g.outputs:
            core = y
            p = y.producer
            if y.type.dtype.is_float and self.io_type != "float" and p is not None and p.op.name == "DequantizeLinear" and not y.uses:
                core = p.input(0)
                skip.add(p)
            self._output_for(y, core)
        return skip

    def _edge_type(self, t: TensorType) -> TensorType:
        if self.io_type == "uint8":
            assert t.quant is not None
            return TensorType(DType.U8, t.shape, QuantParams.per_tensor(t.quant.scale[0], t.quant.zero_point[0] + 128))
        return TensorType(DType.F32, t.shape)

    def _needs_edge(self, name: str, core: Value, what: str) -> bool:
        """Whether a uint8/float model edge goes in front of (or after) the int8 value ``core``."""
        ct = core.type
        if ct.dtype.is_float or self.io_type == "int8":
            return False
        if ct.dtype is not DType.I8 or ct.quant is None or not ct.quant.is_per_tensor:
            raise UnsupportedOpError(f"{what} {name!r} is {ct}; {self.io_type} model {what}s need a per-tensor int8 value", hint="use --io-type int8")
        if id(core) not in self.by_value:
            self.rename.setdefault(id(core), f"{name}_int8")
        return True

    def _input_for(self, x: Value, core: Value) -> None:
        if not self._needs_edge(x.name, core, "input"):
            self.rename.setdefault(id(core), x.name)
            self.model_inputs.append(self.tensor(core))
            return
        edge = self._add(x.name, self._edge_type(core.type), None)
        self.model_inputs.append(edge)
        self._edge_inputs.append((edge, core))

    def _output_for(self, y: Value, core: Value) -> None:
        if not self._needs_edge(y.name, core, "output"):
            self.rename.setdefault(id(core), y.name)
            self.model_outputs.append(self.tensor(core))
            return
        self.model_outputs.append(-1)
        self._edge_outputs.append((len(self.model_outputs) - 1, core, y.name))

    def _serialize(self) -> Written:
        s = self.s
        sg = s.SubGraphT()
        sg.tensors = self.tensors
        sg.inputs = list(self.model_inputs)
        sg.outputs = list(self.model_outputs)
        sg.operators = self.operators
        sg.name = self.graph.name or "main"
        m = s.ModelT()
        m.version = SCHEMA_VERSION
        m.operatorCodes = self.opcodes
        m.subgraphs = [sg]
        m.buffers = [_AlignedBuffer.of(b) for b in self.buffers]
        m.description = self.options.description
        data = serialize(m)
        return Written(data, self.ops, self.types, self.names, list(self.model_inputs), list(self.model_outputs), self.io_type, self.notes, self.constants)


class _AlignedBuffer:
    """A BufferT whose data vector starts on a 16-byte boundary (TFLite's converter aligns constant data)."""

    def __init__(self, data: np.ndarray | None) -> None:
        self.data = data

    @classmethod
    def of(cls, b: Any) -> Any:
        return cls(None if b.data is None else np.asarray(b.data, dtype=np.uint8))

    def Pack(self, builder: Any) -> int:  # noqa: N802 (the object API's method name)
        s = schema()
        vec = None
        if self.data is not None and self.data.size:
            payload = self.data.tobytes()
            builder.StartVector(1, len(payload), BUFFER_ALIGN)
            builder.head = builder.head - len(payload)
            builder.Bytes[builder.head : builder.head + len(payload)] = payload
            builder.vectorNumElems = len(payload)
            vec = builder.EndVector()
        s.BufferStart(builder)
        if vec is not None:
            s.BufferAddData(builder, vec)
        return int(s.BufferEnd(builder))


def write_graph(graph: Graph, options: WriteOptions | None = None) -> Written:
    """Write ``graph`` as a .tflite flatbuffer."""
    return TFLiteWriter(graph, options or WriteOptions()).build()
