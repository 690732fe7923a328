"""Graph passes and the pass manager."""

from __future__ import annotations

from tinyc.passes.manager import FunctionPass, Pass, PassOptions, PassResult, PipelineReport, graph_pass, run_passes

__all__ = ["FunctionPass", "Pass", "PassOptions", "PassResult", "PipelineReport", "graph_pass", "run_passes"]
