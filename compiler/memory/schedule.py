"""Operator order that minimises peak activation memory.

The search runs over "executed sets" (downsets of the DAG): the memory live
after a set of nodes ran does not depend on the order they ran in, so a
dynamic program over sets, level by level, finds the order with the smallest
peak exactly as long as each level's sets fit in ``max_states``. Larger
graphs keep the ``beam_width`` best sets per level (smallest peak so far, then
smallest live memory): a beam search that scales linearly. The result is
never worse than the graph's own order: both are measured with the same live
ranges the planner uses and the better one wins (ties keep the original).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tinyc.ir.core import Graph, Node, Value
from tinyc.memory.liveness import MemoryModel, buffers_from_model, build_model, lower_bound

log = logging.getLogger(__name__)

MAX_STATES = 20_000  # sets per level below which the search is exact
EXACT_NODES = 64  # graphs up to this many nodes try an exact search first
EXACT_BUDGET = 100_000  # expansions an exact search may spend before it gives up
EXPANSION_BUDGET = 80_000  # expansions a beam search aims to spend in all
BEAM_WIDTH = 64  # widest beam


@dataclass(frozen=True)
class ScheduleResult:
    order: list[Node]
    peak: int  # lower bound of the chosen order
    original_peak: int  # lower bound of the graph's own order
    exact: bool  # the search was exhaustive (the order is optimal for this cost model)
    method: str


def schedule(
    graph: Graph,
    *,
    aliases: bool = True,
    inplace: bool = True,
    io_in_arena: bool = True,
    scratch: Mapping[Node, int] | None = None,
    size_of: Callable[[Value], int] | None = None,
    max_states: int = MAX_STATES,
    beam_width: int | None = None,
) -> list[Node]:
    """The node order with the smallest peak of live activation bytes."""
    return schedule_graph(
        graph, aliases=aliases, inplace=inplace, io_in_arena=io_in_arena, scratch=scratch, size_of=size_of, max_states=max_states, beam_width=beam_width
    ).order


def schedule_graph(
    graph: Graph,
    *,
    aliases: bool = True,
    inplace: bool = True,
    io_in_arena: bool = True,
    scratch: Mapping[Node, int] | None = None,
    size_of: Callable[[Value], int] | None = None,
    max_states: int = MAX_STATES,
    beam_width: int | None = None,
) -> ScheduleResult:
    """Like ``schedule``, with the peaks and how the order was found."""
    model = build_model(graph, aliases=aliases, inplace=inplace, io_in_arena=io_in_arena, scratch=scratch, size_of=size_of)
    return schedule_model(model, max_states=max_states, beam_width=beam_width)


def schedule_model(model: MemoryModel, *, max_states: int = MAX_STATES, beam_width: int | None = None) -> ScheduleResult:
    original = list(model.nodes)
    orig_peak = _peak(model, original)
    if len(original) <= 1:
        return ScheduleResult(original, orig_peak, orig_peak, True, "trivial")
    if beam_width is None:
        beam_width = BEAM_WIDTH
    order_idx: list[int] | None = None
    est_peak, exact = 0, False
    if len(original) <= EXACT_NODES:
        order_idx, est_peak, exact = _search(model, max_states=max_states, beam_width=None)
    if order_idx is None:
        order_idx, est_peak, exact = _search(model, max_states=max_states, beam_width=beam_width)
    assert order_idx is not None  # a beam search always finishes
    found = [model.nodes[i] for i in order_idx]
    peak = _peak(model, found)
    if peak != est_peak:  # the search's cost model and the live ranges must agree
        log.warning("schedule: search estimated %d B but live ranges give %d B", est_peak, peak)
    method = "exact" if exact else "beam"
    if peak < orig_peak:
        log.debug("schedule (%s): peak %d B, original order %d B", method, peak, orig_peak)
        return ScheduleResult(found, peak, orig_peak, exact, method)
    return ScheduleResult(original, orig_peak, orig_peak, exact and peak == orig_peak, "original")


def order_peak(graph: Graph, order: Sequence[Node], **kwargs: object) -> int:
    """Lower bound (largest live sum) of ``graph`` run in ``order``."""
    model = build_model(graph, **kwargs)  # type: ignore[arg-type]
    return _peak(model, order)


def _peak(model: MemoryModel, order: Sequence[Node]) -> int:
    bufs = [b for b in buffers_from_model(model, order) if not b.external]
    return lower_bound(bufs)[0]


def _search(model: MemoryModel, *, max_states: int, beam_width: int | None) -> tuple[list[int] | None, int, bool]:
    """Level-by-level search over executed sets; returns (order, peak, exact).

    With ``beam_width`` None the search is exact or gives up (order None) past
    ``max_states`` sets in a level or EXACT_BUDGET expansions; otherwise each
    level keeps at most ``beam_width`` sets, fewer when the expansion budget
    runs short.
    """
    n = len(model.nodes)
    ngroups = len(model.group_values)
    size = [model.arena_size(g) for g in range(ngroups)]
    cons_mask = [0] * ngroups
    for g in range(ngroups):
        for c in model.group_consumers[g]:
            cons_mask[g] |= 1 << c
    pred_mask = [0] * n
    for i in range(n):
        for p in model.preds[i]:
            pred_mask[i] |= 1 << p
    out_alloc = [sum(size[g] for g in model.node_out[i]) for i in range(n)]
    dead_out = [sum(size[g] for g in model.node_out[i] if cons_mask[g] == 0 and not model.group_output[g]) for i in range(n)]
    freeable = [[g for g in model.node_in[i] if not model.group_output[g] and size[g]] for i in range(n)]
    inplace = [[(size[og], ig) for og, ig in model.node_inplace[i]] for i in range(n)]
    inputs_mem = sum(size[g] for g in range(ngroups) if model.group_producer[g] < 0)
    unread_inputs = sum(size[g] for g in range(ngroups) if model.group_producer[g] < 0 and cons_mask[g] == 0 and not model.group_output[g])
    scratch = model.scratch

    # state: executed mask -> (peak so far, live bytes now, ready nodes)
    frontier: dict[int, tuple[int, int, tuple[int, ...]]] = {0: (0, inputs_mem, tuple(i for i in range(n) if pred_mask[i] == 0))}
    back: list[dict[int, tuple[int, int]]] = []  # per level: mask -> (parent mask, node)
    exact = True
    work = 0
    expanded = 0
    for level in range(n):
        cand: dict[int, tuple[int, int, int, int]] = {}
        expanded += len(frontier)
        for mask, (peak, mem, ready) in frontier.items():
            work += len(ready)
            for node in ready:
                mask2 = mask | (1 << node)
                freed = 0
                dying = []
                for g in freeable[node]:
                    if cons_mask[g] & ~mask2 == 0:
                        freed += size[g]
                        dying.append(g)
                saving = 0
                if dying:
                    for osize, ig in inplace[node]:
                        if ig in dying:
                            saving = osize
                            break
                during = mem + out_alloc[node] - saving + scratch[node]
                after = mem + out_alloc[node] - freed - dead_out[node]
                if mask == 0:
                    after -= unread_inputs
                peak2 = peak if peak >= during else during
                old = cand.get(mask2)
                if old is None or (peak2, after) < (old[0], old[1]):
                    cand[mask2] = (peak2, after, mask, node)
        if beam_width is None:
            if len(cand) > max_states or work > EXACT_BUDGET:
                log.debug("schedule: exact search gave up at level %d (%d sets, %d expansions)", level, len(cand), work)
                return None, 0, False
            width = len(cand)
        else:
            # spread what is left of the budget over the remaining levels
            per_state = max(1.0, work / expanded)
            left = max(0, EXPANSION_BUDGET - work)
            width = int(max(2, min(beam_width, left / (max(1, n - level - 1) * per_state))))
        if len(cand) > width:
            exact = False
            kept = sorted(cand.items(), key=lambda kv: (kv[1][0], kv[1][1], kv[0]))[:width]
        else:
            kept = list(cand.items())
        nxt: dict[int, tuple[int, int, tuple[int, ...]]] = {}
        parents: dict[int, tuple[int, int]] = {}
        for mask2, (peak2, after, pmask, node) in kept:
            ready_list = [r for r in frontier[pmask][2] if r != node]
            for s_ in model.succs[node]:
                if pred_mask[s_] & ~mask2 == 0:
                    ready_list.append(s_)
            nxt[mask2] = (peak2, after, tuple(ready_list))
            parents[mask2] = (pmask, node)
        frontier = nxt
        back.append(parents)
    final_mask, (peak, _mem, _) = min(frontier.items(), key=lambda kv: kv[1][:2])
    order: list[int] = []
    mask = final_mask
    for level in range(n - 1, -1, -1):
        parent, node = back[level][mask]
        order.append(node)
        mask = parent
    order.reverse()
    return order, peak, exact
