"""Clean-up passes: dead code elimination and common subexpression elimination."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Hashable

from tinyc.ir.core import Graph, Node, Value
from tinyc.passes.manager import graph_pass
from tinyc.passes.rewrite import is_output

log = logging.getLogger(__name__)


@graph_pass("dce")
def dce(graph: Graph) -> bool:
    """Remove nodes whose outputs nobody reads (and constants nobody uses)."""
    removed = 0
    for node in reversed(graph.nodes):
        if not any(o.uses or is_output(graph, o) for o in node.outputs):
            graph.remove_node(node)
            removed += 1
    if removed:
        log.debug("dce removed %d nodes", removed)
    return graph.prune_constants() or removed > 0


def _const_key(v: Value) -> Hashable:
    assert v.const is not None
    digest = hashlib.sha256(v.const.tobytes()).hexdigest()
    return (v.type, digest)


def _node_key(node: Node) -> Hashable | None:
    try:
        key = (node.op.name, node.attrs, tuple(None if v is None else id(v) for v in node.inputs))
        hash(key)
    except TypeError:  # attributes that do not hash (should not happen with frozen dataclasses)
        return None
    return key


def _merge(graph: Graph, dup: Value, keep: Value) -> None:
    graph.replace_value(dup, keep)


@graph_pass("cse")
def cse(graph: Graph) -> bool:
    """Merge identical constants, and nodes with the same op, attributes and inputs."""
    changed = False
    seen_consts: dict[Hashable, Value] = {}
    for c in graph.constants:
        if is_output(graph, c):
            continue
        key = _const_key(c)
        first = seen_consts.setdefault(key, c)
        if first is not c:
            _merge(graph, c, first)
            changed = True
    seen: dict[Hashable, Node] = {}
    for node in graph:
        key = _node_key(node)
        if key is None:
            continue
        first = seen.get(key)
        if first is None:
            seen[key] = node
            continue
        if any(is_output(graph, o) for o in node.outputs):
            continue  # merging would rename a graph output
        for dup, keep in zip(node.outputs, first.outputs, strict=True):
            _merge(graph, dup, keep)
        first.loc = first.loc.fuse(node.loc)
        graph.remove_node(node)
        changed = True
    return graph.prune_constants() or changed
