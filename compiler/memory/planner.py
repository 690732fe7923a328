"""The memory plan: schedule -> live ranges -> regions -> offsets.

``plan_memory(graph, target)`` is a pure analysis: the result maps values to
(region, offset) and never touches the IR.

Region policy. Weights go to the target's weight regions in order (flash
first, then e.g. SDRAM, copied there at init), largest first into the first
region with room. Activations and scratch go to the target's activation
regions, fastest first. When a region cannot hold all remaining buffers, the
planner spills buffers to the next region one at a time, choosing the buffer
whose spill moves the fewest accessed bytes per byte of overflow it removes:
``traffic / min(size, overflow)`` with ``traffic = size * (reads + writes)``
(scratch counts 8 accesses). So the most-accessed bytes stay fast, and a small
overflow spills a small buffer rather than a large one. Spilled buffers that
fit again afterwards are pulled back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tinyc.errors import MemoryPlanError
from tinyc.ir.core import Graph, Node, Value
from tinyc.memory.allocators import Allocator, ConflictGreedy, arena_size, check_allocation, get_allocator
from tinyc.memory.liveness import (
    Buffer,
    BufferKind,
    MemoryModel,
    align_up,
    buffers_from_model,
    build_model,
    lower_bound,
)
from tinyc.memory.schedule import schedule_model
from tinyc.targets import Content, MemoryRegion, Target

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanOptions:
    """Knobs of ``plan_memory``; the defaults are what ``tinyc compile`` uses."""

    allocator: str = "auto"  # see tinyc.memory.allocators.ALLOCATORS
    reorder: bool = True  # search the operator order with the smallest peak
    io_in_arena: bool = True  # graph inputs/outputs live in the arena (as in TFLM); False: the caller's buffers
    aliases: bool = True  # Reshape/Flatten/... share their input's buffer
    inplace: bool = True  # element-wise ops may overwrite an input that dies there
    placement: Mapping[str, str] = field(default_factory=dict)  # value name -> region name
    weights_region: str | None = None  # put every weight there (e.g. "SDRAM")
    activation_regions: tuple[str, ...] | None = None  # instead of the target's list
    size_of: Callable[[Value], int] | None = None  # bytes of a value (default: its type's nbytes)
    check: bool = True  # validate the finished plan


@dataclass(frozen=True)
class Placement:
    """Where a value lives: a region, and an offset inside tinyc's arena (or weight block) there."""

    region: str
    offset: int


@dataclass(frozen=True)
class WeightPlacement:
    value: Value
    region: str
    offset: int  # inside the region's weight block
    size: int


@dataclass
class RegionPlan:
    """What one region holds: a weight block of ``weights_bytes``, then an arena of ``arena_bytes``."""

    region: MemoryRegion
    weights_bytes: int = 0
    arena_bytes: int = 0
    buffers: list[Buffer] = field(default_factory=list)
    lower_bound: int = 0  # of the buffers placed here

    @property
    def name(self) -> str:
        return self.region.name

    @property
    def capacity(self) -> int:
        return self.region.capacity

    @property
    def used(self) -> int:
        return self.weights_bytes + self.arena_bytes

    @property
    def arena_offset(self) -> int:
        """Where the arena starts, after the weight block."""
        return self.weights_bytes


@dataclass
class MemoryPlan:
    """Schedule, buffers, per-region placement, figures. Keyed by Value and buffer id."""

    target: Target
    order: list[Node]
    buffers: list[Buffer]
    offsets: dict[int, Placement]
    regions: dict[str, RegionPlan]
    weights: dict[Value, WeightPlacement]
    lower_bound: int
    peak_step: int
    lower_bound_with_io: int
    lower_bound_without_io: int
    original_lower_bound: int
    options: PlanOptions
    schedule_method: str
    planning_ms: float = 0.0
    const_alias: dict[Value, Value] = field(default_factory=dict)
    by_value: dict[Value, Buffer] = field(default_factory=dict)

    @property
    def activation_bytes(self) -> int:
        """Bytes of all arenas together (the figure to compare with ``lower_bound``)."""
        return sum(r.arena_bytes for r in self.regions.values())

    @property
    def weight_bytes(self) -> int:
        return sum(w.size for w in self.weights.values())

    @property
    def ratio(self) -> float:
        return self.activation_bytes / self.lower_bound if self.lower_bound else 1.0

    @property
    def peak_node(self) -> Node | None:
        return self.order[self.peak_step] if 0 <= self.peak_step < len(self.order) else None

    def buffer_of(self, value: Value) -> Buffer | None:
        return self.by_value.get(value)

    def placement_of(self, value: Value) -> Placement | None:
        """Region and offset of an activation (in the arena) or a weight (in the weight block); None for the caller's buffers."""
        value = self.const_alias.get(value, value)
        if value in self.weights:
            w = self.weights[value]
            return Placement(w.region, w.offset)
        b = self.by_value.get(value)
        return None if b is None else self.offsets.get(b.id)

    def same_buffer(self, a: Value, b: Value) -> bool:
        ba, bb = self.by_value.get(a), self.by_value.get(b)
        return ba is not None and ba is bb

    def to_json(self) -> dict[str, Any]:
        from tinyc.memory.report import plan_to_json

        return plan_to_json(self)

    def text(self, max_buffers: int | None = 40) -> str:
        from tinyc.memory.report import format_plan

        return format_plan(self, max_buffers=max_buffers)


