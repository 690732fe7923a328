"""The tflite backend: a TFLite flatbuffer for the Coral Edge TPU (``coral-edgetpu``, ``coral-devboard``)
and for LiteRT with XNNPACK on a Raspberry Pi CM4 (``rpi-cm4``).

Pipeline: the MCU lowering (NHWC kernel ops, fused clamps), then int8
quantization with the compile options' calibration data (skipped for an
already-int8 graph, and for ``rpi-cm4`` when float is asked for). ``write``
produces:

- ``<name>.tflite``: schema version 3, one subgraph, static shapes, per-channel
  int8 conv/depthwise weights, int32 biases, int8 or uint8 (or float) I/O,
  the lowest op versions that express each operator;
- ``report.md`` / ``report.json``: operators and sizes, the LiteRT load check,
  XNNPACK delegation as measured with the LiteRT installed here, and for the
  Edge TPU targets the per-operator mapping, the split point, suggestions and
  the ``edgetpu_compiler`` log (or the command to run).

Backend options (target file ``[backend.options]`` or CompileOptions):
``edgetpu`` (bool), ``quantization`` ("int8" or "float"), ``io_dtype`` /
``io_type`` ("int8", "uint8", "float"), ``edgetpu_compiler`` (executable).
See docs/tflite.md.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from tinyc.backends import BackendContext
from tinyc.backends.tflite.writer import IO_TYPES, WriteOptions, Written, write_graph
from tinyc.errors import QuantizationError, TargetError, TinycError
from tinyc.ir.core import Graph
from tinyc.passes.manager import Pass, PassResult

log = logging.getLogger(__name__)

__all__ = ["BACKEND", "TFLiteBackend", "backend_settings", "write_graph", "WriteOptions", "Written"]

_EDGE_OPS = ("QuantizeLinear", "DequantizeLinear")


def float_nodes(graph: Graph) -> list[str]:
    """Nodes that compute in float, other than the quantize/dequantize at the graph's edges."""
    out = []
    for n in graph.nodes:
        if n.op.name in _EDGE_OPS:
            touches_io = any(v in graph.inputs for v in n.inputs) or any(v in graph.outputs for v in n.outputs)
            if touches_io:
                continue
        if any(v is not None and v.type.dtype.is_float for v in (*n.inputs, *n.outputs)):
            out.append(f"{n.op.name} {n.name!r}")
    return out


def backend_settings(target: Any, options: Any) -> dict[str, Any]:
    """The backend's settings from the target file's options and the compile options.

    The Edge TPU targets always quantize to int8. ``rpi-cm4`` quantizes when
    asked (``quantize``) or given calibration data, and otherwise writes the
    float model; an int8 input model stays int8 either way.
    """
    t = dict(getattr(target, "backend_options", {}) or {})
    where = f"target {getattr(target, 'name', '?')!r}"
    edgetpu = bool(t.get("edgetpu", False))
    asked = getattr(options, "quantize", None)
    scheme = getattr(asked, "scheme", asked)
    if scheme not in (None, "", "int8"):
        raise QuantizationError(f"the tflite backend writes int8 models; quantization scheme {scheme!r} is not supported", where=where, hint="use --quantize int8")
    quantize = edgetpu or bool(scheme) or getattr(options, "calib", None) is not None
    io = getattr(options, "io_type", None) or ("int8" if getattr(options, "int_io", False) else None)
    io = io or t.get("io_dtype") or t.get("io_type") or ("int8" if edgetpu else "float")
    if io not in IO_TYPES:
        raise TargetError(f"unknown I/O type {io!r}", where=where, hint=f"choose one of {', '.join(IO_TYPES)}")
    return {"edgetpu": edgetpu, "quantization": "int8" if quantize else "float", "io_type": io, "compiler": str(t.get("edgetpu_compiler", "edgetpu_compiler"))}


class SkipIfInt8:
    """Wrap the quantizer's pass: a graph that is already int8 (edges aside) goes through unchanged."""

    def __init__(self, inner: Pass) -> None:
        self.inner = inner
        self.name = inner.name

    def __call__(self, graph: Graph) -> PassResult:
        if not float_nodes(graph):
            return PassResult(graph, False)
        return self.inner(graph)


