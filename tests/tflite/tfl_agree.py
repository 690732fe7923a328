"""The four computations of the agreement tests, and the matrix they fill.

For a quantized model (an int8 IR graph with int8 inputs and outputs) and its
.tflite form:

1. tinyc's integer reference interpreter (``tinyc.interpreter.run_graph``);
2. tinyc's generated C on the host (CMSIS-NN backend, built with gcc), when
   every op of the graph has a CMSIS-NN emitter;
3. LiteRT's interpreter with reference kernels (``BUILTIN_REF``);
4. TensorFlow Lite Micro's Python interpreter.

LiteRT 2.3's pip build rescales FULLY_CONNECTED int8 outputs with a single
rounding, where TFLite Micro and CMSIS-NN (and tinyc) round twice. For
models with a fully-connected layer the LiteRT column is therefore compared
with tinyc's reference run with that one kernel swapped for the
single-rounding formula (``litert_fc_semantics``): a pinned, documented
deviation rather than a hidden one.

Run as a script to print the agreement matrix (docs/tflite.md).
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyc.api import Model
from tinyc.errors import UnsupportedOpError
from tinyc.interpreter import run_graph
from tinyc.ir.core import Graph
from tinyc.ir.opdef import OPS
from tinyc.ir.ops import quantized as Q
from tinyc.quant import params as P

Samples = list[list[np.ndarray]]  # samples[k][i]: input i of sample k


def int_samples(graph: Graph, n: int, seed: int) -> Samples:
    """Random integer inputs over the full range, plus the extremes and the zero point."""
    rng = np.random.default_rng(seed)
    out: Samples = []
    for k in range(n):
        row = []
        for v in graph.inputs:
            dt = v.type.dtype
            if k == 0:
                x = np.full(v.type.shape, dt.qmin, dtype=dt.numpy)
            elif k == 1:
                x = np.full(v.type.shape, dt.qmax, dtype=dt.numpy)
            elif k == 2 and v.type.quant is not None:
                x = np.full(v.type.shape, v.type.quant.zero_point[0], dtype=dt.numpy)
            else:
                x = rng.integers(dt.qmin, dt.qmax + 1, v.type.shape).astype(dt.numpy)
            row.append(x)
        out.append(row)
    return out


# -- the four computations ---------------------------------------------------------------------


def run_tinyc(graph: Graph, samples: Samples) -> list[np.ndarray]:
    names = [v.name for v in graph.inputs]
    outs = [run_graph(graph, dict(zip(names, xs))) for xs in samples]
    return [np.stack([o[v.name] for o in outs]) for v in graph.outputs]


def run_litert(data: bytes, samples: Samples) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    ins, outs = it.get_input_details(), it.get_output_details()
    res: list[list[np.ndarray]] = [[] for _ in outs]
    for xs in samples:
        for d, x in zip(ins, xs, strict=True):
            it.set_tensor(d["index"], x.reshape(d["shape"]))
        it.invoke()
        for o, d in enumerate(outs):
            res[o].append(it.get_tensor(d["index"]).copy())
    return [np.stack(r) for r in res]


def run_tflm(data: bytes, samples: Samples, n_outputs: int = 1) -> list[np.ndarray]:
    from tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(data)
    res: list[list[np.ndarray]] = [[] for _ in range(n_outputs)]
    for xs in samples:
        for i, x in enumerate(xs):
            it.set_input(x, i)
        it.invoke()
        for o in range(n_outputs):
            res[o].append(it.get_output(o).copy())
    return [np.stack(r) for r in res]


def c_supported(graph: Graph) -> bool:
    from tinyc.backends.cmsis_nn import SUPPORTED_OPS

    return all(n.op.name in SUPPORTED_OPS for n in graph.nodes)


def run_c(graph: Graph, name: str, samples: Samples) -> list[np.ndarray]:
    """tinyc's generated C (CMSIS-NN backend) built with gcc and run on the host."""
    from tinyc.backends.cmsis_nn.harness import BuildInfo, build_host, run_harness
    from tinyc.driver import CompileOptions, compile_model

    with tempfile.TemporaryDirectory(prefix="tinyc-agree-") as tmp:
        d = Path(tmp)
        model = Model(copy.deepcopy(graph, {id(op): op for op in OPS.values()}), f"{name}.tflite", name)
        compile_model(model, output_dir=d / "build", options=CompileOptions(target="stm32h7"))
        (d / "work").mkdir()
        exe = build_host(d / "build", d / "work", opt="-O1")
        info = BuildInfo.read(d / "build")
        xs = [np.stack([s[i] for s in samples]).astype(np.int8) for i in range(len(samples[0]))]
        res = run_harness(exe, info, d / "work", xs)
        return [o.reshape(o.shape[0], *v.type.shape) for o, v in zip(res.outputs, graph.outputs)]


# -- LiteRT's fully-connected rounding -----------------------------------------------------------