def plan_memory(
    graph: Graph,
    target: Target,
    *,
    order: Sequence[Node] | None = None,
    options: PlanOptions | None = None,
    scratch: Mapping[Node, int] | None = None,
) -> MemoryPlan:
    """Plan every buffer of ``graph`` into ``target``'s memories.

    ``order``: the operator order (default: searched to minimise the peak,
    never worse than the graph's order). ``scratch``: kernel scratch bytes per
    node, from the backend. Raises MemoryPlanError when the model does not fit.
    """
    t0 = time.perf_counter()
    opts = options or PlanOptions()
    kw = dict(aliases=opts.aliases, inplace=opts.inplace, scratch=scratch, size_of=opts.size_of)
    model = build_model(graph, io_in_arena=opts.io_in_arena, **kw)  # type: ignore[arg-type]
    original = list(graph.nodes)
    chosen: list[Node]
    if order is not None:
        chosen, method = list(order), "given"
    elif opts.reorder:
        res = schedule_model(model)
        chosen, method = res.order, res.method
    else:
        chosen, method = original, "original"
    order = chosen
    buffers = buffers_from_model(model, order)
    arena = [b for b in buffers if not b.external]
    bound, peak_step = lower_bound(arena)
    alt_model = build_model(graph, io_in_arena=not opts.io_in_arena, **kw)  # type: ignore[arg-type]
    alt_bound = lower_bound([b for b in buffers_from_model(alt_model, order) if not b.external])[0]
    orig_bound = bound if order == original else lower_bound([b for b in buffers_from_model(model, original) if not b.external])[0]

    forced = _resolve_overrides(graph, model, buffers, target, opts)
    regions = {r.name: RegionPlan(r) for r in target.regions}
    weights = _place_weights(graph, target, opts, regions, forced)
    offsets = _place_activations(arena, target, opts, regions, forced, order, peak_step)

    by_value = {v: b for b in buffers for v in b.values}
    plan = MemoryPlan(
        target=target,
        order=chosen,
        buffers=buffers,
        offsets=offsets,
        regions=regions,
        weights=weights,
        lower_bound=bound,
        peak_step=peak_step,
        lower_bound_with_io=bound if opts.io_in_arena else alt_bound,
        lower_bound_without_io=alt_bound if opts.io_in_arena else bound,
        original_lower_bound=orig_bound,
        options=opts,
        schedule_method=method,
        const_alias=dict(model.const_alias),
        by_value=by_value,
    )
    plan.planning_ms = (time.perf_counter() - t0) * 1000
    if opts.check:
        validate_plan(plan)
    log.info("memory plan for %s: %s B of activations (bound %s B), %s B of weights, %.1f ms", target.name, plan.activation_bytes, bound, plan.weight_bytes, plan.planning_ms)
    return plan


# -- overrides --------------------------------------------------------------------


