"""Graph passes, the pass manager, and the pipelines (plain lists of passes)."""

from __future__ import annotations

from tinyc.passes.manager import FunctionPass, Pass, PassOptions, PassResult, PipelineReport, graph_pass, run_passes
from tinyc.passes.pipelines import default_pipeline, mcu_pipeline

__all__ = [
    "FunctionPass",
    "Pass",
    "PassOptions",
    "PassResult",
    "PipelineReport",
    "default_pipeline",
    "graph_pass",
    "mcu_pipeline",
    "run_passes",
]
