"""How much quantization costs: per-layer SQNR and output error of the integer graph against the float one.

The quantized graph keeps the float graph's value names, so every quantized
node output is compared, after dequantization, with the float value of the
same name on the same inputs (the calibration set, or a separate evaluation
set). For the graph outputs: maximum and mean absolute error, SQNR, mean
cosine similarity per sample and, for classifiers, top-1 agreement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tinyc.interpreter import run_graph
from tinyc.ir.core import Graph, Node, Value
from tinyc.quant.calibrate import Sample

CLASSIFIER_OPS = ("Softmax", "LogSoftmax")


@dataclass
class LayerError:
    """Quantization error of one quantized node output."""

    value: str
    op: str
    dtype: str
    sqnr_db: float
    max_abs_err: float


@dataclass
class OutputError:
    """Error of one graph output over the evaluation samples."""

    name: str
    sqnr_db: float
    max_abs_err: float
    mean_abs_err: float
    cosine: float
    top1: float | None  # fraction of samples whose arg-max agrees (classifiers only)


@dataclass
class AccuracyReport:
    """The quantization accuracy report ``tinyc analyze --quantize`` prints."""

    model: str
    scheme: str
    observer: str
    calib_samples: int
    eval_samples: int
    eval_source: str
    layers: list[LayerError] = field(default_factory=list)
    outputs: list[OutputError] = field(default_factory=list)
    float_nodes: list[tuple[str, str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain data (infinite SQNR, an exact match, becomes null)."""

        def clean(x: Any) -> Any:
            if isinstance(x, float) and math.isinf(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            return x

        return clean(asdict(self))

    def text(self) -> str:
        from tinyc.analysis import format_table

        lines = [
            f"quantization of {self.model}: {self.scheme}, {self.observer} ranges from {self.calib_samples} calibration samples; "
            f"errors on {self.eval_samples} samples ({self.eval_source})",
            "",
        ]
        rows = [[_short(e.value), e.op, e.dtype, _db(e.sqnr_db), f"{e.max_abs_err:.4g}"] for e in self.layers]
        lines.append(format_table(rows, ["value", "op", "type", "SQNR dB", "max |err|"], "lllrr"))
        lines.append("")
        orows = [
            [_short(o.name), _db(o.sqnr_db), f"{o.max_abs_err:.4g}", f"{o.mean_abs_err:.4g}", f"{o.cosine:.6f}", "-" if o.top1 is None else f"{100 * o.top1:.1f}%"]
            for o in self.outputs
        ]
        lines.append(format_table(orows, ["output", "SQNR dB", "max |err|", "mean |err|", "cosine", "top-1 agree"], "lrrrrr"))
        if self.float_nodes:
            lines.append("")
            lines.append("kept in float:")
            lines.extend(f"  {name} ({op}): {why}" for name, op, why in self.float_nodes)
        return "\n".join(lines)


def _short(name: str, width: int = 48) -> str:
    return name if len(name) <= width else name[: width - 3] + "..."


def _db(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.1f}"


def sqnr_db(signal_power: float, noise_power: float) -> float:
    if noise_power == 0:
        return math.inf
    if signal_power == 0:
        return -math.inf
    return 10.0 * math.log10(signal_power / noise_power)


def dequantize(arr: np.ndarray, v: Value) -> np.ndarray:
    """Real values of ``arr`` under ``v``'s quantization (float arrays pass through)."""
    q = v.type.quant
    if q is None or not v.type.dtype.is_int:
        return np.asarray(arr, dtype=np.float64)
    return (arr.astype(np.float64) - q.zero_point[0]) * q.scale[0]


def output_error(name: str, ref: Sequence[np.ndarray], got: Sequence[np.ndarray], classifier: bool) -> OutputError:
    """Metrics of one output over samples (``ref`` float, ``got`` dequantized), shared with bench/quant.py."""
    r = [np.asarray(a, dtype=np.float64) for a in ref]
    g = [np.asarray(a, dtype=np.float64) for a in got]
    diff = np.concatenate([(a - b).reshape(-1) for a, b in zip(r, g)])
    flat_r = np.concatenate([a.reshape(-1) for a in r])
    cos = []
    for a, b in zip(r, g):
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        cos.append(1.0 if na == nb == 0 else float(a.reshape(-1) @ b.reshape(-1) / (na * nb)) if na * nb > 0 else 0.0)
    top1 = None
    if classifier:
        agree = [np.mean(a.reshape(-1, a.shape[-1]).argmax(-1) == b.reshape(-1, b.shape[-1]).argmax(-1)) for a, b in zip(r, g)]
        top1 = float(np.mean(agree))
    return OutputError(
        name,
        sqnr_db(float(flat_r @ flat_r), float(diff @ diff)),
        float(np.abs(diff).max(initial=0.0)),
        float(np.abs(diff).mean()) if diff.size else 0.0,
        float(np.mean(cos)),
        top1,
    )


def is_classifier_output(graph: Graph, v: Value) -> bool:
    """Whether a graph output holds class scores (produced by a softmax, possibly through a dequantize)."""
    node: Node | None = v.producer
    while node is not None and node.op.name in ("DequantizeLinear", "Reshape", "Flatten", "Squeeze", "Identity"):
        node = node.inputs[0].producer if node.inputs and node.inputs[0] is not None else None
    return node is not None and node.op.name in CLASSIFIER_OPS


def _run_all(graph: Graph, sample: Sample) -> dict[str, np.ndarray]:
    values: dict[str, np.ndarray] = {}

    def keep(node: Node, outs: list[np.ndarray]) -> None:
        for v, a in zip(node.outputs, outs):
            values[v.name] = a

    values.update(run_graph(graph, sample, observer=keep))
    return values


def compare_graphs(
    float_graph: Graph,
    quant_graph: Graph,
    samples: Sequence[Sample],
    *,
    renamed: dict[str, str] | None = None,
    classifier: bool | None = None,
) -> tuple[list[LayerError], list[OutputError]]:
    """Per-layer and per-output errors of ``quant_graph`` against ``float_graph`` on ``samples``."""
    renamed = renamed or {}
    float_names = {v.name for v in float_graph.values()}
    layer_values: list[tuple[Value, str, str]] = []
    for node in quant_graph.nodes:
        if node.op.name in ("QuantizeLinear", "DequantizeLinear"):
            continue
        for v in node.outputs:
            fname = renamed.get(v.name, v.name)
            if v.type.quant is not None and v.type.dtype.is_int and fname in float_names:
                layer_values.append((v, fname, node.op.name))
    sums = {v.name: [0.0, 0.0, 0.0] for v, _, _ in layer_values}
    q_inputs = {v.name: v for v in quant_graph.inputs}
    outs_ref: dict[str, list[np.ndarray]] = {v.name: [] for v in float_graph.outputs}
    outs_got: dict[str, list[np.ndarray]] = {v.name: [] for v in float_graph.outputs}
    q_outputs = list(quant_graph.outputs)
    for sample in samples:
        fvals = _run_all(float_graph, sample)
        qsample = {k: _quantize_input(a, q_inputs[k]) for k, a in sample.items()}
        qvals = _run_all(quant_graph, qsample)
        for v, fname, _ in layer_values:
            f = np.asarray(fvals[fname], dtype=np.float64)
            e = f - dequantize(qvals[v.name], v)
            acc = sums[v.name]
            acc[0] += float(np.sum(f * f))
            acc[1] += float(np.sum(e * e))
            acc[2] = max(acc[2], float(np.abs(e).max(initial=0.0)))
        for fv, qv in zip(float_graph.outputs, q_outputs):
            outs_ref[fv.name].append(fvals[fv.name])
            outs_got[fv.name].append(dequantize(qvals[qv.name], qv))
    layers = [LayerError(fname, op, v.type.dtype.short, sqnr_db(sums[v.name][0], sums[v.name][1]), sums[v.name][2]) for v, fname, op in layer_values]
    outputs = []
    for fv in float_graph.outputs:
        cls = is_classifier_output(float_graph, fv) if classifier is None else classifier
        outputs.append(output_error(fv.name, outs_ref[fv.name], outs_got[fv.name], cls))
    return layers, outputs


def _quantize_input(arr: np.ndarray, v: Value) -> np.ndarray:
    """A float sample for an integer graph input (``int_io``): quantized as QuantizeLinear would."""
    q = v.type.quant
    if q is None or not v.type.dtype.is_int or np.asarray(arr).dtype.kind in "iu":
        return arr
    dt = v.type.dtype
    return np.clip(np.rint(np.asarray(arr, np.float32) / np.float32(q.scale[0])) + q.zero_point[0], dt.qmin, dt.qmax).astype(dt.numpy)