def _resolve_overrides(graph: Graph, model: MemoryModel, buffers: list[Buffer], target: Target, opts: PlanOptions) -> dict[Any, str]:
    """Value-name overrides -> {buffer id or constant Value: region name}."""
    forced: dict[Any, str] = {}
    if not opts.placement:
        return forced
    by_name = {v.name: v for v in graph.values()}
    buf_of = {v: b for b in buffers for v in b.values}
    for name, region_name in opts.placement.items():
        v = by_name.get(name)
        if v is None:
            import difflib

            close = difflib.get_close_matches(name, list(by_name), n=3)
            raise MemoryPlanError(f"placement names value {name!r}, which the graph does not have", hint=f"did you mean {', '.join(close)}?" if close else "see `tinyc ir MODEL` for value names")
        region = target.region(region_name)
        v = model.const_alias.get(v, v)
        if v.is_const:
            if not region.can_hold(Content.WEIGHTS):
                raise MemoryPlanError(f"weight {name!r} cannot go to {region_name}: that region does not hold weights")
            forced[v] = region_name
            continue
        b = buf_of[v]
        if b.external:
            raise MemoryPlanError(f"{name!r} is a graph input/output kept outside the arena; it cannot be placed", hint="plan with io_in_arena=True to place it")
        if not region.writable or not region.can_hold(Content.ACTIVATIONS):
            raise MemoryPlanError(f"activation {name!r} cannot go to {region_name}: that region does not hold activations")
        if forced.get(b.id, region_name) != region_name:
            raise MemoryPlanError(f"{name!r} shares its buffer with values placed in {forced[b.id]}; they cannot also go to {region_name}")
        forced[b.id] = region_name
    return forced


# -- weights ----------------------------------------------------------------------


def _place_weights(graph: Graph, target: Target, opts: PlanOptions, regions: dict[str, RegionPlan], forced: Mapping[Any, str]) -> dict[Value, WeightPlacement]:
    consts = [c for c in graph.constants if c.uses or c in graph.outputs]
    names = [opts.weights_region] if opts.weights_region else list(target.weights)
    for n in names:
        if not target.region(n).can_hold(Content.WEIGHTS):
            raise MemoryPlanError(f"region {n} of {target.name} does not hold weights", hint=f"weight regions: {', '.join(target.weights)}")
    out: dict[Value, WeightPlacement] = {}
    size_fn = opts.size_of or (lambda v: v.type.nbytes)

    def put(c: Value, rp: RegionPlan) -> bool:
        size = size_fn(c)
        start = align_up(rp.weights_bytes, rp.region.align)
        if start + size > rp.capacity:
            return False
        out[c] = WeightPlacement(c, rp.name, start, size)
        rp.weights_bytes = align_up(start + size, rp.region.align)
        return True

    pending = sorted(consts, key=lambda c: (-size_fn(c), c.name))
    for c in [c for c in pending if c in forced]:
        rp = regions[forced[c]]
        if not put(c, rp):
            raise MemoryPlanError(f"weight {c.name!r} ({size_fn(c):,} B) does not fit in {rp.name} (capacity {rp.capacity:,} B, {rp.weights_bytes:,} B already used)")
    left = [c for c in pending if c not in forced]
    failed = [c for c in left if not any(put(c, regions[n]) for n in names)]
    if failed:
        need = sum(size_fn(c) for c in consts)
        have = sum(regions[n].capacity for n in names)
        big = ", ".join(f"{c.name} ({size_fn(c):,} B)" for c in failed[:5])
        raise MemoryPlanError(
            f"weights need {need:,} B but {' + '.join(names)} of {target.name} hold {have:,} B; {len(failed)} weight(s) left over: {big}",
            hint="quantize the model to int8 (4x smaller weights), put weights in external memory (weights_region='SDRAM' / --weights-region), or choose a target with more flash",
        )
    return out


# -- activations --------------------------------------------------------------------


def _traffic(b: Buffer) -> int:
    accesses = 8 if b.kind is BufferKind.SCRATCH else b.reads + b.writes
    return b.size * max(accesses, 1)


def _spill_cost(b: Buffer, asize: int, overflow: int) -> tuple[float, int, int]:
    return (_traffic(b) / max(1, min(asize, overflow)), -b.size, b.id)


