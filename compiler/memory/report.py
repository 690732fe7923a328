"""Reports of a memory plan: JSON for tools (schema in docs/memory.md), text for people, the no-fit error."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tinyc.memory.liveness import Buffer, BufferKind, lower_bound

if TYPE_CHECKING:
    from tinyc.ir.core import Node
    from tinyc.memory.planner import MemoryPlan, RegionPlan
    from tinyc.targets import Target

SCHEMA = "tinyc.memory-plan/1"


def plan_to_json(plan: MemoryPlan) -> dict[str, Any]:
    """The plan as plain JSON data (see docs/memory.md)."""
    peak = plan.peak_node
    regions = []
    for rp in plan.regions.values():
        r = rp.region
        regions.append(
            {
                "name": r.name,
                "kind": r.kind.value,
                "base": r.base,
                "size": r.size,
                "capacity": r.capacity,
                "section": r.section,
                "align": r.align,
                "speed": r.speed,
                "used": rp.used,
                "weights_bytes": rp.weights_bytes,
                "arena_bytes": rp.arena_bytes,
                "arena_offset": rp.arena_offset,
                "lower_bound": rp.lower_bound,
                "buffers": len(rp.buffers),
            }
        )
    buffers = []
    for b in plan.buffers:
        p = plan.offsets.get(b.id)
        buffers.append(
            {
                "id": b.id,
                "name": b.name,
                "kind": b.kind.value,
                "size": b.size,
                "first": b.first,
                "last": b.last,
                "region": p.region if p else None,
                "offset": p.offset if p else None,
                "external": b.external,
                "node": b.node.name if b.node is not None else None,
                "values": [v.name for v in b.values],
            }
        )
    weights = [
        {"value": w.value.name, "size": w.size, "region": w.region, "offset": w.offset}
        for w in sorted(plan.weights.values(), key=lambda w: (w.region, w.offset))
    ]
    return {
        "schema": SCHEMA,
        "target": plan.target.name,
        "order": [n.name for n in plan.order],
        "schedule": plan.schedule_method,
        "allocator": plan.options.allocator,
        "planning_ms": round(plan.planning_ms, 3),
        "activations": {
            "peak_bytes": plan.activation_bytes,
            "lower_bound": plan.lower_bound,
            "ratio": round(plan.ratio, 4),
            "peak_step": plan.peak_step,
            "peak_node": peak.name if peak is not None else None,
            "io_in_arena": plan.options.io_in_arena,
            "lower_bound_with_io": plan.lower_bound_with_io,
            "lower_bound_without_io": plan.lower_bound_without_io,
            "original_order_lower_bound": plan.original_lower_bound,
        },
        "weights": {"bytes": plan.weight_bytes, "count": len(plan.weights), "placements": weights},
        "regions": regions,
        "buffers": buffers,
    }


def _table(rows: list[list[str]], header: list[str], align: str) -> str:
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(cells, widths, align)).rstrip()

    return "\n".join([fmt(header), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)])


def spill_lines(plan: MemoryPlan) -> list[str]:
    """Say which activation buffers went to slower regions than the fastest one used."""
    used = [rp for rp in plan.regions.values() if rp.buffers]
    if len(used) < 2:
        return []
    used.sort(key=lambda rp: rp.region.speed)
    fastest = used[0]
    parts = [f"{rp.name} {sum(b.size for b in rp.buffers):,} B ({len(rp.buffers)} buffer{'s' if len(rp.buffers) != 1 else ''})" for rp in used[1:]]
    return [
        f"activations spill beyond {fastest.name} into slower memory: {', '.join(parts)}",
        "  (the most-read bytes stay fast; quantize, or pin buffers with --place VALUE=REGION)",
    ]


def format_plan(plan: MemoryPlan, *, max_buffers: int | None = 40) -> str:
    """Summary, a region table and a buffer table (largest first, at most ``max_buffers``)."""
    peak = plan.peak_node
    lines = [
        f"memory plan for {plan.target.name} (order: {plan.schedule_method}, allocator: {plan.options.allocator}, {plan.planning_ms:.1f} ms)",
        f"activations: {plan.activation_bytes:,} B planned, lower bound {plan.lower_bound:,} B (ratio {plan.ratio:.3f})"
        + (f", peak at step {plan.peak_step} ({peak.name}, {peak.op.name})" if peak is not None else ""),
        f"  lower bound with graph inputs/outputs in the arena {plan.lower_bound_with_io:,} B, without {plan.lower_bound_without_io:,} B"
        + (" (this plan keeps them in the arena)" if plan.options.io_in_arena else " (this plan keeps them outside)"),
    ]
    if plan.original_lower_bound != plan.lower_bound:
        lines.append(f"  the graph's own order would need at least {plan.original_lower_bound:,} B")
    lines.append(f"weights: {plan.weight_bytes:,} B in {len(plan.weights)} tensors")
    lines.extend(spill_lines(plan))
    rows = []
    for rp in plan.regions.values():
        if not rp.used and not rp.buffers:
            continue
        rows.append(
            [rp.name, f"{rp.capacity:,}", f"{rp.weights_bytes:,}", f"{rp.arena_bytes:,}", f"{rp.lower_bound:,}", f"{rp.used:,}", f"{100 * rp.used / rp.capacity:.1f}%", rp.region.section]
        )
    if rows:
        lines += ["", _table(rows, ["region", "capacity", "weights", "arena", "arena bound", "used", "use", "section"], "lrrrrrrl")]
    placed = [b for b in plan.buffers if b.id in plan.offsets or b.external]
    shown = sorted(placed, key=lambda b: (-b.size, b.id))
    if max_buffers is not None:
        shown = shown[:max_buffers]
    if shown:
        rows = []
        for b in sorted(shown, key=lambda b: b.id):
            p = plan.offsets.get(b.id)
            where = "caller's buffer" if p is None else p.region
            rows.append([str(b.id), b.name[:32], b.kind.value, f"{b.size:,}", where, "-" if p is None else f"{p.offset:,}", f"{b.first}-{b.last}"])
        title = f"buffers ({len(shown)} largest of {len(placed)})" if len(shown) < len(placed) else "buffers"
        lines += ["", title, _table(rows, ["id", "value", "kind", "bytes", "region", "offset", "steps"], "rllrlrr")]
    return "\n".join(lines)


def no_fit_message(
    arena: Sequence[Buffer],
    target: Target,
    names: Sequence[str],
    regions: dict[str, RegionPlan],
    order: Sequence[Node],
    peak_step: int,
    pinned_region: str | None = None,
) -> tuple[str, str, str]:
    """(what, details, hint) of the error when activations do not fit."""
    need, _ = lower_bound(list(arena))
    avail = {n: regions[n].capacity - regions[n].weights_bytes for n in names}
    total = sum(avail.values())
    biggest_region = max(avail.values(), default=0)
    too_big = [b for b in arena if b.size > biggest_region]
    if pinned_region:
        what = f"the buffers placed in {pinned_region} by request do not fit there ({avail.get(pinned_region, 0):,} B available)"
    elif need > total:
        what = f"activations need {need:,} B at their peak but the target's RAM regions hold {total:,} B ({target.name}: {', '.join(names) or 'none'})"
    elif too_big:
        what = f"{len(too_big)} buffer(s) are larger than any RAM region of {target.name} (largest region: {biggest_region:,} B free)"
    else:
        what = f"activations need {need:,} B at their peak and {target.name} has {total:,} B, but the buffers cannot be packed into its separate regions"
    rows = []
    for n in names:
        rp = regions[n]
        rows.append([n, f"{rp.capacity:,}", f"{rp.weights_bytes:,}", f"{avail[n]:,}", f"{rp.arena_bytes:,}"])
    lines = ["per region (bytes):", _table(rows, ["region", "capacity", "weights", "free for activations", "planned"], "lrrrr")]
    lines.append(f"needed at the peak: {need:,} B; available in all: {total:,} B")
    if order and 0 <= peak_step < len(order):
        node = order[peak_step]
        live = sum(b.size for b in arena if b.first <= peak_step <= b.last)
        lines.append(f"peak at step {peak_step}: node {node.name!r} ({node.op.name}) with {live:,} B live")
    lines.append("largest buffers:")
    for b in sorted(arena, key=lambda b: (-b.size, b.id))[:5]:
        by = f"{b.node.name} ({b.node.op.name})" if b.node is not None else "graph input"
        shape = f" {b.values[0].type}" if b.values else ""
        lines.append(f"  {b.name}{shape}: {b.size:,} B, from {by}, live steps {b.first}-{b.last}")
    tips = []
    if any(b.values and b.values[0].type.dtype.is_float and b.values[0].type.dtype.itemsize >= 4 for b in arena):
        tips.append("quantize to int8 (float32 activations take 4x the bytes)")
    tips.append("choose a target with more RAM or external SDRAM (`tinyc targets`; stm32h7 has 32 MiB SDRAM)")
    if any(b.kind in (BufferKind.INPUT, BufferKind.OUTPUT) for b in arena):
        tips.append("keep graph inputs/outputs in your own buffers (io_in_arena=False)")
    tips.append("lower the input resolution or the widest layer's channels")
    return what, "\n".join(lines), "; ".join(tips)
