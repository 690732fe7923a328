"""The independent check: run the QDQ ONNX export in onnxruntime and count disagreements in LSB.

Two views:

* **end to end** — the whole exported model on the samples; every integer
  tensor tinyc computes is compared with the one onnxruntime computes. Deep
  models drift: a one-step difference in one layer moves the next layer's
  accumulators, so later layers differ by more than one step here and there
  even though each op agrees;
* **layer by layer** — each quantized node alone, exported as a one-node QDQ
  model and fed tinyc's own integer inputs, so a disagreement belongs to that
  op's arithmetic and nothing upstream.

Agreement within one LSB on at least 99% of the elements is the bar; the
fixed-point requantization (TFLite) and the float one (onnxruntime's
QuantizeLinear, half to even) may round a value on either side of a step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tinyc.interpreter import run_graph
from tinyc.ir.core import Graph, Node, Value
from tinyc.quant.calibrate import Sample
from tinyc.quant.qdq_writer import ONNX_TYPES, to_qdq_onnx


@dataclass
class Agreement:
    """How far onnxruntime's integers are from tinyc's for one tensor, in steps of its grid."""

    name: str
    op: str
    elements: int = 0
    within_one: int = 0
    exact: int = 0
    max_lsb: int = 0

    @property
    def fraction_within_one(self) -> float:
        return self.within_one / self.elements if self.elements else 1.0

    def add(self, ours: np.ndarray, theirs: np.ndarray) -> None:
        d = np.abs(ours.astype(np.int64) - theirs.astype(np.int64))
        self.elements += int(d.size)
        self.within_one += int((d <= 1).sum())
        self.exact += int((d == 0).sum())
        self.max_lsb = max(self.max_lsb, int(d.max(initial=0)))


@dataclass
class CheckResult:
    end_to_end: list[Agreement] = field(default_factory=list)  # graph outputs (the integer tensors behind them)
    tensors: list[Agreement] = field(default_factory=list)  # every integer tensor, end to end
    layers: list[Agreement] = field(default_factory=list)  # each node alone

    @staticmethod
    def _total(items: list[Agreement]) -> float:
        n = sum(a.elements for a in items)
        return sum(a.within_one for a in items) / n if n else 1.0

    @property
    def output_fraction(self) -> float:
        return self._total(self.end_to_end)

    @property
    def layer_fraction(self) -> float:
        return self._total(self.layers)


def _session(model_bytes: bytes):  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def _int_values(graph: Graph) -> list[Value]:
    return [v for n in graph.nodes for v in n.outputs if v.type.quant is not None and v.type.dtype.is_int]


def _output_ints(graph: Graph) -> list[Value]:
    """The integer tensors behind the graph outputs (the output itself, or what its DequantizeLinear reads)."""
    out = []
    for v in graph.outputs:
        if v.type.quant is not None and v.type.dtype.is_int:
            out.append(v)
        elif v.producer is not None and v.producer.op.name == "DequantizeLinear":
            out.append(v.producer.input(0))
    return out


def _run_all(graph: Graph, sample: Sample) -> dict[str, np.ndarray]:
    vals: dict[str, np.ndarray] = dict(sample)

    def keep(node: Node, outs: list[np.ndarray]) -> None:
        vals.update({o.name: a for o, a in zip(node.outputs, outs)})

    run_graph(graph, sample, observer=keep)
    return vals


def single_node_graph(graph: Graph, node: Node) -> Graph:
    """``node`` alone: its non-constant inputs become graph inputs, its outputs graph outputs."""
    sub = Graph(f"{graph.name}_{node.name}")
    ins: list[Value | None] = []
    for v in node.inputs:
        if v is None:
            ins.append(None)
        elif v.is_const:
            assert v.const is not None
            ins.append(sub.add_const(v.name, v.const, quant=v.type.quant))
        elif v.name in {i.name for i in sub.inputs}:
            ins.append(sub.value(v.name))
        else:
            ins.append(sub.add_input(v.name, v.type))
    new = sub.add_node(node.op, ins, node.attrs, name=node.name, output_names=[o.name for o in node.outputs], output_types=[o.type for o in node.outputs])
    sub.outputs = list(new.outputs)
    return sub


def check_against_onnxruntime(graph: Graph, samples: Sequence[Sample], *, layerwise: bool = True) -> CheckResult:
    """Export ``graph`` as QDQ ONNX, run it in onnxruntime on ``samples`` and compare integer tensors with tinyc's."""
    from onnx import helper

    result = CheckResult()
    model = to_qdq_onnx(graph)
    ints = _int_values(graph)
    outs = {v.name for v in _output_ints(graph)}
    listed = {o.name for o in model.graph.output}
    for v in ints:
        if v.name not in listed:
            model.graph.output.append(helper.make_tensor_value_info(v.name, ONNX_TYPES[v.type.dtype], list(v.type.shape)))
    sess = _session(model.SerializeToString())
    names = [o.name for o in sess.get_outputs()]
    tensors = {v.name: Agreement(v.name, v.producer.op.name if v.producer else "input") for v in ints}
    per_sample: list[dict[str, np.ndarray]] = []
    for sample in samples:
        ours = _run_all(graph, sample)
        per_sample.append(ours)
        theirs = dict(zip(names, sess.run(None, {k: np.asarray(a) for k, a in sample.items()})))
        for v in ints:
            tensors[v.name].add(ours[v.name], theirs[v.name])
    result.tensors = list(tensors.values())
    result.end_to_end = [a for a in result.tensors if a.name in outs]
    if layerwise:
        for node in graph.nodes:
            if node.op.name in ("QuantizeLinear", "DequantizeLinear") or not any(o.type.quant is not None and o.type.dtype.is_int for o in node.outputs):
                continue
            sub = single_node_graph(graph, node)
            s = _session(to_qdq_onnx(sub).SerializeToString())
            feeds_names = [v.name for v in sub.inputs]
            agree = [Agreement(o.name, node.op.name) for o in node.outputs]
            for vals in per_sample:
                got = s.run([o.name for o in node.outputs], {k: np.asarray(vals[k]) for k in feeds_names})
                for a, o, arr in zip(agree, node.outputs, got):
                    a.add(vals[o.name], arr)
            result.layers.extend(agree)
    return result
