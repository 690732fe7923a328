"""The rules a TensorRT-ready ONNX model keeps, checked on the written model (or any ONNX model).

``check_model(model, profile)`` returns every violation, each naming its rule,
the node (or tensor) and the reason; ``enforce`` raises one error listing
them. Rules:

- ``opset``: the default-domain opset lies in the target TensorRT's range; no other domains;
- ``static-shape``: graph inputs have fixed positive dimensions (axis 0 may be
  the batch of an optimisation profile when one is written);
- ``int64``: TensorRT 8.x has no INT64 weights: INT64 initializers only where
  ONNX types the operand int64 and nothing else (shape, axes, pads, K), with
  values that fit INT32 (the parser casts those down losslessly); no INT64 graph I/O;
- ``unsupported-op``: only ops this TensorRT's parser reads; never QLinear* / *Integer;
- ``qdq``: Quantize/DequantizeLinear are int8, zero point 0, positive finite
  scales (initializers); per channel only for weights (initializers) on axis 0;
- ``constant-input``: shape, axes, pads, K, bounds, scales and weights are initializers;
- ``folded``: no node computes from initializers only (except DequantizeLinear of
  weights), no shape subgraphs (Shape, Size, ConstantOfShape, Range, NonZero);
- ``restriction``: per-op limits of the parser (pooling 2-D/3-D with dilation 1,
  Resize modes, TopK K < 3840 sorted, Cast targets, rank <= 8, 2-D/3-D Conv on 8.2);
- ``dtype``: no DOUBLE tensors; UINT8 only as network input/output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from tinyc.backends.tensorrt.profile import QUANTIZED_INTEGER_OPS, TrtProfile
from tinyc.errors import UnsupportedOpError

REDUCE_OPS = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp")
# (op, input index) whose operand ONNX types as int64 only.
INT64_OPERANDS = frozenset(
    {("Reshape", 1), ("Expand", 1), ("Tile", 1), ("Squeeze", 1), ("Unsqueeze", 1), ("Split", 1), ("Pad", 1), ("TopK", 1),
     ("Resize", 3), ("ConstantOfShape", 0), ("Trilu", 1), *((op, 1) for op in REDUCE_OPS)}
)  # fmt: skip
# (op, input index) TensorRT needs as initializers (build-time constants).
CONSTANT_OPERANDS = frozenset(
    {("Reshape", 1), ("Expand", 1), ("Tile", 1), ("Squeeze", 1), ("Unsqueeze", 1), ("Split", 1), ("Pad", 1), ("Pad", 2), ("TopK", 1),
     ("Resize", 1), ("Resize", 2), ("Resize", 3), ("Slice", 1), ("Slice", 2), ("Slice", 3), ("Slice", 4), ("Clip", 1), ("Clip", 2),
     ("CumSum", 1), ("Trilu", 1), ("QuantizeLinear", 1), ("QuantizeLinear", 2), ("DequantizeLinear", 1), ("DequantizeLinear", 2),
     *((op, 1) for op in REDUCE_OPS)}
)  # fmt: skip
SHAPE_SUBGRAPH_OPS = frozenset({"Shape", "Size", "ConstantOfShape", "Range", "NonZero"})
RESIZE_COORD_MODES = frozenset({"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"})
TOPK_MAX_K = 3840
MAX_RANK = 8


@dataclass(frozen=True)
class Violation:
    """One broken rule: which, where, why."""

    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.message}"


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _node_where(node: onnx.NodeProto, idx: int) -> str:
    return f"node {node.name or f'#{idx}'!r} ({node.op_type})"


def _dims(vi: onnx.ValueInfoProto) -> list[int | str]:
    out: list[int | str] = []
    for d in vi.type.tensor_type.shape.dim:
        out.append(int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?"))
    return out


class _Model:
    """Indexes of one model: initializers, producers, value types."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        g = model.graph
        self.inits = {t.name: t for t in g.initializer}
        self.producer = {o: n for n in g.node for o in n.output}
        try:
            inferred = onnx.shape_inference.infer_shapes(model)
        except Exception:  # noqa: BLE001 - a malformed model: rank checks are skipped, other rules still run
            inferred = model
        self.types: dict[str, onnx.ValueInfoProto] = {}
        for vi in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
            self.types[vi.name] = vi
        self.io = {v.name for v in g.input} | {v.name for v in g.output}

    def elem(self, name: str) -> int:
        if name in self.inits:
            return int(self.inits[name].data_type)
        vi = self.types.get(name)
        return int(vi.type.tensor_type.elem_type) if vi is not None else 0

    def rank(self, name: str) -> int | None:
        if name in self.inits:
            return len(self.inits[name].dims)
        vi = self.types.get(name)
        if vi is None or not vi.type.tensor_type.HasField("shape"):
            return None
        return len(vi.type.tensor_type.shape.dim)

    def array(self, name: str) -> np.ndarray | None:
        t = self.inits.get(name)
        return None if t is None else numpy_helper.to_array(t)

    def is_weight(self, name: str) -> bool:
        """An initializer, or DequantizeLinear of one."""
        if name in self.inits:
            return True
        p = self.producer.get(name)
        return p is not None and p.op_type == "DequantizeLinear" and p.input[0] in self.inits


