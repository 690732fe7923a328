"""Fusion rules (one per file, each with its test) and the ``fuse`` pass that applies them."""

from __future__ import annotations

from tinyc.ir.core import Graph
from tinyc.passes.fusions import add_relu, conv_bias_act, pool_act
from tinyc.passes.fusions.rule import FusionReport, FusionRule, Match, apply_fusions
from tinyc.passes.manager import graph_pass

# In order: a bias Add after a conv goes into the conv before add-relu could claim it.
RULES: list[FusionRule] = [conv_bias_act.RULE, pool_act.RULE, add_relu.RULE]


@graph_pass("fuse")
def fuse(graph: Graph) -> bool:
    """Apply the fusion rules (conv-bias-act, pool-act, add-relu) until none fires."""
    changed = apply_fusions(graph, RULES)
    return graph.prune_constants() or changed


__all__ = ["FusionReport", "FusionRule", "Match", "RULES", "apply_fusions", "fuse"]