def fc_single_rounding(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, *, input_offset: int, output_offset: int, multiplier: Any, shift: Any, act_min: int, act_max: int) -> np.ndarray:
    """FULLY_CONNECTED as LiteRT 2.3's pip build computes it: acc * M rescaled with one rounding.

    ``acc * multiplier`` (64-bit) is shifted right by ``31 - shift`` with
    round-half-up, instead of TFLite's SaturatingRoundingDoublingHighMul
    followed by RoundingDivideByPOT.
    """
    rows = x.reshape(-1, w.shape[1]).astype(np.int64) + input_offset
    acc = rows @ w.astype(np.int64).T
    if b is not None:
        acc = acc + b.astype(np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    total = 31 - np.asarray(shift, dtype=np.int64)
    res = ((acc * m + (np.int64(1) << (total - 1))) >> total) + output_offset
    return np.clip(res, act_min, act_max).astype(np.int8).reshape(*x.shape[:-1], w.shape[0])


def _fc_litert(attrs: Any, args: Sequence[np.ndarray | None], ctx: Any) -> list[np.ndarray]:
    op = "FullyConnected"
    _, s_in, zp_in = Q._scheme(ctx, op)
    x, w = args[0], args[1]
    assert x is not None and w is not None
    s_w = Q.weight_scales(ctx.in_types[1], ctx, op, 0, w.shape[0])
    s_out, zp_out = Q.out_params(ctx, op, ctx.in_types[0].dtype)
    if s_w.size == 1:
        mult, shift = P.fc_multiplier(s_in, float(s_w[0]), s_out)
    else:
        mult, shift = P.conv_multipliers(s_in, s_w, s_out)
    lo, hi = Q.activation_bounds(attrs.act_min, attrs.act_max, s_out, zp_out, ctx.in_types[0].dtype)
    b = args[2] if len(args) > 2 else None
    return [fc_single_rounding(x, w, b, input_offset=-zp_in, output_offset=zp_out, multiplier=mult, shift=shift, act_min=lo, act_max=hi)]


@contextlib.contextmanager
def litert_fc_semantics() -> Iterator[None]:
    """Within the block, tinyc's reference runs FullyConnected with LiteRT's single rounding."""
    saved = Q._KERNEL_EVALUATORS["FullyConnected"]
    Q._KERNEL_EVALUATORS["FullyConnected"] = _fc_litert
    try:
        yield
    finally:
        Q._KERNEL_EVALUATORS["FullyConnected"] = saved


def has_fc(graph: Graph) -> bool:
    return any(n.op.name == "FullyConnected" for n in graph.nodes)


# -- the matrix ----------------------------------------------------------------------------------


@dataclass
class Agreement:
    """Mismatching samples per computation, against tinyc's reference (None: not run)."""

    model: str
    samples: int
    c: int | None = None
    tflm: int | None = None
    litert: int | None = None
    litert_vs_single_rounding: int | None = None
    notes: list[str] = field(default_factory=list)

    def row(self) -> str:
        def cell(v: int | None, what: str = "") -> str:
            return "n/a" if v is None else ("equal" if v == 0 else f"{v} differ{what}")

        lit = cell(self.litert)
        if self.litert_vs_single_rounding is not None:
            lit = f"{lit}; = single-rounding FC: {cell(self.litert_vs_single_rounding)}"
        return f"| {self.model} | {self.samples} | {cell(self.c)} | {lit} | {cell(self.tflm)} |"


def mismatches(a: list[np.ndarray], b: list[np.ndarray]) -> int:
    """Samples on which any output differs."""
    bad = np.zeros(a[0].shape[0], dtype=bool)
    for x, y in zip(a, b, strict=True):
        bad |= np.any(x.reshape(x.shape[0], -1) != y.reshape(y.shape[0], -1), axis=1)
    return int(bad.sum())


def agree(name: str, graph: Graph, data: bytes, samples: Samples, *, with_c: bool = True) -> Agreement:
    """Run all four computations on ``samples`` and count disagreements with tinyc's reference."""
    ref = run_tinyc(graph, samples)
    a = Agreement(name, len(samples))
    a.tflm = mismatches(ref, run_tflm(data, samples, len(graph.outputs)))
    lit = run_litert(data, samples)
    a.litert = mismatches(ref, lit)
    if has_fc(graph):
        with litert_fc_semantics():
            a.litert_vs_single_rounding = mismatches(run_tinyc(graph, samples), lit)
    if with_c and c_supported(graph):
        try:
            a.c = mismatches(ref, run_c(graph, name, samples))
        except UnsupportedOpError as exc:
            a.notes.append(f"no C: {exc.what}")
    return a


def _matrix() -> str:  # pragma: no cover - a report generator
    import sys

    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    from tfl_micro import MICRO, quantized

    from tinyc.api import load
    from tinyc.backends.tflite.writer import write_graph
    from tinyc.quant.api import quantize_model
    from tinyc.quant.quantizer import QuantOptions

    rows = ["| model | samples | generated C (host) | LiteRT (BUILTIN_REF) | TFLite Micro |", "|---|---|---|---|---|"]
    mlperf = here.parents[2] / "shared" / "models" / "mlperf-tiny"
    for which in ("kws_dscnn_int8", "ad_autoencoder_int8"):
        path = mlperf / f"{which}.tflite"
        if path.exists():
            g = load(path).graph
            s = int_samples(g, 200, 2)
            rows.append(agree(f"{which}.tflite (published file)", g, path.read_bytes(), s).row())
            rows.append(agree(f"{which}.tflite (written back by tinyc)", g, write_graph(g).data, s, with_c=False).row())
    for which, shape in (("kws_dscnn_float", (1, 49, 10, 1)), ("ad_autoencoder_float", (1, 640))):
        path = mlperf / f"{which}.onnx"
        if path.exists():
            m = load(path, input_shapes={"input_1": shape})
            calib = {"input_1": (np.random.default_rng(0).standard_normal((12, *shape[1:])) * 4).astype(np.float32)}
            g = quantize_model(Model(m.graph, str(path), which), calib, options=QuantOptions(int_io=True))[0].graph
            rows.append(agree(f"{which}.onnx quantized by tinyc", g, write_graph(g).data, int_samples(g, 200, 4)).row())
    for name in MICRO:
        g = quantized(name)
        rows.append(agree(name, g, write_graph(g).data, int_samples(g, 64, 1)).row())
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(_matrix())
