"""Fusion rules as pattern / check / rewrite triples, and the loop that applies them.

- ``pattern(node)`` looks at the graph's structure around an anchor node and
  returns a ``Match`` (the nodes involved, in order, plus what the rewrite
  needs) or None;
- ``check(graph, match)`` decides whether fusing is legal and returns None,
  or the reason it is not (a sentence a user can read in the debug log);
- ``rewrite(graph, match)`` replaces the matched nodes by the fused node,
  whose location merges theirs (``Loc.fuse``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tinyc.ir.core import Graph, Node

log = logging.getLogger(__name__)


@dataclass
class Match:
    """What a pattern found: the anchor first, then the nodes fused into it."""

    nodes: list[Node]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def anchor(self) -> Node:
        return self.nodes[0]

    @property
    def last(self) -> Node:
        return self.nodes[-1]

    def describe(self) -> str:
        return " + ".join(f"{n.op.name}({n.name})" for n in self.nodes)


@dataclass(frozen=True)
class FusionRule:
    name: str
    pattern: Callable[[Node], Match | None]
    check: Callable[[Graph, Match], str | None]
    rewrite: Callable[[Graph, Match], Node]
    doc: str = ""

    def try_apply(self, graph: Graph, node: Node) -> tuple[bool, str | None]:
        """(fused, reason it did not) for one anchor node."""
        match = self.pattern(node)
        if match is None:
            return False, None
        reason = self.check(graph, match)
        if reason is not None:
            return False, reason
        fused = self.rewrite(graph, match)
        log.debug("fusion %s: %s -> %s %s", self.name, match.describe(), fused.op.name, fused.name)
        return True, None


@dataclass
class FusionReport:
    """Which rules fired and why others were refused (for logs and tests)."""

    applied: list[tuple[str, str]] = field(default_factory=list)  # (rule, fused node)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (rule, anchor node, reason)


def apply_fusions(graph: Graph, rules: Sequence[FusionRule], report: FusionReport | None = None, *, max_rounds: int = 20) -> bool:
    """Apply the rules in order over the graph until none fires; returns whether any did."""
    changed = False
    for _ in range(max_rounds):
        fired = False
        for node in graph:
            if node.graph is not graph:
                continue
            for rule in rules:
                ok, reason = rule.try_apply(graph, node)
                if ok:
                    fired = True
                    if report is not None:
                        report.applied.append((rule.name, node.name))
                    break
                if reason is not None:
                    log.debug("fusion %s refused at %s: %s", rule.name, node.name, reason)
                    if report is not None and (rule.name, node.name, reason) not in report.refused:
                        report.refused.append((rule.name, node.name, reason))
        if not fired:
            return changed
        changed = True
    return changed
