"""Command-line flags for memory planning, shared by ``tinyc analyze`` and ``tinyc compile``."""

from __future__ import annotations

import argparse

from tinyc.errors import TinycError
from tinyc.memory.allocators import ALLOCATORS
from tinyc.memory.planner import PlanOptions


def add_memory_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("memory planning")
    g.add_argument("--place", action="append", default=[], metavar="VALUE=REGION", help="put a tensor (activation or weight) in a memory region; repeatable")
    g.add_argument("--weights-region", metavar="REGION", help="put every weight in this region (e.g. SDRAM, copied there at start-up)")
    g.add_argument("--io-outside-arena", action="store_true", help="graph inputs/outputs are your own buffers, not planned in the arena")
    g.add_argument("--allocator", choices=sorted(ALLOCATORS), default="auto", help="offset allocator (default auto)")
    g.add_argument("--keep-order", action="store_true", help="run operators in the model's order instead of the peak-minimising one")


def plan_options_from_args(args: argparse.Namespace) -> PlanOptions:
    placement: dict[str, str] = {}
    for item in getattr(args, "place", None) or []:
        name, sep, region = item.rpartition("=")
        if not sep or not name or not region:
            raise TinycError(f"--place {item!r}: expected VALUE=REGION", hint="for example --place conv1_out=SDRAM (`tinyc targets NAME` lists the regions)")
        placement[name] = region
    return PlanOptions(
        allocator=getattr(args, "allocator", "auto") or "auto",
        reorder=not getattr(args, "keep_order", False),
        io_in_arena=not getattr(args, "io_outside_arena", False),
        placement=placement,
        weights_region=getattr(args, "weights_region", None),
    )