def _place_activations(
    arena: list[Buffer],
    target: Target,
    opts: PlanOptions,
    regions: dict[str, RegionPlan],
    forced: Mapping[Any, str],
    order: Sequence[Node],
    peak_step: int,
) -> dict[int, Placement]:
    names = list(opts.activation_regions) if opts.activation_regions is not None else list(target.activations)
    for n in names:
        r = target.region(n)
        if not r.writable or not r.can_hold(Content.ACTIVATIONS):
            raise MemoryPlanError(f"region {n} of {target.name} does not hold activations")
    for bid, rname in forced.items():
        if isinstance(bid, int) and rname not in names:
            names.append(rname)
    allocator = get_allocator(opts.allocator)
    offsets: dict[int, Placement] = {}
    remaining = [b for b in arena if b.id not in forced]
    for idx, name in enumerate(names):
        rp = regions[name]
        cap = rp.capacity - rp.weights_bytes
        al = rp.region.align
        pinned = [b for b in arena if forced.get(b.id) == name]

        def fits_kind(b: Buffer, r: MemoryRegion = rp.region) -> bool:
            return r.can_hold(Content.SCRATCH if b.kind is BufferKind.SCRATCH else Content.ACTIVATIONS)

        cands = [b for b in remaining if fits_kind(b) and align_up(b.size, al) <= cap]
        cand_ids = {b.id for b in cands}
        skipped = [b for b in remaining if b.id not in cand_ids]
        keep, spilled, offs = _fit_region(pinned, cands, cap, al, allocator)
        if any(b.id in forced for b in spilled):
            raise _no_fit_error(arena, target, names, regions, order, peak_step, pinned_region=name)
        rp.buffers = keep
        rp.arena_bytes = arena_size(keep, offs, al)
        rp.lower_bound = lower_bound(keep)[0]
        for b in keep:
            offsets[b.id] = Placement(name, offs[b.id])
        remaining = sorted(spilled + skipped, key=lambda b: b.id)
        if idx + 1 < len(names) and spilled:
            log.info("%d buffer(s) (%d B) spill from %s to the next region", len(spilled), sum(b.size for b in spilled), name)
    if remaining:
        raise _no_fit_error(arena, target, names, regions, order, peak_step)
    return offsets


def _fit_region(
    pinned: list[Buffer], cands: list[Buffer], cap: int, al: int, allocator: Allocator
) -> tuple[list[Buffer], list[Buffer], dict[int, int]]:
    """Choose which buffers stay in a region of ``cap`` bytes; returns (kept, spilled, offsets of the kept)."""
    pinned_ids = {b.id for b in pinned}
    kept = pinned + [b for b in cands if b.id not in pinned_ids]
    spilled: list[Buffer] = []
    if not kept:
        return kept, spilled, {}
    asize = {b.id: align_up(b.size, al) for b in kept}
    steps = max(b.last for b in kept) + 1
    load = [0] * steps
    for b in kept:
        for t in range(b.first, b.last + 1):
            load[t] += asize[b.id]

    def remove(b: Buffer) -> None:
        kept.remove(b)
        spilled.append(b)
        for t in range(b.first, b.last + 1):
            load[t] -= asize[b.id]

    def give_up() -> tuple[list[Buffer], list[Buffer], dict[int, int]]:
        return kept, spilled + [b for b in pinned if b in kept], {}

    # 1. until the live load fits at every step
    while True:
        t = max(range(steps), key=load.__getitem__)
        over = load[t] - cap
        if over <= 0:
            break
        live = [b for b in kept if b.first <= t <= b.last and b.id not in pinned_ids]
        if not live:
            return give_up()
        remove(min(live, key=lambda b: _spill_cost(b, asize[b.id], over)))

    # 2. until an allocation fits: the configured allocator first, a quick one while spilling more
    fast = ConflictGreedy(iterations=8, work_budget=50_000)
    offs = allocator.allocate(kept, al)
    h = arena_size(kept, offs, al)
    changed = False
    while h > cap:
        over = h - cap
        top = [b for b in kept if offs[b.id] + b.size > cap and b.id not in pinned_ids]
        if not top:
            return give_up()
        remove(min(top, key=lambda b: _spill_cost(b, asize[b.id], over)))
        offs = fast.allocate(kept, al)
        h = arena_size(kept, offs, al)
        changed = True

    # 3. pull back what fits again, most accessed bytes first
    for b in sorted(spilled, key=lambda b: -_traffic(b) / max(b.size, 1))[:16]:
        if any(load[t] + asize[b.id] > cap for t in range(b.first, b.last + 1)):
            continue
        trial = kept + [b]
        t_offs = fast.allocate(trial, al)
        if arena_size(trial, t_offs, al) <= cap:
            kept.append(b)
            spilled.remove(b)
            offs = t_offs
            changed = True
            for t in range(b.first, b.last + 1):
                load[t] += asize[b.id]
    if changed:  # the final set deserves the configured allocator too
        better = allocator.allocate(kept, al)
        if arena_size(kept, better, al) <= min(cap, arena_size(kept, offs, al)):
            offs = better
    return kept, spilled, offs


