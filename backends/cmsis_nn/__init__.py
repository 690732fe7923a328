"""The CMSIS-NN backend: int8 (or int16x8) C for Cortex-M (``stm32h7``, ``cortex-m7``, ...).

Pipeline: the MCU lowering (NHWC kernel ops, fused activations), int8
quantization (or int16x8: int16 activations, int8 weights, the s16 kernels of
``layers_s16``), then the I/O boundary (the C takes int8 / int16 tensors;
float wrappers quantize in C). ``write`` plans memory with each kernel's scratch,
lowers every node to one CMSIS-NN call and writes:

- ``<name>.h``, ``<name>.c``, ``<name>_weights.c``, ``<name>_data.h``: the model;
- ``<name>.mk``, ``CMakeLists.txt``, ``<name>_sections.ld``: build glue;
- ``report.md``, ``report.json``: RAM per region, flash, MACs, per layer.

See docs/cmsis_nn.md.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path, PurePath
from typing import Any

from tinyc.backends import BackendContext
from tinyc.backends.cmsis_nn import layers_extra, layers_s16  # noqa: F401  (layers_extra registers the extra int8 emitters)
from tinyc.backends.cmsis_nn.banding import BandPlan, plan_banded
from tinyc.backends.cmsis_nn.codegen import CodeGen, Generated
from tinyc.backends.cmsis_nn.glue import cmake_file, linker_snippet, makefile_fragment, runtime_dir
from tinyc.backends.cmsis_nn.io_boundary import strip_io_quantization
from tinyc.backends.cmsis_nn.layers import EMITTERS, scratch_of, table_bytes
from tinyc.backends.cmsis_nn.report import build_report, report_json, report_markdown
from tinyc.errors import QuantizationError, TargetError
from tinyc.ir.core import Graph
from tinyc.passes.manager import Pass, PassResult

log = logging.getLogger(__name__)

__all__ = ["BACKEND", "CmsisNnBackend", "SUPPORTED_OPS", "SUPPORTED_OPS_S16", "generate", "is_int8_graph", "plan_for", "quant_options"]

SUPPORTED_OPS = tuple(sorted(EMITTERS))  # int8
SUPPORTED_OPS_S16 = tuple(sorted(layers_s16.EMITTERS_S16))  # int16x8 (int16 activations, int8 weights)

_BOUNDARY_OPS = ("QuantizeLinear", "DequantizeLinear")


def is_int8_graph(graph: Graph) -> bool:
    """True when every node except edge Q/DQ computes on integers (the graph is already quantized)."""
    for node in graph.nodes:
        if node.op.name in _BOUNDARY_OPS:
            continue
        vals = [v for v in (*node.inputs, *node.outputs) if v is not None]
        if any(v.type.dtype.is_float for v in vals):
            return False
    return True


class SkipIfInt8:
    """Wrap the quantizer's pass: an already int8 graph (edges aside) goes through unchanged."""

    def __init__(self, inner: Pass) -> None:
        self.inner = inner
        self.name = inner.name

    def __call__(self, graph: Graph) -> PassResult:
        if is_int8_graph(graph):
            return PassResult(graph, False)
        return self.inner(graph)


def quant_options(options: Any) -> Any:
    """The quantizer's options for a compile: what ``options`` ask for, int8 when they ask for nothing (the kernels are int8)."""
    from tinyc.quant.api import QuantOptions

    q = getattr(options, "quantize", None)
    if isinstance(q, QuantOptions):
        opts = q
    elif q and hasattr(options, "quant_options"):
        opts = options.quant_options()
    else:
        opts = QuantOptions(scheme=q or "int8", observer=getattr(options, "observer", "minmax"), int_io=bool(getattr(options, "int_io", False)))
    if opts.scheme not in ("int8", "int16x8"):
        raise QuantizationError(
            f"the cmsis_nn backend runs int8 and int16x8 models; quantization scheme {opts.scheme!r} is not supported",
            hint="compile with --quantize int8 (the default for this target) or --quantize int16x8",
        )
    return opts


def _quantize_passes(options: Any) -> list[Pass]:
    from tinyc.quant.api import quantize_passes

    passes = list(quantize_passes(quant_options(options), getattr(options, "calib", None)))
    return [SkipIfInt8(p) if p.name.startswith("quantize-") else p for p in passes]


def plan_for(graph: Graph, target: Any, options: Any = None) -> tuple[Any, BandPlan]:
    """The memory plan the backend uses: kernel scratch per node, graph I/O inside the arenas, banded
    in-place layers when that needs less RAM (off with ``banded = false`` in the target's [backend.options])."""
    from tinyc.memory import PlanOptions, plan_memory

    scratch = {n: s for n in graph.nodes if (s := scratch_of(n))}
    plan_opts = getattr(options, "plan", None) or PlanOptions()
    if not plan_opts.io_in_arena:
        raise TargetError(
            "the cmsis_nn backend keeps model inputs and outputs in its arenas (as TFLite Micro does)",
            hint="drop --io-outside-arena; <name>_run() copies from and to your buffers",
        )
    tables = table_bytes(graph)
    if tables:  # weights are planned with their requantization tables, which live beside them
        base = plan_opts.size_of or (lambda v: v.type.nbytes)
        plan_opts = dataclasses.replace(plan_opts, size_of=lambda v: base(v) + tables.get(v, 0))
    if not bool(dict(getattr(target, "backend_options", {}) or {}).get("banded", True)):
        return plan_memory(graph, target, options=plan_opts, scratch=scratch), BandPlan()
    return plan_banded(graph, target, plan_opts, scratch)


def generate(graph: Graph, target: Any, name: str, *, source: str = "", plan: Any = None, options: Any = None) -> tuple[Generated, Any]:
    """Plan and generate the C files in memory; returns (generated, plan). A given ``plan`` is used as is (no bands)."""
    from tinyc import __version__

    bands = BandPlan()
    if plan is None:
        plan, bands = plan_for(graph, target, options)
    gen = CodeGen(graph, plan, target, name, source=source, version=__version__, bands=bands).generate()
    return gen, plan


class CmsisNnBackend:
    name = "cmsis_nn"

    def pipeline(self, target: Any, options: Any) -> list[Pass]:
        """The MCU lowering and int8 quantization (tinyc.quant), then the int8 I/O boundary."""
        return [*_quantize_passes(options), strip_io_quantization]

    def write(self, ctx: BackendContext) -> list[Path]:
        source = PurePath(ctx.model.source).name if getattr(ctx.model, "source", "") else ""
        gen, plan = generate(ctx.graph, ctx.target, ctx.model.name, source=source, plan=ctx.plan, options=ctx.options)
        ctx.plan = plan
        prefix = gen.prefix
        runtime = runtime_dir()
        report = build_report(prefix, ctx.model.name, source, ctx.target, gen, plan)
        ctx.report = report
        files = dict(gen.files)
        files[f"{prefix}.mk"] = makefile_fragment(prefix, runtime)
        files["CMakeLists.txt"] = cmake_file(prefix, runtime)
        files[f"{prefix}_sections.ld"] = linker_snippet(prefix, ctx.target, gen)
        files["report.json"] = report_json(report)
        files["report.md"] = report_markdown(report)
        written = []
        for fname in sorted(files):
            path = ctx.out_dir / fname
            path.write_text(files[fname], encoding="utf-8", newline="\n")
            written.append(path)
        log.info("cmsis_nn: wrote %d files for %s (%d layers, %d B RAM)", len(written), prefix, len(gen.layers), report["totals"]["ram_bytes"])
        return written


BACKEND = CmsisNnBackend()
