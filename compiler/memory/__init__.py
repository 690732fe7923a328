"""Memory planning: operator order, live ranges, offsets, regions.

A pure analysis keyed by Value and Node: ``schedule`` finds an order with a
small peak, ``live_ranges`` turns an order into buffers, an ``Allocator`` gives
offsets, and ``plan_memory`` does all of it for a target's regions.
"""

from __future__ import annotations

from tinyc.memory.allocators import (
    ALLOCATORS,
    Allocator,
    AutoAllocator,
    ConflictGreedy,
    ExactAllocator,
    GreedyBySize,
    PlanInvalidError,
    arena_size,
    check_allocation,
    get_allocator,
)
from tinyc.memory.liveness import (
    ALIAS_OPS,
    INPLACE_RULES,
    Buffer,
    BufferKind,
    live_load,
    live_ranges,
    lower_bound,
    synthetic,
)
from tinyc.memory.planner import (
    MemoryPlan,
    Placement,
    PlanOptions,
    RegionPlan,
    WeightPlacement,
    plan_memory,
    validate_plan,
)
from tinyc.memory.schedule import ScheduleResult, order_peak, schedule, schedule_graph

__all__ = [
    "ALIAS_OPS",
    "ALLOCATORS",
    "Allocator",
    "AutoAllocator",
    "Buffer",
    "BufferKind",
    "ConflictGreedy",
    "ExactAllocator",
    "GreedyBySize",
    "INPLACE_RULES",
    "MemoryPlan",
    "Placement",
    "PlanInvalidError",
    "PlanOptions",
    "RegionPlan",
    "ScheduleResult",
    "WeightPlacement",
    "arena_size",
    "check_allocation",
    "get_allocator",
    "live_load",
    "live_ranges",
    "lower_bound",
    "order_peak",
    "plan_memory",
    "schedule",
    "schedule_graph",
    "synthetic",
    "validate_plan",
]