def check_model(model: onnx.ModelProto, profile: TrtProfile, *, dynamic_batch: bool = False) -> list[Violation]:
    """Every rule ``model`` breaks for ``profile``'s TensorRT."""
    m = _Model(model)
    out: list[Violation] = []
    out += _check_opset(model, profile)
    out += _check_io(model, m, profile, dynamic_batch)
    out += _check_initializers(model, m, profile)
    for idx, node in enumerate(model.graph.node):
        out += _check_node(node, idx, m, profile)
    return out


def _check_opset(model: onnx.ModelProto, profile: TrtProfile) -> Iterable[Violation]:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            if not profile.min_opset <= imp.version <= profile.max_opset:
                yield Violation("opset", "model", f"opset {imp.version} is outside TensorRT {profile.tensorrt}'s range {profile.min_opset}-{profile.max_opset}")
        else:
            yield Violation("opset", "model", f"operator domain {imp.domain!r} is not parsed by TensorRT (standard ops only)")


def _check_io(model: onnx.ModelProto, m: _Model, profile: TrtProfile, dynamic_batch: bool) -> Iterable[Violation]:
    for vi in model.graph.input:
        if vi.name in m.inits:
            continue
        dims = _dims(vi)
        for axis, d in enumerate(dims):
            if isinstance(d, int) and d > 0:
                continue
            if axis == 0 and dynamic_batch:
                continue
            yield Violation("static-shape", f"input {vi.name!r}", f"dimension {axis} is {d!r}, not a fixed size (TensorRT engines here are static; DLA needs it)")
    for vi in (*model.graph.input, *model.graph.output):
        elem = vi.type.tensor_type.elem_type
        if elem == TensorProto.INT64 and not profile.int64_weights:
            yield Violation("int64", f"graph I/O {vi.name!r}", f"INT64 tensors do not exist in TensorRT {profile.tensorrt}; use INT32")
        if elem == TensorProto.DOUBLE:
            yield Violation("dtype", f"graph I/O {vi.name!r}", "DOUBLE tensors are cast down to FLOAT by TensorRT; write FLOAT")


def _check_initializers(model: onnx.ModelProto, m: _Model, profile: TrtProfile) -> Iterable[Violation]:
    readers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            readers.setdefault(name, []).append((node, i))
    for t in model.graph.initializer:
        if t.data_type == TensorProto.DOUBLE:
            yield Violation("dtype", f"initializer {t.name!r}", "DOUBLE weights are cast down to FLOAT by TensorRT; write FLOAT")
        if t.data_type != TensorProto.INT64 or profile.int64_weights:
            continue
        uses = readers.get(t.name, [])
        bad = [(n, i) for n, i in uses if (n.op_type, i) not in INT64_OPERANDS]
        if bad:
            n, i = bad[0]
            yield Violation("int64", f"initializer {t.name!r}", f"INT64 weights read by {n.op_type} {n.name!r} (input {i}); TensorRT {profile.tensorrt} has no INT64 weights: store INT32")
            continue
        arr = numpy_helper.to_array(t)
        if arr.size and (arr.min() < -(2**31) or arr.max() > 2**31 - 1):
            yield Violation("int64", f"initializer {t.name!r}", "INT64 values outside the INT32 range: TensorRT 8.x would clamp them")


