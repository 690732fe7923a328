"""Post-training quantization of a float graph into TFLite-style integer ops.

The quantizer runs on the graph the MCU pipeline produces (NHWC kernel ops
with fused clamps, plus ONNX-level element-wise and data-movement ops) and
rewrites it in place:

1. pre-quantized models: activation Q -> DQ pairs are absorbed and their
   parameters kept (:mod:`tinyc.quant.prequant`);
2. every node gets a :class:`~tinyc.quant.rules.Rule` or stays float;
3. calibration runs the float graph on the samples and observes the tensors
   whose parameters must be measured;
4. parameters are chosen in program order (calibrated, copied from the input,
   fixed by TFLite, or covering all concat inputs);
5. values are retyped (``i8``/``i16`` with ``QuantParams``), weights and
   biases replaced by integer constants, and QuantizeLinear /
   DequantizeLinear inserted at the float edges (graph inputs and outputs
   unless ``int_io``, and around float islands).

See docs/quantization.md for the representation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tinyc.errors import QuantizationError
from tinyc.ir import verify
from tinyc.ir.core import UNKNOWN_LOC, Graph, Node, Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import get_op
from tinyc.ir.ops.quantized import fixed_output_quant
from tinyc.ir.types import QuantParams, TensorType
from tinyc.quant.calibrate import Sample, collect_stats, no_calibration_error
from tinyc.quant.observers import ObserverKind, TensorStats, choose_params, observed_range
from tinyc.quant.prequant import Given, WeightHint, absorb_activation_qdq, match_weight_hint
from tinyc.quant.rules import OutParams, Rule, Scheme, act_indices, rule_for

log = logging.getLogger(__name__)

SCHEMES = tuple(s.value for s in Scheme)
OBSERVERS = tuple(k.value for k in ObserverKind)


@dataclass(frozen=True)
class QuantOptions:
    """How to quantize: scheme, range observer, integer I/O, weight granularity."""

    scheme: str = "int8"  # "int8" | "int16x8"
    observer: str = "minmax"  # "minmax" | "percentile" | "mse"
    percentile: float = 99.99
    int_io: bool = False  # graph inputs/outputs become integer tensors (no Q/DQ at the edges)
    per_channel: bool = True  # per-output-channel weight scales (else one per tensor)
    per_channel_fully_connected: bool = True  # per_channel for FullyConnected/MatMul/Gemm too (off: the Edge TPU)
    symmetric_activations: bool = False  # zero point 0 for int8 activations too (TensorRT)
    random_samples: int = 16  # how many samples --calib random draws
    max_samples: int | None = None  # use at most this many calibration samples

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise QuantizationError(f"unknown quantization scheme {self.scheme!r}", hint=f"use one of {', '.join(SCHEMES)}")
        if self.observer not in OBSERVERS:
            raise QuantizationError(f"unknown observer {self.observer!r}", hint=f"use one of {', '.join(OBSERVERS)}")
        if not 50.0 < self.percentile <= 100.0:
            raise QuantizationError(f"percentile {self.percentile} must be in (50, 100]")

    @property
    def act_dtype(self) -> DType:
        return DType.I16 if self.scheme == "int16x8" else DType.I8


@dataclass
class QuantizeReport:
    """What the quantizer did."""

    scheme: str
    observer: str
    samples: int = 0
    quantized_nodes: int = 0
    float_nodes: list[tuple[str, str, str]] = field(default_factory=list)  # (node, op, why it stays float)
    kept_from_model: int = 0  # activation parameters taken from a pre-quantized model
    params: dict[str, QuantParams] = field(default_factory=dict)  # activation parameters by value name
    renamed: dict[str, str] = field(default_factory=dict)  # integer value -> the float name it gave up (graph outputs)


def quantize_graph(
    graph: Graph,
    samples: Sequence[Sample] | None,
    options: QuantOptions | None = None,
    *,
    given: Given | None = None,
    weight_hints: list[WeightHint] | None = None,
) -> QuantizeReport:
    """Quantize ``graph`` in place (see the module docstring); ``samples`` may be None when nothing needs calibrating.

    ``given``: what :func:`~tinyc.quant.prequant.take_prequantized` took from a
    QDQ model before the pipeline (activation pairs still in ``graph`` are
    absorbed here as well).
    """
    g = given or Given({}, [])
    hints = list(g.hints) + list(weight_hints or [])
    return _Quantizer(graph, options or QuantOptions(), Given(dict(g.params), hints)).run(samples)


class _Quantizer:
    def __init__(self, graph: Graph, opts: QuantOptions, given: Given) -> None:
        self.g = graph
        self.opts = opts
        self.scheme = Scheme(opts.scheme)
        self.dt = opts.act_dtype
        self.kind = ObserverKind(opts.observer)
        self.hints = given.hints
        self.given = given
        self.plan: dict[Node, Rule] = {}
        self.islands: dict[Node, str] = {}
        self.params: dict[str, QuantParams] = {}
        self.stats: dict[str, TensorStats] = {}
        self.report = QuantizeReport(opts.scheme, opts.observer)

    # -- driver -----------------------------------------------------------------
    def run(self, samples: Sequence[Sample] | None) -> QuantizeReport:
        self.given.params.update(absorb_activation_qdq(self.g))
        self._classify()
        self._check_weights_finite()
        needed = self._needs_stats()
        if needed:
            if samples is None:
                raise no_calibration_error()
            use = list(samples)[: self.opts.max_samples] if self.opts.max_samples else list(samples)
            self.stats = collect_stats(self.g, use, needed, histogram=self.kind.needs_histogram)
            self.report.samples = len(use)
        self._choose_params()
        self._rewrite()
        self._cancel_qdq_pairs()
        self.g.prune_constants()
        verify(self.g, where="quantize")
        self.report.quantized_nodes = len(self.plan)
        self.report.float_nodes = [(n.name, n.op.name, why) for n, why in self.islands.items()]
        self.report.params = dict(self.params)
        for name, op, why in self.report.float_nodes:
            log.warning("node %s (%s) stays in float: %s", name, op, why)
        return self.report

    # -- 1. which nodes become integer ---------------------------------------------
    def _classify(self) -> None:
        for node in self.g.nodes:
            if node.op.name in ("QuantizeLinear", "DequantizeLinear", "Requantize"):
                self.islands[node] = "a quantize/dequantize node the model keeps"
                continue
            rule, why = rule_for(node, self.scheme)
            if rule is not None and rule.out is OutParams.SAME:
                src = node.inputs[0]
                if src is not None and src.producer is not None and src.producer in self.islands:
                    rule, why = None, "it moves the output of a float op"
            if rule is None:
                self.islands[node] = why
            else:
                self.plan[node] = rule

    def _check_weights_finite(self) -> None:
        """inf or NaN weights have no integer form: refuse them before calibration runs the float graph."""
        for node, rule in self.plan.items():
            for what, idx in (("weights", rule.weight_input), ("bias", rule.bias_input)):
                c = node.opt_input(idx) if idx is not None else None
                if c is not None and c.const is not None and c.type.dtype.is_float and not np.all(np.isfinite(c.const)):
                    raise QuantizationError(
                        f"the {what} {c.name!r} of {node.op.name} {node.name!r} hold inf or NaN values, which have no integer form",
                        hint="the model's weights are corrupt or overflowed in training; fix or re-export the model",
                    )

    def _act_inputs(self, node: Node) -> list[Value]:
        return [node.input(i) for i in act_indices(node, self.plan[node])]

    def _is_float_source(self, v: Value) -> bool:
        """A float value a planned node reads that is not produced by a planned node."""
        return v.producer is None or v.producer not in self.plan

    def _needs_stats(self) -> set[str]:
        needed: set[str] = set()
        for node, rule in self.plan.items():
            for v in self._act_inputs(node):
                if self._is_float_source(v) and not v.is_const and self._given(v.name) is None:
                    needed.add(v.name)
            if rule.out is OutParams.CALIBRATE:
                needed.update(o.name for o in node.outputs if self._given(o.name) is None)
        return needed

    def _given(self, name: str) -> QuantParams | None:
        g = self.given.lookup(name)
        if g is None:
            return None
        q = g.as_dtype(self.dt)
        if q is not None and self.opts.symmetric_activations and any(z != 0 for z in q.zero_point):
            return None
        return q

    # -- 2. parameters ---------------------------------------------------------------
    def _from_stats(self, stats: TensorStats) -> QuantParams:
        lo, hi = observed_range(stats, self.kind, self.dt, symmetric=self.opts.symmetric_activations, percentile=self.opts.percentile)
        return choose_params(lo, hi, self.dt, symmetric=self.opts.symmetric_activations)

    def _source_params(self, v: Value) -> QuantParams:
        if v.name in self.params:
            return self.params[v.name]
        given = self._given(v.name)
        if given is not None:
            self.report.kept_from_model += 1
            p = given
        elif v.is_const:
            assert v.const is not None
            p = self._from_stats(TensorStats.of(np.asarray(v.const, dtype=np.float64)))
        else:
            p = self._from_stats(self.stats[v.name])
        self.params[v.name] = p
        return p

    def _real_range(self, p: QuantParams) -> tuple[float, float]:
        s, z = p.scale[0], p.zero_point[0]
        return (self.dt.qmin - z) * s, (self.dt.qmax - z) * s

    def _choose_params(self) -> None:
        for node in self.g.nodes:
            rule = self.plan.get(node)
            if rule is None:
                continue
            ins = [self._source_params(v) for v in self._act_inputs(node)]
            for out in node.outputs:
                if rule.out is OutParams.CALIBRATE:
                    self._source_params(out)  # given by the model, or calibrated
                elif rule.out is OutParams.SAME:
                    self.params[out.name] = ins[0]
                elif rule.out is OutParams.FIXED:
                    fixed = fixed_output_quant(node.op.name, self.dt)
                    assert fixed is not None
                    self.params[out.name] = fixed
                elif all(q == ins[0] for q in ins):  # UNION of equal inputs
                    self.params[out.name] = ins[0]
                elif self._given(out.name) is not None:
                    self._source_params(out)
                else:
                    ranges = [self._real_range(q) for q in ins]
                    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
                    self.params[out.name] = choose_params(lo, hi, self.dt, symmetric=self.opts.symmetric_activations)

    # -- 3. rewrite --------------------------------------------------------------------
    def _int_type(self, v: Value) -> TensorType:
        return TensorType(self.dt, v.type.shape, self.params[v.name])

    def _rewrite(self) -> None:
        g = self.g
        quantized_of: dict[int, Value] = {}  # id(float source value) -> its integer version
        first = g.nodes[0] if len(g) else None
        for v in list(g.inputs):
            if not any(u in self.plan and v in self._act_inputs(u) for u in v.users):
                continue
            if self.opts.int_io:
                v.type = self._int_type(v)
                quantized_of[id(v)] = v
            else:
                quantized_of[id(v)] = self._emit_q(v, before=first, name=f"{v.name}_{self.dt.short}")
        planned_outputs: list[Value] = []
        for node in list(g.nodes):
            rule = self.plan.get(node)
            if rule is None:
                continue
            for i in act_indices(node, rule):
                v = node.input(i)
                if v.producer is not None and v.producer in self.plan:
                    continue  # already integer (retyped below, in program order)
                if id(v) not in quantized_of:
                    if v.is_const:
                        quantized_of[id(v)] = self._quantize_const(v)
                    else:
                        quantized_of[id(v)] = self._emit_q(v, before=node, name=f"{v.name}_{self.dt.short}")
                node.set_input(i, quantized_of[id(v)])
            if rule.weight_input is not None:
                self._quantize_weights(node, rule)
            for out in node.outputs:
                out.type = self._int_type(out)
                planned_outputs.append(out)
        self._float_readers(planned_outputs + [v for v in g.inputs if self.opts.int_io and v.type.dtype is self.dt])

    def _emit_q(self, v: Value, *, before: Node | None, name: str) -> Value:
        p = self._source_params(v)
        attrs = get_op("QuantizeLinear").Attrs(scale=p.scale, zero_point=p.zero_point, axis=None, dtype=self.dt)
        loc = v.producer.loc if v.producer is not None else before.loc if before is not None else UNKNOWN_LOC
        return self.g.add_node(get_op("QuantizeLinear"), [v], attrs, output_names=[name], before=before, loc=loc).output

    def _emit_dq(self, v: Value, *, before: Node | None, name: str) -> Value:
        assert v.type.quant is not None
        attrs = get_op("DequantizeLinear").Attrs(scale=v.type.quant.scale, zero_point=v.type.quant.zero_point, axis=None, dtype=DType.F32)
        loc = v.producer.loc if v.producer is not None else UNKNOWN_LOC
        return self.g.add_node(get_op("DequantizeLinear"), [v], attrs, output_names=[name], before=before, loc=loc).output

    def _quantize_const(self, v: Value) -> Value:
        p = self._source_params(v)
        assert v.const is not None
        q = np.clip(np.rint(v.const.astype(np.float64) / p.scale[0]) + p.zero_point[0], self.dt.qmin, self.dt.qmax)
        return self.g.add_const(f"{v.name}_{self.dt.short}", q.astype(self.dt.numpy), quant=p)

    def _float_readers(self, int_values: list[Value]) -> None:
        """Float islands and graph outputs that read integer values get a DequantizeLinear in between."""
        g = self.g
        for v in int_values:
            readers = [(n, i) for n, i in v.uses if n not in self.plan and n.op.name != "DequantizeLinear"]
            is_output = v in g.outputs and not self.opts.int_io
            if not readers and not is_output:
                continue
            order = {id(n): k for k, n in enumerate(g.nodes)}
            first = min((n for n, _ in readers), key=lambda n: order[id(n)], default=None)
            if is_output:
                out_name = v.name
                g.rename_value(v, _free_name(g, f"{v.name}_{self.dt.short}"))
                self.report.renamed[v.name] = out_name
                if out_name in self.params:
                    self.params[v.name] = self.params.pop(out_name)
                f = self._emit_dq(v, before=first, name=out_name)
                g.outputs = [f if o is v else o for o in g.outputs]
            else:
                f = self._emit_dq(v, before=first, name=f"{v.name}_dequant")
            for n, i in readers:
                n.set_input(i, f)

    def _quantize_weights(self, node: Node, rule: Rule) -> None:
        assert rule.weight_input is not None
        w = node.input(rule.weight_input)
        assert w.const is not None
        b = node.opt_input(rule.bias_input) if rule.bias_input is not None else None
        x_scale = node.input(act_indices(node, rule)[0]).type.quant
        assert x_scale is not None
        s_in = np.float32(x_scale.scale[0])
        fc = node.op.name in ("FullyConnected", "MatMul", "Gemm")
        q, wq = self._weights(w.const, rule.weight_axis, per_channel=self.opts.per_channel and (self.opts.per_channel_fully_connected or not fc))
        node.set_input(rule.weight_input, self.g.add_const(f"{w.name}_i8", q, quant=wq))
        if b is None:
            return
        assert b.const is not None
        s_b = (s_in * wq.scale_array()).astype(np.float32)
        bias_dt = DType.I32 if self.dt is DType.I8 else DType.I64
        info = np.iinfo(bias_dt.numpy)
        qb = np.clip(np.rint(b.const.astype(np.float64) / s_b.astype(np.float64)), info.min, info.max).astype(bias_dt.numpy)
        bq = QuantParams.per_axis(s_b, None, 0) if not wq.is_per_tensor else QuantParams.per_tensor(float(s_b[0]), 0)
        node.set_input(rule.bias_input, self.g.add_const(f"{b.name}_{bias_dt.short}", qb.reshape(b.const.shape), quant=bq))  # type: ignore[arg-type]

    def _weights(self, w: np.ndarray, axis: int, *, per_channel: bool) -> tuple[np.ndarray, QuantParams]:
        hinted = match_weight_hint(w, axis, self.hints) if self.hints else None
        if hinted is not None:
            return hinted
        axis = axis % w.ndim
        if per_channel and w.shape[axis] > 1:
            other = tuple(i for i in range(w.ndim) if i != axis)
            m = np.abs(w.astype(np.float64)).max(axis=other)
            s = np.where(m > 0, m / 127.0, 1.0).astype(np.float32)
            shape = [1] * w.ndim
            shape[axis] = w.shape[axis]
            q = np.clip(np.rint(w.astype(np.float64) / s.reshape(shape).astype(np.float64)), -127, 127)
            return q.astype(np.int8), QuantParams.per_axis(s, None, axis)
        m = float(np.abs(w).max()) if w.size else 0.0
        s1 = float(np.float32(m / 127.0 if m > 0 else 1.0))
        q = np.clip(np.rint(w.astype(np.float64) / s1), -127, 127)
        return q.astype(np.int8), QuantParams.per_tensor(s1, 0)

    def _cancel_qdq_pairs(self) -> None:
        """QuantizeLinear(DequantizeLinear(x)) with the same parameters and type is x."""
        g = self.g
        for node in list(g.nodes):
            if node.graph is not g or node.op.name != "QuantizeLinear":
                continue
            src = node.inputs[0]
            dq = src.producer if src is not None else None
            if dq is None or dq.op.name != "DequantizeLinear":
                continue
            x = dq.input(0)
            if x.type.dtype is node.attrs.dtype and x.type.quant == node.output.type.quant and node.output not in g.outputs:
                g.replace_value(node.output, x)
                g.remove_node(node)
                if not dq.output.uses and dq.output not in g.outputs:
                    g.remove_node(dq)


def _free_name(g: Graph, hint: str) -> str:
    """A value name not used in ``g`` (not claimed yet, unlike ``Graph.unique_name``)."""
    taken = {v.name for v in g.values()}
    name, k = hint, 0
    while name in taken:
        k += 1
        name = f"{hint}_{k}"
    return name
