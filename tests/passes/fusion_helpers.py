"""Shared by the fusion rule tests: run one rule as a pass, and ask a rule why it refuses."""

from __future__ import annotations

from tinyc.ir.core import Graph
from tinyc.ir.parser import parse_graph
from tinyc.passes.fusions.rule import FusionReport, FusionRule, apply_fusions


def rule_pass(rule: FusionRule):  # noqa: ANN201
    """A pass function applying only ``rule`` (and dropping constants it left unused)."""

    def run(graph: Graph) -> bool:
        changed = apply_fusions(graph, [rule])
        return graph.prune_constants() or changed

    return run


def refusal(rule: FusionRule, text: str, anchor: str) -> str | None:
    """The reason ``rule``'s check gives at the node named ``anchor`` (None: it would fuse)."""
    graph = parse_graph(text)
    match = rule.pattern(graph.node(anchor))
    assert match is not None, f"{rule.name}: pattern does not match at {anchor}"
    return rule.check(graph, match)


def refusals(rule: FusionRule, text: str) -> list[tuple[str, str]]:
    """(anchor, reason) of every refusal while applying ``rule`` to the graph."""
    graph = parse_graph(text)
    report = FusionReport()
    apply_fusions(graph, [rule], report)
    return [(anchor, reason) for _, anchor, reason in report.refused]