def _check_node(node: onnx.NodeProto, idx: int, m: _Model, profile: TrtProfile) -> list[Violation]:
    where = _node_where(node, idx)
    op = node.op_type
    out: list[Violation] = []

    def bad(rule: str, msg: str) -> None:
        out.append(Violation(rule, where, msg))

    if node.domain not in ("", "ai.onnx"):
        bad("unsupported-op", f"custom domain {node.domain!r}: TensorRT needs a plugin for it")
        return out
    if op in QUANTIZED_INTEGER_OPS:
        bad("unsupported-op", "integer quantized op: TensorRT quantizes only through QuantizeLinear/DequantizeLinear pairs (explicit quantization)")
        return out
    if op not in profile.ops:
        bad("unsupported-op", f"{op} is not parsed by TensorRT {profile.tensorrt}")
    for i, name in enumerate(node.input):
        if name and (op, i) in CONSTANT_OPERANDS and name not in m.inits:
            bad("constant-input", f"input {i} ({name!r}) must be an initializer (a build-time constant)")
    if op in ("Conv", "ConvTranspose") and len(node.input) > 1 and not m.is_weight(node.input[1]):
        bad("constant-input", f"weights {node.input[1]!r} must be an initializer (or DequantizeLinear of one)")
    if op in SHAPE_SUBGRAPH_OPS:
        bad("folded", f"{op} is part of a shape subgraph: fold it to constants (static shapes)")
    elif node.input and all(not n or n in m.inits for n in node.input) and not (op == "DequantizeLinear" and node.input[0] in m.inits):
        bad("folded", "all inputs are initializers: the node should have been folded to a constant")
    if op in ("QuantizeLinear", "DequantizeLinear"):
        out += _check_qdq(node, where, m)
    out += _check_restrictions(node, where, m, profile)
    for name in node.output:
        if m.elem(name) == TensorProto.UINT8 and name not in m.io:
            bad("dtype", f"UINT8 tensor {name!r} inside the network: TensorRT allows UINT8 only as network input/output")
    return out


def _check_qdq(node: onnx.NodeProto, where: str, m: _Model) -> list[Violation]:
    out: list[Violation] = []
    attrs = _attrs(node)
    scale = m.array(node.input[1]) if len(node.input) > 1 else None
    zp_name = node.input[2] if len(node.input) > 2 else ""
    zp = m.array(zp_name) if zp_name else None
    q_type = m.elem(zp_name) if zp_name else int(attrs.get("output_dtype", TensorProto.UINT8) or TensorProto.UINT8)
    if node.op_type == "DequantizeLinear":
        q_type = m.elem(node.input[0]) or q_type
    if q_type != TensorProto.INT8:
        name = TensorProto.DataType.Name(q_type) if q_type in TensorProto.DataType.values() else str(q_type)
        out.append(Violation("qdq", where, f"quantized type {name}: TensorRT quantizes to INT8 only"))
    if zp is not None and np.any(zp != 0):
        out.append(Violation("qdq", where, f"zero point {sorted(set(np.asarray(zp).reshape(-1).tolist()))[:4]} is not 0: TensorRT is symmetric"))
    if scale is not None and (not np.all(np.isfinite(scale)) or np.any(scale <= 0)):
        out.append(Violation("qdq", where, "scales must be positive and finite"))
    per_channel = scale is not None and scale.size > 1
    if per_channel:
        data = node.input[0]
        if data not in m.inits:
            out.append(Violation("qdq", where, f"{data!r} is an activation quantized per channel: TensorRT quantizes activations per tensor"))
        axis = int(attrs.get("axis", 1))
        rank = m.rank(data)
        if rank is not None and axis < 0:
            axis += rank
        if axis != 0:
            out.append(Violation("qdq", where, f"weights quantized per channel on axis {axis}: TensorRT takes axis 0 (output channels)"))
    return out