def _no_fit_error(
    arena: list[Buffer],
    target: Target,
    names: list[str],
    regions: dict[str, RegionPlan],
    order: Sequence[Node],
    peak_step: int,
    pinned_region: str | None = None,
) -> MemoryPlanError:
    from tinyc.memory.report import no_fit_message

    what, details, hint = no_fit_message(arena, target, names, regions, order, peak_step, pinned_region)
    return MemoryPlanError(what + "\n" + details, hint=hint)


# -- validation ------------------------------------------------------------------------


def validate_plan(plan: MemoryPlan) -> None:
    """Raise PlanInvalidError unless the plan is sound.

    Per region: offsets aligned, inside the capacity left after the weight
    block, and no two buffers live at a common step overlap. Every arena
    buffer is placed once, in a region that may hold it. Every node's inputs
    and outputs are live at the node's step, and an output shares a buffer
    with an input only through an alias or an in-place op.
    """
    from tinyc.memory.allocators import PlanInvalidError
    from tinyc.memory.liveness import ALIAS_OPS, INPLACE_RULES

    placed: set[int] = set()
    for rp in plan.regions.values():
        cap = rp.capacity - rp.weights_bytes
        offs = {b.id: plan.offsets[b.id].offset for b in rp.buffers}
        check_allocation(rp.buffers, offs, alignment=rp.region.align, capacity=cap)
        if rp.buffers and arena_size(rp.buffers, offs, rp.region.align) != rp.arena_bytes:
            raise PlanInvalidError(f"region {rp.name}: arena_bytes {rp.arena_bytes} does not match its buffers")
        if rp.used > rp.capacity:
            raise PlanInvalidError(f"region {rp.name}: {rp.used} B used of {rp.capacity} B")
        for b in rp.buffers:
            if b.id in placed:
                raise PlanInvalidError(f"buffer {b.id} placed twice")
            placed.add(b.id)
            if plan.offsets[b.id].region != rp.name:
                raise PlanInvalidError(f"buffer {b.id} listed in {rp.name} but placed in {plan.offsets[b.id].region}")
            content = Content.SCRATCH if b.kind is BufferKind.SCRATCH else Content.ACTIVATIONS
            if not rp.region.can_hold(content):
                raise PlanInvalidError(f"buffer {b.id} ({content.value}) in region {rp.name}, which does not hold it")
    for b in plan.buffers:
        if not b.external and b.id not in placed:
            raise PlanInvalidError(f"buffer {b.id} ({b.name}) has no region")
    by_region: dict[str, list[WeightPlacement]] = {}
    for w in plan.weights.values():
        by_region.setdefault(w.region, []).append(w)
    for rname, ws in by_region.items():
        ws.sort(key=lambda w: w.offset)
        for a, b in zip(ws, ws[1:]):
            if a.offset + a.size > b.offset:
                raise PlanInvalidError(f"weights {a.value.name} and {b.value.name} overlap in {rname}")
        if ws and ws[-1].offset + ws[-1].size > plan.regions[rname].weights_bytes:
            raise PlanInvalidError(f"weights in {rname} exceed its weight block")
    for t, node in enumerate(plan.order):
        ins = {plan.by_value[v].id for v in node.inputs if v is not None and v in plan.by_value}
        for v in [*node.inputs, *node.outputs]:
            if v is None or v.is_const or v in plan.const_alias:
                continue
            b = plan.by_value.get(v)
            if b is None:
                raise PlanInvalidError(f"value %{v.name} of node {node.name!r} has no buffer")
            if not b.first <= t <= b.last:
                raise PlanInvalidError(f"value %{v.name} is used at step {t} but its buffer lives {b.first}-{b.last}")
        for k, out in enumerate(node.outputs):
            b = plan.by_value.get(out)
            if b is not None and b.id in ins and not (k == 0 and (node.op.name in ALIAS_OPS or node.op.name in INPLACE_RULES)):
                raise PlanInvalidError(f"output %{out.name} of {node.name!r} ({node.op.name}) shares a buffer with one of its inputs")


__all__ = [
    "MemoryPlan",
    "Placement",
    "PlanOptions",
    "RegionPlan",
    "WeightPlacement",
    "plan_memory",
    "validate_plan",
]
