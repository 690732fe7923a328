"""tinyc Graph -> ONNX ModelProto: the inverse of the ONNX importer.

IR ops that came from ONNX keep ONNX names and semantics, with constant
inputs moved into typed attributes (see each op's ``import_onnx``). Writing
them back undoes that per op (``tinyc.export.onnx_ops``): attributes become
ONNX attributes again, or constant initializer inputs in the forms the
chosen opset defines (Reshape's shape, Slice's starts/ends, Pad's pads,
Squeeze's axes, Clip's bounds, Resize's scales or sizes, ReduceX's axes from
opset 18, Split's sizes...). A few float kernel ops (FullyConnected,
AddAct, MulAct) are written as their ONNX equivalents.

The output is deterministic: the same graph and options give the same bytes
(``model_bytes``). Node names come from each node's location (the source
model's node names, joined with ``+`` for fused nodes), made unique.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Graph, Node, Value
from tinyc.ir.dtypes import DType

log = logging.getLogger(__name__)

MIN_WRITE_OPSET, MAX_WRITE_OPSET = 13, 21

ONNX_TYPES: dict[DType, int] = {
    DType.F32: TensorProto.FLOAT,
    DType.F16: TensorProto.FLOAT16,
    DType.F64: TensorProto.DOUBLE,
    DType.I8: TensorProto.INT8,
    DType.U8: TensorProto.UINT8,
    DType.I16: TensorProto.INT16,
    DType.I32: TensorProto.INT32,
    DType.I64: TensorProto.INT64,
    DType.BOOL: TensorProto.BOOL,
}

# (op type, input index) where ONNX accepts int32 as well as int64: the writer
# narrows int64 constants there when ``narrow_int64`` is set (TensorRT 8.x).
INT32_OK_INPUTS = frozenset({("Gather", 1), ("GatherElements", 1), ("Slice", 1), ("Slice", 2), ("Slice", 3), ("Slice", 4), ("CumSum", 1)})

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True)
class WriteOptions:
    """How to write a graph as ONNX."""

    opset: int = 17
    # Write int64 constants as int32 wherever the ONNX op also takes int32
    # (TensorRT 8.x stores no INT64 weights); shape operands ONNX types as
    # int64 only (Reshape's shape, Pad's pads...) stay int64.
    narrow_int64: bool = False
    # Name of a symbolic batch dimension: axis 0 of every graph input and
    # output becomes this parameter (one optimisation profile covers it).
    dynamic_batch: str | None = None
    # Shapes of the intermediate values as value_info (static graphs only).
    value_info: bool = True
    producer_name: str = "tinyc"
    doc_string: str = ""
    metadata: tuple[tuple[str, str], ...] = ()


class OnnxEmitter:
    """Collects the ONNX nodes and initializers for one graph; the per-op emitters call it."""

    def __init__(self, graph: Graph, options: WriteOptions) -> None:
        self.graph = graph
        self.options = options
        self.opset = options.opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._taken: set[str] = {v.name for v in graph.values()}
        self._node_names: set[str] = set()
        self._const_cache: dict[tuple[str, tuple[int, ...], bytes], str] = {}
        self.current: Node | None = None

    # -- names --------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A tensor name not used yet, derived from ``hint``."""
        base = hint or "t"
        name, i = base, 1
        while name in self._taken:
            name = f"{base}_{i}"
            i += 1
        self._taken.add(name)
        return name

    @staticmethod
    def name(v: Value | None) -> str:
        return "" if v is None else v.name

    def node_name(self, node: Node, suffix: str = "") -> str:
        base = "+".join(node.loc.parts) if node.loc.parts else node.name
        base = (base or node.op.name) + suffix
        name, i = base, 1
        while name in self._node_names:
            name = f"{base}_{i}"
            i += 1
        self._node_names.add(name)
        return name

    # -- constants ------------------------------------------------------------
    def const(self, hint: str, arr: np.ndarray) -> str:
        """An initializer holding ``arr`` (identical constants are shared)."""
        arr = np.ascontiguousarray(arr)
        key = (arr.dtype.str, tuple(arr.shape), arr.tobytes())
        hit = self._const_cache.get(key)
        if hit is not None:
            return hit
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(arr, name))
        self._const_cache[key] = name
        return name

    def ints(self, hint: str, values: Sequence[int], *, int32_ok: bool = False, scalar: bool = False) -> str:
        """An integer operand (shape, axes, pads) as an initializer: int64, or int32 when narrowing and legal."""
        dtype = np.int32 if int32_ok and self.options.narrow_int64 and _fits_int32(values) else np.int64
        arr = np.asarray(list(values), dtype=dtype)
        return self.const(hint, arr.reshape(()) if scalar else arr)

    def scalar(self, hint: str, value: float, dtype: DType) -> str:
        """A rank-0 initializer of ``dtype`` (Clip bounds, Pad's fill value)."""
        return self.const(hint, np.asarray(value, dtype=dtype.numpy).reshape(()))

    # -- nodes ----------------------------------------------------------------
    def emit(
        self,
        node: Node,
        op_type: str,
        inputs: Sequence[str],
        outputs: Sequence[str] | None = None,
        *,
        suffix: str = "",
        **attrs: Any,
    ) -> list[str]:
        """Add an ONNX node for IR node ``node``; outputs default to the node's own output names."""
        outs = [o.name for o in node.outputs] if outputs is None else list(outputs)
        clean = {k: v for k, v in attrs.items() if v is not None}
        proto = helper.make_node(op_type, list(inputs), outs, name=self.node_name(node, suffix), **clean)
        self.nodes.append(proto)
        return outs

    def temp(self, node: Node, what: str) -> str:
        """A fresh intermediate tensor name for a node written as several ONNX nodes."""
        return self.fresh(f"{node.output.name}__{what}")

    def require(self, node: Node, since: int, what: str = "") -> None:
        """Raise when the chosen opset is older than ``since`` for what this node needs."""
        if self.opset < since:
            raise UnsupportedOpError(
                f"{node.op.name}{' ' + what if what else ''} needs ONNX opset {since}, the writer targets opset {self.opset}",
                where=f"node {node.name!r} ({node.loc})",
                hint=f"write with opset >= {since}, or rewrite the op into older ones before writing",
            )

    def unsupported(self, node: Node, why: str, hint: str = "") -> UnsupportedOpError:
        return UnsupportedOpError(
            f"cannot write {node.op.name} as ONNX: {why}",
            where=f"node {node.name!r} ({node.loc})",
            hint=hint or "use the NCHW float pipeline (tinyc.passes.default_pipeline) before writing ONNX",
        )


