"""The compile driver: import -> target pipeline -> memory plan -> backend -> output folder.

Output folders are written atomically: everything goes to a temporary folder
beside the destination, which replaces the destination only when the whole
compile succeeded.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyc.analysis import GraphAnalysis, analyze_graph, layer_table
from tinyc.api import Model
from tinyc.errors import TinycError
from tinyc.passes import PassOptions, run_passes

log = logging.getLogger(__name__)

DEFAULT_TARGET = "stm32h7"
OUTPUT_MARKER = ".tinyc-output"


@dataclass(frozen=True)
class CompileOptions:
    """Typed options of ``tinyc.compile``; later issues add quantization and backend knobs."""

    target: str | None = None
    target_file: str | Path | None = None
    plan: Any = None  # tinyc.memory.PlanOptions for the memory planner (None: its defaults)
    quantize: str | None = None  # "int8" | "int16x8": post-training quantization (tinyc.quant), None: float
    calib: Any = None  # calibration data: .npz/.npy path, folder, "random", arrays or an iterable of samples
    observer: str = "minmax"  # activation ranges: "minmax" | "percentile" | "mse"
    int_io: bool = False  # integer graph inputs/outputs instead of float with Quantize/DequantizeLinear
    precision: str | None = None  # TensorRT: "fp32" | "fp16" | "int8" (None: the model's QDQ, else the target's default)
    dynamic_batch: tuple[int, int, int] | None = None  # TensorRT: (min, opt, max) batch of one optimisation profile
    io_type: str | None = None  # TFLite: "int8" | "uint8" | "float" graph inputs/outputs (None: the target's default)

    def quant_options(self) -> Any:
        """The ``tinyc.quant.QuantOptions`` these options ask for, or None for a float compile."""
        if not self.quantize:
            return None
        from tinyc.quant.quantizer import QuantOptions

        return QuantOptions(scheme=self.quantize, observer=self.observer, int_io=self.int_io)


@dataclass
class Artifacts:
    """What a compile wrote."""

    output_dir: Path
    files: list[Path]
    report: dict[str, Any] = field(default_factory=dict)


def resolve_target(target: Any = None, target_file: str | Path | None = None) -> Any:
    from tinyc.targets import Target, load_target

    if isinstance(target, Target):
        return target
    if target_file is not None:
        return load_target(Path(target_file))
    return load_target(target or DEFAULT_TARGET)


def target_pipeline(target: Any, options: CompileOptions | None = None) -> list[Any]:
    """The passes for a target: the backend's list when it exists, else the generic one."""
    from tinyc.passes.pipelines import default_pipeline

    try:
        from tinyc.backends import get_backend

        backend = get_backend(target.backend, target_name=target.name)
    except TinycError:
        return default_pipeline()
    return list(backend.pipeline(target, options or CompileOptions()))


def prepare_graph(model: Model, *, target: Any = None, pass_options: PassOptions | None = None) -> Model:
    """Run the target's pipeline on ``model.graph`` in place; returns the model."""
    t = resolve_target(target)
    model.graph, _ = run_passes(model.graph, target_pipeline(t), pass_options)
    return model


@dataclass
class Analysis:
    layers: GraphAnalysis
    memory: Any = None  # MemoryPlan when a target was given
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = self.layers.to_json()
        if self.memory is not None:
            out["memory"] = self.memory.to_json()
        out["notes"] = list(self.notes)
        return out

    def text(self) -> str:
        parts = [layer_table(self.layers)]
        parts.append(
            f"\nparameters: {self.layers.total_params:,} ({self.layers.total_param_bytes:,} B as stored)   MACs: {self.layers.total_macs:,}"
        )
        if self.memory is not None:
            parts.append("\n" + self.memory.text())
        parts.extend(f"note: {n}" for n in self.notes)
        return "\n".join(parts)


def analyze(
    model: Model,
    *,
    target: Any = None,
    pass_options: PassOptions | None = None,
    memory_plot: str | Path | None = None,
    plan_options: Any = None,
    options: Any = None,
) -> Analysis:
    """Per-layer table; with a target, the target's pipeline and the memory plan too."""
    if target is None:
        if memory_plot:
            raise TinycError("--memory-plot needs a target", hint="add --target stm32h7 (see `tinyc targets`)")
        return Analysis(analyze_graph(model.graph, model.name))
    t = resolve_target(target)
    model.graph, _ = run_passes(model.graph, analysis_pipeline(t, options), pass_options)
    from tinyc.memory import plan_memory

    plan = plan_memory(model.graph, t, options=plan_options)
    if memory_plot:
        from tinyc.memory.plot import plot_plan

        plot_plan(plan, Path(memory_plot))
    result = Analysis(analyze_graph(model.graph, model.name), plan)
    if any(v.type.dtype.is_float for n in model.graph.nodes for v in n.outputs):
        result.notes.append(
            "the graph computes in float32, so activations are planned at float sizes; "
            "quantized (--quantize int8 --calib DATA) they take a quarter of that"
        )
    return result


def analysis_pipeline(target: Any, options: Any = None) -> list[Any]:
    """The passes ``analyze`` runs: the backend's own when quantization was asked for,
    else the float lowering of the target family (so a float model can be analysed without calibration data)."""
    from tinyc.passes.pipelines import default_pipeline, mcu_pipeline

    if options is not None and (getattr(options, "quantize", None) or getattr(options, "calib", None)):
        return target_pipeline(target, options)
    if target.backend == "cmsis_nn":
        return mcu_pipeline()
    return default_pipeline()


def compile_model(
    model: Model,
    *,
    output_dir: str | Path,
    options: CompileOptions | None = None,
    pass_options: PassOptions | None = None,
) -> Artifacts:
    """Compile ``model`` for the options' target into ``output_dir`` (atomically)."""
    from tinyc.backends import BackendContext, get_backend

    opts = options or CompileOptions()
    t = resolve_target(opts.target, opts.target_file)
    backend = get_backend(t.backend, target_name=t.name)
    graph, _ = run_passes(model.graph, list(backend.pipeline(t, opts)), pass_options)
    model.graph = graph
    dest = Path(output_dir)
    _check_destination(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tinyc-", dir=dest.parent))
    try:
        ctx = BackendContext(model=model, graph=graph, target=t, out_dir=staging, options=opts)
        files = backend.write(ctx)
        (staging / OUTPUT_MARKER).write_text(json.dumps({"model": model.source, "target": t.name}) + "\n")
        _replace_dir(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Artifacts(dest, [dest / f.relative_to(staging) for f in files], ctx.report)


def _check_destination(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise TinycError(f"output path {dest} exists and is not a folder", hint="choose another -o")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / OUTPUT_MARKER).exists():
        raise TinycError(
            f"output folder {dest} is not empty and was not written by tinyc",
            hint="choose an empty or new folder; tinyc replaces only folders it wrote itself",
        )


def _replace_dir(staging: Path, dest: Path) -> None:
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        dest.rename(old)
        staging.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(dest)
