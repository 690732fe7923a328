"""Explicit int8 quantization the way TensorRT fuses it, and the Q/DQ forms it accepts.

TensorRT builds int8 layers from QuantizeLinear -> DequantizeLinear pairs
around them ("explicit quantization"): symmetric (zero point 0), int8,
positive scales, activations per tensor, weights per output channel (axis 0).

* ``quantize_graph`` (float models): calibrate activation ranges with
  tinyc's observers on the float NCHW graph, then put a Q/DQ pair on each
  activation input of Conv / ConvTranspose / Gemm / MatMul and on both inputs
  of residual Adds (one pair per tensor, shared by its quantized readers), and
  store weights as int8 initializers read through DequantizeLinear (per
  channel on axis 0 for Conv and Gemm; per tensor for ConvTranspose and MatMul).
  Outputs of those layers stay float: TensorRT fuses the next pair.
* ``normalize_prequantized`` (QDQ models): keep the model's scales; uint8
  with zero point 128 is the same grid as int8 with zero point 0 and is
  rewritten so; int32 bias dequantization folds to float; any other nonzero
  zero point is refused (TensorRT is symmetric only).
* ``strip_qdq`` (fp16/fp32 of a QDQ model): fold weight dequantization, drop
  the activation pairs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyc.errors import QuantizationError
from tinyc.ir.core import Graph, Loc, Node, Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import get_op
from tinyc.passes.fold import fold_node
from tinyc.passes.rewrite import is_output, remove_dead
from tinyc.quant.calibrate import Sample, collect_stats
from tinyc.quant.observers import ObserverKind, choose_params, observed_range

log = logging.getLogger(__name__)

# op -> input indices that are activations to quantize
QUANTIZED_INPUTS: dict[str, tuple[int, ...]] = {"Conv": (0,), "ConvTranspose": (0,), "Gemm": (0,), "MatMul": (0, 1)}
# op -> (weight input index, per-channel axis or None for per tensor)
WEIGHT_INPUTS: dict[str, tuple[int, int | None]] = {"Conv": (1, 0), "ConvTranspose": (1, None), "Gemm": (1, 0), "MatMul": (1, None)}
LINEAR_OPS = frozenset(QUANTIZED_INPUTS)
_ACTIVATIONS = frozenset({"Relu", "Clip", "LeakyRelu"})


@dataclass
class QdqReport:
    """What the int8 quantization did (for the report)."""

    samples: int = 0
    observer: str = "minmax"
    activations: dict[str, dict[str, float]] = field(default_factory=dict)  # value -> lo, hi, scale
    weights: dict[str, str] = field(default_factory=dict)  # weight -> "per-channel axis 0" / "per-tensor"
    notes: list[str] = field(default_factory=list)


def activation_quantizers(graph: Graph) -> list[Node]:
    """QuantizeLinear nodes on computed tensors (a model quantized with QDQ has them; weight-only ones do not)."""
    return [n for n in graph.nodes if n.op.name == "QuantizeLinear" and not n.input(0).is_const]


def _float_activation(v: Value | None) -> bool:
    return v is not None and not v.is_const and v.type.dtype.is_float and (v.producer is None or v.producer.op.name != "DequantizeLinear")


def _is_residual(node: Node) -> bool:
    """An Add of two computed tensors where one comes from a linear layer (directly or through its activation)."""
    if node.op.name != "Add" or len(node.inputs) != 2 or not all(_float_activation(v) for v in node.inputs):
        return False
    for v in node.inputs:
        p = v.producer if v is not None else None
        if p is not None and p.op.name in _ACTIVATIONS:
            p = p.input(0).producer
        if p is not None and p.op.name in LINEAR_OPS:
            return True
    return False


def quantization_sites(graph: Graph) -> dict[Value, list[tuple[Node, int]]]:
    """Activation values to quantize and the (node, input index) pairs that read them through the pair."""
    sites: dict[Value, list[tuple[Node, int]]] = {}
    for node in graph.nodes:
        indices: Sequence[int] = QUANTIZED_INPUTS.get(node.op.name, ())
        if _is_residual(node):
            indices = (0, 1)
        for i in indices:
            v = node.opt_input(i)
            if v is not None and _float_activation(v) and not (node.op.name in WEIGHT_INPUTS and i == WEIGHT_INPUTS[node.op.name][0] and v.is_const):
                sites.setdefault(v, []).append((node, i))
    return sites


def _first(graph: Graph, nodes: Sequence[Node]) -> Node:
    order = {id(n): k for k, n in enumerate(graph.nodes)}
    return min(nodes, key=lambda n: order[id(n)])


def _qdq_attrs(op: str, scale: Sequence[float], axis: int | None) -> Any:
    dtype = DType.I8 if op == "QuantizeLinear" else DType.F32
    return get_op(op).Attrs(scale=tuple(float(s) for s in scale), zero_point=(0,) * len(scale), axis=axis, dtype=dtype)


def insert_pair(graph: Graph, v: Value, scale: float, readers: Sequence[tuple[Node, int]]) -> Value:
    """Q -> DQ of ``v`` (symmetric int8, per tensor) before its first reader; the readers read the DQ output."""
    at = _first(graph, [n for n, _ in readers])
    loc = Loc.of(f"{v.name}/QuantizeLinear")
    q = graph.add_node(get_op("QuantizeLinear"), [v], _qdq_attrs("QuantizeLinear", [scale], None), loc=loc, before=at, output_names=[f"{v.name}_q"])
    dq = graph.add_node(
        get_op("DequantizeLinear"), [q.output], _qdq_attrs("DequantizeLinear", [scale], None),
        loc=Loc.of(f"{v.name}/DequantizeLinear"), before=at, output_names=[f"{v.name}_dq"],
    )  # fmt: skip
    for node, i in readers:
        node.set_input(i, dq.output)
    return dq.output


def quantize_weight(graph: Graph, w: Value, axis: int | None, at: Node) -> tuple[Value, str]:
    """An int8 copy of float constant ``w`` (symmetric, per channel on ``axis`` or per tensor) read through DequantizeLinear."""
    assert w.const is not None
    arr = w.const.astype(np.float64)
    if axis is None:
        amax = np.asarray([np.max(np.abs(arr))]) if arr.size else np.zeros(1)
    else:
        amax = np.max(np.abs(np.moveaxis(arr, axis, 0).reshape(arr.shape[axis], -1)), axis=1)
    scales = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    shaped = scales.reshape(-1) if axis is None else scales.reshape([-1 if d == axis else 1 for d in range(arr.ndim)])
    q = np.clip(np.rint(arr / (shaped if axis is not None else scales[0])), -127, 127).astype(np.int8)
    qc = graph.add_const(f"{w.name}_int8", q)
    dq = graph.add_node(
        get_op("DequantizeLinear"), [qc], _qdq_attrs("DequantizeLinear", scales.tolist(), axis),
        loc=Loc.of(f"{w.name}/DequantizeLinear"), before=at, output_names=[f"{w.name}_dq"],
    )  # fmt: skip
    return dq.output, ("per-channel (axis 0)" if axis is not None else "per-tensor")


def quantize_graph(graph: Graph, samples: Sequence[Sample], *, observer: str = "minmax", percentile: float = 99.99) -> QdqReport:
    """Insert TensorRT-style Q/DQ into the float ``graph`` using ranges calibrated on ``samples``."""
    kind = ObserverKind(observer)
    report = QdqReport(samples=len(samples), observer=observer)
    sites = quantization_sites(graph)
    if not sites:
        report.notes.append("no Conv/Gemm/MatMul or residual Add reads a computed tensor: nothing to quantize, the model stays float")
        return report
    stats = collect_stats(graph, samples, {v.name for v in sites}, histogram=kind.needs_histogram)
    for v, readers in sites.items():
        lo, hi = observed_range(stats[v.name], kind, DType.I8, symmetric=True, percentile=percentile)
        scale = choose_params(lo, hi, DType.I8, symmetric=True).scale[0]
        insert_pair(graph, v, scale, readers)
        report.activations[v.name] = {"lo": lo, "hi": hi, "scale": scale}
    done: dict[tuple[str, int | None], Value] = {}
    for node in list(graph.nodes):
        spec = WEIGHT_INPUTS.get(node.op.name)
        if spec is None:
            continue
        idx, axis = spec
        if node.op.name == "Gemm" and not node.attrs.trans_b:
            axis = None
        w = node.opt_input(idx)
        if w is None or w.const is None or not w.type.dtype.is_float:
            continue
        key = (w.name, axis)
        if key not in done:
            done[key], report.weights[w.name] = quantize_weight(graph, w, axis, _first(graph, w.users))
        node.set_input(idx, done[key])
    graph.prune_constants()
    log.info("int8: %d activation Q/DQ pairs, %d weights (%d calibration samples)", len(report.activations), len(report.weights), len(samples))
    return report


# -- pre-quantized models -------------------------------------------------------------------


def _refuse(node: Node, what: str, hint: str = "") -> QuantizationError:
    return QuantizationError(
        f"TensorRT needs symmetric int8 quantization: {what}",
        where=f"node {node.name!r} ({node.loc})",
        hint=hint or "re-quantize the model symmetrically (zero point 0, int8), add --calib DATA to recalibrate it symmetrically, or compile it in fp16 (--precision fp16)",
    )


def _replace(graph: Graph, node: Node, op: str, inputs: list[Value], attrs: Any) -> Node:
    new = graph.add_node(get_op(op), inputs, attrs, loc=node.loc, before=node, output_names=[f"{node.output.name}_s8"])
    keep = node.output.name
    graph.replace_value(node.output, new.output)
    remove_dead(graph, node)
    graph.rename_value(new.output, keep)
    return new


def _feeds_weights(dq: Node) -> bool:
    """Whether a DequantizeLinear output is the weight input of a linear layer."""
    return any(n.op.name in WEIGHT_INPUTS and i == WEIGHT_INPUTS[n.op.name][0] for n, i in dq.output.uses)


def normalize_prequantized(graph: Graph) -> list[str]:
    """Bring a QDQ model's pairs into TensorRT's forms (or refuse); returns notes on what changed."""
    notes: list[str] = []
    for node in list(graph.nodes):
        if node.graph is not graph or node.op.name != "DequantizeLinear" or not node.input(0).is_const:
            continue
        src, a = node.input(0), node.attrs
        if src.type.dtype is DType.I32:  # int32 bias: dequantize now, TensorRT adds float biases
            fold_node(graph, node)
            notes.append(f"{node.output.name}: int32 bias dequantized to float")
            continue
        if src.type.dtype is DType.U8 and all(z == 128 for z in a.zero_point):
            assert src.const is not None
            q = graph.add_const(f"{src.name}_s8", (src.const.astype(np.int16) - 128).astype(np.int8))
            attrs = get_op("DequantizeLinear").Attrs(scale=a.scale, zero_point=(0,) * len(a.scale), axis=a.axis, dtype=a.dtype)
            _replace(graph, node, "DequantizeLinear", [q], attrs)
            notes.append(f"{src.name}: uint8 weights with zero point 128 stored as int8 with zero point 0 (same values)")
            continue
        if src.type.dtype is not DType.I8 or any(a.zero_point):
            if not _feeds_weights(node):  # an asymmetric constant operand (an Add's): dequantize it now, exactly
                fold_node(graph, node)
                notes.append(f"{node.output.name}: asymmetric {src.type.dtype.short} constant dequantized to float")
                continue
            raise _refuse(node, f"weights {src.name!r} are {src.type.dtype.short} with zero point(s) {sorted(set(a.zero_point))}")
    for node in list(graph.nodes):
        if node.graph is not graph or node.op.name != "QuantizeLinear" or node.input(0).is_const:
            continue
        a = node.attrs
        if a.axis is not None:
            raise _refuse(node, f"activation {node.input(0).name!r} is quantized per channel (axis {a.axis})", "TensorRT quantizes activations per tensor")
        readers = node.output.users
        if any(r.op.name != "DequantizeLinear" for r in readers) or is_output(graph, node.output):
            raise _refuse(node, f"{node.output.name!r} is read by {sorted({r.op.name for r in readers})}, not only DequantizeLinear", "TensorRT reads quantized tensors only through DequantizeLinear")
        if a.dtype is DType.I8 and a.zero_point == (0,):
            continue
        if a.dtype is DType.U8 and a.zero_point == (128,):
            q = _replace(graph, node, "QuantizeLinear", [node.input(0)], _qdq_attrs("QuantizeLinear", a.scale, None))
            for r in q.output.users:
                _replace(graph, r, "DequantizeLinear", [q.output], _qdq_attrs("DequantizeLinear", r.attrs.scale, None))
            notes.append(f"{node.output.name}: uint8 with zero point 128 rewritten as int8 with zero point 0 (same grid)")
            continue
        raise _refuse(node, f"activation {node.input(0).name!r} is quantized to {a.dtype.short} with zero point {a.zero_point[0]}")
    graph.prune_constants()
    return notes


def strip_qdq(graph: Graph) -> int:
    """Float graph from a QDQ one: weight dequantization folds, activation Q -> DQ pairs go. Returns pairs dropped."""
    dropped = 0
    for node in list(graph.nodes):
        if node.graph is graph and node.op.name in ("QuantizeLinear", "DequantizeLinear") and node.input(0).is_const:
            fold_node(graph, node)
    for node in list(graph.nodes):
        if node.graph is not graph or node.op.name != "DequantizeLinear":
            continue
        q = node.input(0).producer
        if q is None or q.op.name != "QuantizeLinear":
            continue
        x = q.input(0)
        out_name = node.output.name if is_output(graph, node.output) else None
        if out_name is not None and (x.producer is None or is_output(graph, x)):
            continue  # the output would lose its name: keep this pair
        graph.replace_value(node.output, x)
        remove_dead(graph, node)
        if out_name is not None:
            graph.rename_value(x, out_name)
        dropped += 1
    graph.prune_constants()
    return dropped
