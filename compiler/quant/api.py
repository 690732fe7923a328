"""The quantization API: ``tinyc.quantize(model, calib=...)`` and the pass form backends use.

    qmodel = quantize(model, calib="calib.npz")                 # int8, min/max ranges
    qmodel = quantize(model, calib=samples, scheme="int16x8", observer="mse")
    outputs = tinyc.run(qmodel, x)                              # the integer reference interpreter

The float model is left untouched; the returned model holds the MCU
pipeline's graph (NHWC kernel ops, fused clamps) quantized as described in
docs/quantization.md.
"""

from __future__ import annotations

import logging
from typing import Any

from tinyc.api import Model, load
from tinyc.ir.core import Graph, Node, Value
from tinyc.passes import PassOptions, PassResult, run_passes
from tinyc.quant.calibrate import RANDOM, load_samples
from tinyc.quant.prequant import Given, take_prequantized
from tinyc.quant.quantizer import QuantizeReport, QuantOptions, quantize_graph
from tinyc.quant.report import AccuracyReport, compare_graphs

log = logging.getLogger(__name__)

__all__ = ["AccuracyReport", "QuantOptions", "QuantizeReport", "clone_graph", "quantization_report", "quantize", "quantize_model", "quantize_passes"]


def clone_graph(graph: Graph) -> Graph:
    """A copy of ``graph`` (new values and nodes, same op definitions; constant arrays are shared, never mutated)."""
    g = Graph(graph.name)
    vmap: dict[int, Value] = {}
    for v in graph.inputs:
        vmap[id(v)] = g.add_input(v.name, v.type)
    for c in graph.constants:
        assert c.const is not None
        vmap[id(c)] = g.add_const(c.name, c.const, quant=c.type.quant)
    for n in graph.nodes:
        outs = [Value(o.name, o.type) for o in n.outputs]
        for o, no in zip(n.outputs, outs):
            vmap[id(o)] = no
        node = Node(n.op, [None if v is None else vmap[id(v)] for v in n.inputs], outs, n.attrs, name=n.name, loc=n.loc)
        g.insert_node(node)
    g.outputs = [vmap[id(v)] for v in graph.outputs]
    return g


def _options(options: QuantOptions | None, overrides: dict[str, Any]) -> QuantOptions:
    base = options or QuantOptions()
    fields = {k: v for k, v in overrides.items() if v is not None}
    return QuantOptions(**{**base.__dict__, **fields}) if fields else base


def _pipelined(model: Model | Any, pipeline: bool, pass_options: PassOptions | None) -> tuple[Model, Graph, Given]:
    m = load(model) if not isinstance(model, Model) else model
    graph = clone_graph(m.graph)
    given = take_prequantized(graph)
    if pipeline:
        from tinyc.passes.pipelines import mcu_pipeline

        graph, _ = run_passes(graph, mcu_pipeline(), pass_options)
    return m, graph, given


def quantize_model(
    model: Model | Any,
    calib: Any = None,
    *,
    options: QuantOptions | None = None,
    pass_options: PassOptions | None = None,
    pipeline: bool = True,
) -> tuple[Model, QuantizeReport]:
    """Quantize a copy of ``model``; returns the quantized model and what the quantizer did.

    ``calib``: an .npz/.npy path, a folder of .npy files, ``"random"``, a
    mapping of stacked arrays, an array, or an iterable of samples (see
    :mod:`tinyc.quant.calibrate`). It may be None only for pre-quantized (QDQ)
    models whose every activation already carries parameters.
    ``pipeline``: run the MCU pipeline first (turn it off for a graph that
    already went through it).
    """
    opts = options or QuantOptions()
    m, graph, given = _pipelined(model, pipeline, pass_options)
    samples = None if calib is None else load_samples(calib, graph, random_count=opts.random_samples, limit=opts.max_samples)
    report = quantize_graph(graph, samples, opts, given=given)
    return Model(graph, m.source, m.name), report


def quantization_report(
    model: Model | Any,
    calib: Any = None,
    *,
    eval_data: Any = None,
    options: QuantOptions | None = None,
    classifier: bool | None = None,
    pass_options: PassOptions | None = None,
) -> tuple[Model, AccuracyReport]:
    """Quantize and measure: per-layer SQNR and output errors against the float graph.

    Errors are measured on ``eval_data`` (same forms as ``calib``) or, when
    None, on the calibration samples. ``classifier`` forces top-1 agreement on
    or off (default: outputs produced by a softmax).
    """
    opts = options or QuantOptions()
    m, fgraph, given = _pipelined(model, True, pass_options)
    qgraph = clone_graph(fgraph)
    samples = None if calib is None else load_samples(calib, fgraph, random_count=opts.random_samples, limit=opts.max_samples)
    rep = quantize_graph(qgraph, samples, opts, given=given)
    if eval_data is not None:
        evals, source = load_samples(eval_data, fgraph, what="evaluation data"), "evaluation set"
    elif samples is not None:
        evals, source = samples, "calibration set"
    else:
        evals, source = load_samples(None, fgraph, what="evaluation data (or calibration data)"), ""
    layers, outputs = compare_graphs(fgraph, qgraph, evals, renamed=rep.renamed, classifier=classifier)
    acc = AccuracyReport(m.name, opts.scheme, opts.observer, rep.samples, len(evals), source, layers, outputs, rep.float_nodes)
    return Model(qgraph, m.source, m.name), acc


def quantize(
    model: Model | Any,
    calib: Any = None,
    *,
    scheme: str | None = None,
    observer: str | None = None,
    int_io: bool | None = None,
    options: QuantOptions | None = None,
) -> Model:
    """Post-training quantization with TFLite-exact integer semantics; returns a new model.

    ``scheme`` "int8" (default) or "int16x8"; ``observer`` "minmax" (default),
    "percentile" or "mse"; ``int_io`` keeps integer tensors at the graph's
    inputs and outputs instead of float with Quantize/DequantizeLinear.
    """
    opts = _options(options, {"scheme": scheme, "observer": observer, "int_io": int_io})
    qmodel, _ = quantize_model(model, calib, options=opts)
    return qmodel


def quantize_passes(options: QuantOptions, calib: Any = None) -> list[Any]:
    """The MCU pipeline with quantization, as a pass list a backend can run.

    The first pass takes a pre-quantized (QDQ) model's parameters off the
    graph before the pipeline (see :func:`tinyc.quant.prequant.take_prequantized`);
    the last one quantizes.
    """
    from tinyc.passes.pipelines import mcu_pipeline

    given = Given({}, [])

    class _Capture:
        name = "take-prequantized"

        def __call__(self, graph: Graph) -> PassResult:
            taken = take_prequantized(graph)
            given.params, given.hints = taken.params, taken.hints
            return PassResult(graph, bool(taken.params or taken.hints))

    class _Quantize:
        name = f"quantize-{options.scheme}"

        def __call__(self, graph: Graph) -> PassResult:
            samples = None
            if calib is not None:
                samples = load_samples(calib, graph, random_count=options.random_samples, limit=options.max_samples)
            quantize_graph(graph, samples, options, given=given)
            return PassResult(graph, True)

    return [_Capture(), *mcu_pipeline(), _Quantize()]


def is_random(calib: Any) -> bool:
    return isinstance(calib, str) and calib == RANDOM