def _check_restrictions(node: onnx.NodeProto, where: str, m: _Model, profile: TrtProfile) -> list[Violation]:
    out: list[Violation] = []
    op = node.op_type
    attrs = _attrs(node)

    def bad(msg: str) -> None:
        out.append(Violation("restriction", where, msg))

    rank = m.rank(node.input[0]) if node.input and node.input[0] else None
    for name in node.output:
        r = m.rank(name)
        if r is not None and r > MAX_RANK:
            bad(f"{name!r} has rank {r}; TensorRT tensors have at most {MAX_RANK} dimensions")
    if op in ("MaxPool", "AveragePool", "LpPool"):
        if rank is not None and rank not in (4, 5):
            bad(f"{rank - 2}-D pooling: TensorRT pools in 2-D or 3-D only")
        if any(d != 1 for d in attrs.get("dilations", []) or []):
            bad("pooling with dilations: TensorRT needs dilations of 1")
    if op in ("Conv", "ConvTranspose") and profile.version < (8, 5) and rank is not None and rank not in (4, 5):
        bad(f"{rank - 2}-D convolution: TensorRT {profile.tensorrt} convolves in 2-D or 3-D only")
    if op == "Resize":
        mode = _text(attrs.get("mode", "nearest"))
        ctm = _text(attrs.get("coordinate_transformation_mode", "half_pixel"))
        if mode not in ("nearest", "linear"):
            bad(f"Resize mode {mode!r}: TensorRT resizes with 'nearest' or 'linear' only")
        if ctm not in RESIZE_COORD_MODES:
            bad(f"Resize coordinate_transformation_mode {ctm!r} is not one TensorRT supports ({', '.join(sorted(RESIZE_COORD_MODES))})")
    if op == "TopK":
        k = m.array(node.input[1]) if len(node.input) > 1 else None
        if k is not None and int(np.asarray(k).reshape(-1)[0]) >= TOPK_MAX_K:
            bad(f"TopK with K = {int(np.asarray(k).reshape(-1)[0])}: TensorRT needs K < {TOPK_MAX_K}")
        if int(attrs.get("sorted", 1)) != 1:
            bad("TopK with sorted=0: TensorRT returns sorted results only (set sorted=1)")
    if op == "Cast" and int(attrs.get("to", 1)) not in profile.cast_targets:
        to = int(attrs.get("to", 1))
        bad(f"Cast to {TensorProto.DataType.Name(to)}: TensorRT {profile.tensorrt} casts to {', '.join(TensorProto.DataType.Name(t) for t in sorted(profile.cast_targets))}")
    if op == "Einsum" and profile.version < (10, 0):
        if "..." in _text(attrs.get("equation", "")):
            bad("Einsum with an ellipsis: TensorRT 8.x does not support it")
    return out


def enforce(model: onnx.ModelProto, profile: TrtProfile, *, dynamic_batch: bool = False) -> None:
    """Raise when ``model`` breaks any rule, listing every violation."""
    found = check_model(model, profile, dynamic_batch=dynamic_batch)
    if not found:
        return
    shown = "\n    ".join(str(v) for v in found[:20])
    more = f"\n    ... and {len(found) - 20} more" if len(found) > 20 else ""
    first = found[0]
    raise UnsupportedOpError(
        f"the model is not TensorRT-ready for {profile.describe()}: {len(found)} problem(s)\n    {shown}{more}",
        where=first.where,
        hint="see docs/jetson.md for the ops and forms each TensorRT version takes, and the rewrites tinyc applies",
    )


def int64_shape_initializers(model: onnx.ModelProto) -> list[str]:
    """INT64 initializers at operands ONNX types int64 only (TensorRT 8.x casts them to INT32 when parsing)."""
    names = {t.name for t in model.graph.initializer if t.data_type == TensorProto.INT64}
    return sorted({i for n in model.graph.node for k, i in enumerate(n.input) if i in names and (n.op_type, k) in INT64_OPERANDS})


def describe_counts(model: onnx.ModelProto) -> dict[str, int]:
    counts: dict[str, int] = {}
    for n in model.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return dict(sorted(counts.items()))