def _quantize_passes(options: Any, edgetpu: bool = False) -> list[Pass]:
    """int8 quantization; for the Edge TPU, fully-connected weights per tensor (its compiler predates per-channel FULLY_CONNECTED)."""
    from tinyc.quant.api import QuantOptions, quantize_passes

    asked = getattr(options, "quantize", None)
    opts = asked if isinstance(asked, QuantOptions) else QuantOptions(scheme="int8", observer=getattr(options, "observer", "minmax") or "minmax")
    if edgetpu and opts.per_channel_fully_connected:
        opts = dataclasses.replace(opts, per_channel_fully_connected=False)
    passes = list(quantize_passes(opts, getattr(options, "calib", None)))
    passes[-1] = SkipIfInt8(passes[-1])
    return passes


def _mcu_passes() -> list[Pass]:
    from tinyc.passes.pipelines import mcu_pipeline

    return list(mcu_pipeline())


class TFLiteBackend:
    name = "tflite"

    def pipeline(self, target: Any, options: Any) -> list[Pass]:
        s = backend_settings(target, options)
        return _quantize_passes(options, edgetpu=s["edgetpu"]) if s["quantization"] == "int8" else _mcu_passes()

    def write(self, ctx: BackendContext) -> list[Path]:
        from tinyc.backends.tflite.edgetpu import map_ops, run_compiler
        from tinyc.backends.tflite.report import litert_check, model_summary, report_json, report_markdown

        s = backend_settings(ctx.target, ctx.options)
        graph = ctx.graph
        floats = float_nodes(graph)
        if s["quantization"] != "float" and floats and s["edgetpu"]:
            raise QuantizationError(
                f"{len(floats)} operator(s) stayed in float, and the Edge TPU compiler refuses any float operator: {', '.join(floats[:6])}",
                where=f"target {ctx.target.name!r}",
                hint="these ops have no int8 form in tinyc; remove them from the model, or run them on the host after the model",
            )
        name = ctx.model.name
        written = write_graph(graph, WriteOptions(io_type=s["io_type"], edgetpu=s["edgetpu"], description=f"tinyc: {name} for {ctx.target.name}"))
        path = ctx.out_dir / f"{name}.tflite"
        path.write_bytes(written.data)
        files = [path]
        report: dict[str, Any] = {
            "name": name,
            "target": ctx.target.name,
            "target_description": getattr(ctx.target, "description", ""),
            "file": path.name,
            "settings": s,
            "model": model_summary(written),
            "litert": litert_check(written.data),
        }
        if report["litert"].get("ok") is False:
            raise TinycError(f"LiteRT does not run the written model: {report['litert'].get('reference_kernels')}", hint="this is a bug in tinyc's TFLite writer; please report it with the model")
        if s["edgetpu"]:
            et = map_ops(written)
            et.compiler = run_compiler(s["compiler"], path, ctx.out_dir)
            for produced in sorted(ctx.out_dir.glob(f"{name}_edgetpu*")):
                files.append(produced)
            report["edgetpu"] = et.to_json()
            report["run"] = _run_edgetpu(name)
        else:
            report["run"] = _run_litert(name, s)
        ctx.report = report
        for fname, text in (("report.json", report_json(report)), ("report.md", report_markdown(report))):
            p = ctx.out_dir / fname
            p.write_text(text, encoding="utf-8", newline="\n")
            files.append(p)
        log.info("tflite: wrote %s (%d operators, %d bytes)", path.name, len(written.ops), len(written.data))
        return files


def _run_edgetpu(name: str) -> list[str]:
    return [
        f"Compile: `edgetpu_compiler -s {name}.tflite` (x86-64 Linux) writes `{name}_edgetpu.tflite` and `{name}_edgetpu.log`;",
        "add `-m 13` (or another runtime version) for an older Edge TPU runtime.",
        f"Run: `interpreter = tflite_runtime.interpreter.Interpreter('{name}_edgetpu.tflite', experimental_delegates=[load_delegate('libedgetpu.so.1')])`.",
    ]


def _run_litert(name: str, s: dict[str, Any]) -> list[str]:
    return [
        "On the Raspberry Pi (64-bit OS): `pip install ai-edge-litert`, then",
        f"`Interpreter(model_path='{name}.tflite', num_threads=4)`: LiteRT applies its XNNPACK delegate by default.",
        f"Inputs and outputs are {s['io_type']}.",
    ]


BACKEND = TFLiteBackend()
