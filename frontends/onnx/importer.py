"""ONNX ModelProto -> tinyc Graph.

Constants propagate during import: a node whose inputs are all constant is
evaluated with the reference semantics and becomes a constant, so shape
subgraphs (Shape -> Gather -> Concat -> Reshape) fold away as they are read.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tinyc.errors import ModelLoadError, ShapeError, TinycError, UnsupportedOpError
from tinyc.frontends.limits import MAX_FOLDED_BYTES, check_tensor_size
from tinyc.interpreter import run_graph  # noqa: F401  (kept for callers)
from tinyc.ir import DType, Graph, Loc, TensorType, Value
from tinyc.ir.opdef import EvalContext, onnx_ops

log = logging.getLogger(__name__)

MIN_OPSET, MAX_OPSET = 11, 21

_ONNX_DTYPES = {
    onnx.TensorProto.FLOAT: DType.F32,
    onnx.TensorProto.FLOAT16: DType.F16,
    onnx.TensorProto.DOUBLE: DType.F64,
    onnx.TensorProto.INT8: DType.I8,
    onnx.TensorProto.UINT8: DType.U8,
    onnx.TensorProto.INT16: DType.I16,
    onnx.TensorProto.INT32: DType.I32,
    onnx.TensorProto.INT64: DType.I64,
    onnx.TensorProto.BOOL: DType.BOOL,
}


def dtype_from_onnx(elem_type: int, where: str) -> DType:
    try:
        return _ONNX_DTYPES[elem_type]
    except KeyError:
        name = onnx.TensorProto.DataType.Name(elem_type) if elem_type in onnx.TensorProto.DataType.values() else str(elem_type)
        raise UnsupportedOpError(f"element type {name} is not supported", where=where, hint="tinyc handles float32/16/64, int8/16/32/64, uint8 and bool tensors") from None


def load_onnx(path: str | Path, *, input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> Graph:
    """Read an ONNX file (external data only from inside its folder) and import it."""
    from tinyc.frontends.onnx.loader import read_model

    model = read_model(Path(path))
    return import_model(model, input_shapes=input_shapes, source=str(path))


def tensor_to_array(t: onnx.TensorProto, where: str) -> np.ndarray:
    """A TensorProto's data as an array, after checking that the data fits the declared shape.

    The ONNX checker only reports data that is too short; longer data, or an
    external file read in full, would otherwise fail deep inside NumPy.
    """
    dims = [int(d) for d in t.dims]
    if any(d < 0 for d in dims):
        raise ModelLoadError(f"negative dimension in {dims}", where=where, hint="the file is corrupt; re-export the model")
    dt = _ONNX_DTYPES.get(t.data_type)
    if dt is not None:
        check_tensor_size(dims, dt.itemsize, "the tensor", where=where)
        if t.HasField("raw_data"):
            want = math.prod(dims) * dt.itemsize
            if len(t.raw_data) != want:
                raise ModelLoadError(
                    f"holds {len(t.raw_data):,} bytes of data, but shape {dims} of {dt.short} needs {want:,}",
                    where=where,
                    hint="the file (or its external data) is corrupt or does not belong to this model; re-export it",
                )
    try:
        return numpy_helper.to_array(t)
    except (ValueError, TypeError) as exc:
        raise ModelLoadError(f"unreadable tensor data ({exc})", where=where, hint="the file is corrupt; re-export the model") from None


def _attr_value(attr: onnx.AttributeProto, where: str = "<node>") -> Any:
    val = helper.get_attribute_value(attr)
    if isinstance(val, bytes):
        return val.decode("utf-8", errors="replace")
    if isinstance(val, onnx.TensorProto):
        return tensor_to_array(val, f"{where}: attribute {attr.name!r}")
    if isinstance(val, list) and val and isinstance(val[0], bytes):
        return [v.decode("utf-8", errors="replace") for v in val]
    return val


def _resolve_shape(
    name: str, tt: onnx.TypeProto.Tensor, override: tuple[int, ...] | None, source: str
) -> tuple[int, ...]:
    if override is not None:
        return tuple(int(d) for d in override)
    dims: list[int] = []
    for i, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        elif i == 0:
            label = d.dim_param or "?"
            log.warning("input %r: symbolic batch dimension %r set to 1 (override with --input-shape)", name, label)
            dims.append(1)
        else:
            label = repr(d.dim_param or "unknown")
            if not d.dim_param and d.HasField("dim_value"):
                label = f"{d.dim_value} (not a positive size)"
            raise ShapeError(
                f"input {name!r} has an unresolved dimension {label} at axis {i}",
                where=source,
                hint=f"give the shape explicitly, e.g. --input-shape {name}=1x...",
            )
    return tuple(dims)


def import_model(
    model: onnx.ModelProto,
    *,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    source: str = "<model>",
) -> Graph:
    """Convert a checked ONNX model into a tinyc Graph (float, or with QDQ kept as ops)."""
    opset = 1
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            opset = imp.version
    if not (MIN_OPSET <= opset <= MAX_OPSET):
        raise ModelLoadError(
            f"ONNX opset {opset} is outside the supported range {MIN_OPSET}-{MAX_OPSET}",
            where=source,
            hint="re-export the model with an opset in that range (onnx.version_converter can convert it)",
        )
    og = model.graph
    graph = Graph(og.name or Path(source).stem or "main")
    env: dict[str, Value] = {}
    overrides = dict(input_shapes or {})

    init_names = {t.name for t in og.initializer}
    for t in og.initializer:
        dtype_from_onnx(t.data_type, f"{source}: initializer {t.name!r}")
        env[t.name] = graph.add_const(t.name, tensor_to_array(t, f"{source}: initializer {t.name!r}"))

    for vi in og.input:
        if vi.name in init_names:
            continue
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise UnsupportedOpError(f"input {vi.name!r} is not a tensor", where=source)
        dt = dtype_from_onnx(tt.elem_type, f"{source}: input {vi.name!r}")
        shape = _resolve_shape(vi.name, tt, overrides.pop(vi.name, None), source)
        check_tensor_size(shape, dt.itemsize, f"input {vi.name!r}", where=source)
        env[vi.name] = graph.add_input(vi.name, TensorType(dt, shape))
    if overrides:
        raise ShapeError(
            f"--input-shape names unknown input(s) {sorted(overrides)}",
            where=source,
            hint=f"the model's inputs are {[v.name for v in graph.inputs]}",
        )

    table = onnx_ops()
    for idx, node in enumerate(og.node):
        where = f"{source}: node {node.name or f'#{idx}'!r} ({node.op_type})"
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedOpError(
                f"operator {node.domain}::{node.op_type} (opset {opset}) is not supported",
                where=where,
                hint="tinyc imports the standard ONNX domain only; supported ops: " + ", ".join(sorted(table)),
            )
        attrs = {a.name: _attr_value(a, where) for a in node.attribute}
        loc = Loc.of(node.name or f"{node.op_type}_{idx}")
        if node.op_type == "Constant":
            _import_constant(graph, env, node, attrs, where)
            continue
        op = table.get(node.op_type)
        if op is None:
            raise UnsupportedOpError(
                f"operator {node.op_type} (domain 'ai.onnx', opset {opset}) is not supported",
                where=where,
                hint="supported ONNX ops: " + ", ".join(sorted([*table, "Constant"])),
            )
        inputs: list[Value | None] = []
        for name in node.input:
            if not name:
                inputs.append(None)
                continue
            if name not in env:
                raise ModelLoadError(f"input {name!r} is used before it is defined", where=where, hint="the model is not topologically sorted or is malformed")
            inputs.append(env[name])
        while inputs and inputs[-1] is None:
            inputs.pop()
        if getattr(op, "needs_onnx_output_count", False):
            # Ops like Split (before opset 18) learn their part count from the node's outputs only.
            attrs["_num_outputs"] = len(node.output)
        try:
            ir_attrs, ir_inputs = op.import_onnx(attrs, inputs, opset)
            out_types = op.infer(ir_attrs, ir_inputs)
        except TinycError as exc:
            if exc.where is None:
                exc.where = where
                exc.args = (exc._format(),)
            raise
        for t in out_types:
            check_tensor_size(t.shape, t.dtype.itemsize, f"the output of {node.op_type}", where=where)
        outs = [o for o in node.output]
        if len(out_types) < len([o for o in outs if o]):
            extra = [o for o in outs[len(out_types):] if o]
            used = {i for n in og.node for i in n.input} | {o.name for o in og.output}
            if any(o in used for o in extra):
                raise UnsupportedOpError(f"optional output(s) {extra} of {node.op_type} are not supported", where=where)
        # Shape and Size read only the static type of their input: they fold even when it is not constant.
        type_only = op.name in _TYPE_ONLY_OPS
        if (type_only or all(v is None or v.is_const for v in ir_inputs)) and _foldable(op.name):
            for t in out_types:
                check_tensor_size(t.shape, t.dtype.itemsize, f"the constant {node.op_type} computes at import", where=where, limit=MAX_FOLDED_BYTES)
            arrays = [None if v is None else v.const for v in ir_inputs]
            ctx = EvalContext([None if v is None else v.type for v in ir_inputs], out_types, node.name)
            results = op.evaluate(ir_attrs, arrays, ctx)
            for oname, arr, t in zip(outs, results, out_types):
                if oname:
                    env[oname] = graph.add_const(oname, np.asarray(arr, dtype=t.dtype.numpy).reshape(t.shape))
            continue
        names = [o or f"{node.name or node.op_type}_unused{i}" for i, o in enumerate(outs[: len(out_types)])]
        ir_node = graph.add_node(op, ir_inputs, ir_attrs, name=node.name or names[0], loc=loc, output_names=names, output_types=out_types)
        for oname, v in zip(outs, ir_node.outputs):
            if oname:
                env[oname] = v

    for vo in og.output:
        if vo.name not in env:
            raise ModelLoadError(f"graph output {vo.name!r} is never produced", where=source)
        graph.outputs.append(env[vo.name])
    graph.prune_constants()
    return graph


# Ops whose output depends only on their inputs' static types, never on the data.
_TYPE_ONLY_OPS = ("Shape", "Size")


def _foldable(op_name: str) -> bool:
    # Q/DQ on constant weights stay visible to the quantizer; everything else folds.
    return op_name not in ("QuantizeLinear", "DequantizeLinear")


def _import_constant(graph: Graph, env: dict[str, Value], node: onnx.NodeProto, attrs: dict[str, Any], where: str) -> None:
    if "value" in attrs:
        arr = np.asarray(attrs["value"])
    elif "value_float" in attrs:
        arr = np.asarray(attrs["value_float"], dtype=np.float32)
    elif "value_floats" in attrs:
        arr = np.asarray(attrs["value_floats"], dtype=np.float32)
    elif "value_int" in attrs:
        arr = np.asarray(attrs["value_int"], dtype=np.int64)
    elif "value_ints" in attrs:
        arr = np.asarray(attrs["value_ints"], dtype=np.int64)
    else:
        raise UnsupportedOpError(f"Constant with attributes {sorted(attrs)} is not supported", where=where)
    DType.from_numpy(arr.dtype)
    env[node.output[0]] = graph.add_const(node.output[0], arr)