def _fits_int32(values: Sequence[int]) -> bool:
    return all(INT32_MIN <= int(v) <= INT32_MAX for v in values)


def tensor_type(t: Any, *, batch: str | None = None) -> onnx.TypeProto:
    """The ONNX type of an IR TensorType (axis 0 symbolic when ``batch`` names it)."""
    dims: list[int | str] = list(t.shape)
    if batch is not None and dims:
        dims[0] = batch
    return helper.make_tensor_type_proto(ONNX_TYPES[t.dtype], dims)


def _narrowable(graph: Graph, c: Value) -> bool:
    """Whether an int64 constant is read only where ONNX also takes int32 (and its values fit)."""
    if c.type.dtype is not DType.I64 or c in graph.outputs or not c.uses:
        return False
    if not all((n.op.onnx_op, i) in INT32_OK_INPUTS for n, i in c.uses):
        return False
    assert c.const is not None
    return bool(c.const.size == 0 or (c.const.min() >= INT32_MIN and c.const.max() <= INT32_MAX))


def graph_to_onnx(graph: Graph, options: WriteOptions | None = None) -> onnx.ModelProto:
    """The ONNX model of ``graph`` (which must be in ONNX-level ops, NCHW as imported)."""
    from tinyc import __version__
    from tinyc.export.onnx_ops import emit_node

    opts = options or WriteOptions()
    if not MIN_WRITE_OPSET <= opts.opset <= MAX_WRITE_OPSET:
        raise UnsupportedOpError(
            f"the ONNX writer handles opsets {MIN_WRITE_OPSET}-{MAX_WRITE_OPSET}, not {opts.opset}",
            hint=f"choose an opset between {MIN_WRITE_OPSET} and {MAX_WRITE_OPSET}",
        )
    e = OnnxEmitter(graph, opts)
    for c in graph.constants:
        assert c.const is not None
        if c in graph.outputs:
            continue
        arr = c.const
        if opts.narrow_int64 and _narrowable(graph, c):
            arr = arr.astype(np.int32)
        e.initializers.append(numpy_helper.from_array(np.ascontiguousarray(arr).reshape(arr.shape), c.name))
    for node in graph.nodes:
        e.current = node
        emit_node(e, node)
    outputs = []
    for v in graph.outputs:
        if v.is_const:  # an output that folded to a constant: an initializer copied by Identity
            assert v.const is not None
            src = e.const(f"{v.name}__value", v.const)
            e.nodes.append(helper.make_node("Identity", [src], [v.name], name=e.fresh(f"{v.name}__identity")))
        outputs.append(helper.make_value_info(v.name, tensor_type(v.type, batch=opts.dynamic_batch)))
    inputs = [helper.make_value_info(v.name, tensor_type(v.type, batch=opts.dynamic_batch)) for v in graph.inputs]
    value_info = []
    if opts.value_info and opts.dynamic_batch is None:
        io = {v.name for v in graph.inputs} | {v.name for v in graph.outputs}
        for node in graph.nodes:
            for out in node.outputs:
                if out.name not in io and out.uses:
                    value_info.append(helper.make_value_info(out.name, tensor_type(out.type)))
    g = helper.make_graph(e.nodes, graph.name or "main", inputs, outputs, initializer=e.initializers, value_info=value_info)
    opset_id = helper.make_opsetid("", opts.opset)
    model = helper.make_model(g, opset_imports=[opset_id], producer_name=opts.producer_name, producer_version=__version__)
    model.ir_version = helper.find_min_ir_version_for([opset_id])
    if opts.doc_string:
        model.doc_string = opts.doc_string
    for key, value in opts.metadata:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model


def model_bytes(model: onnx.ModelProto) -> bytes:
    """The serialized model, byte-for-byte reproducible."""
    return model.SerializeToString(deterministic=True)


def write_onnx(graph: Graph, path: str | Path, options: WriteOptions | None = None) -> Path:
    """Write ``graph`` as an ONNX file; returns the path."""
    out = Path(path)
    out.write_bytes(model_bytes(graph_to_onnx(graph, options)))
    log.info("wrote %s (%d nodes, opset %d)", out, len(graph.nodes), (options or WriteOptions()).opset)
    return out
