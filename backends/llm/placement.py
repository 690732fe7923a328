"""Where the decoder's buffers live: a simple rule over the target's memory regions.

Weights (and the tokenizer's tables) go tensor by tensor, largest first, to
the first of the target's weight regions with room left (flash before SDRAM
on boards that list them that way). The RAM arenas go, in order, hot
activations, the KV cache, then the sampler's buffers, each whole to the
fastest activation region with room left. A forced region (an option) is
used as given or the compile fails saying why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tinyc.errors import MemoryPlanError

KINDS = ("weights", "tokenizer", "activations", "kv_cache", "sampler")


@dataclass(frozen=True)
class Item:
    name: str
    nbytes: int
    kind: str  # one of KINDS


@dataclass
class Placement:
    """Each item's region, and bytes per region and kind."""

    region_of: dict[str, Any] = field(default_factory=dict)  # item name -> MemoryRegion
    used: dict[str, dict[str, int]] = field(default_factory=dict)  # region -> kind -> bytes
    regions: dict[str, Any] = field(default_factory=dict)  # region name -> MemoryRegion

    def add(self, item: Item, region: Any) -> None:
        self.region_of[item.name] = region
        self.regions[region.name] = region
        per = self.used.setdefault(region.name, {k: 0 for k in KINDS})
        per[item.kind] += _aligned(item.nbytes, region.align)

    def total(self, region_name: str) -> int:
        return sum(self.used.get(region_name, {}).values())

    def to_json(self) -> dict[str, Any]:
        out = {}
        for name, per in self.used.items():
            r = self.regions[name]
            out[name] = {
                **{k: v for k, v in per.items() if v},
                "total": self.total(name),
                "capacity": r.capacity,
                "section": r.section,
                "kind": r.kind.value,
            }
        return out

    def text(self) -> str:
        lines = [
            f"{'region':<10} {'weights':>11} {'tokenizer':>10} {'activations':>12} {'kv cache':>11} {'sampler':>10} {'used':>11} {'capacity':>11}"
        ]
        for name, per in self.used.items():
            r = self.regions[name]
            lines.append(
                f"{name:<10} {per['weights']:>11,} {per['tokenizer']:>10,} {per['activations']:>12,} {per['kv_cache']:>11,} "
                f"{per['sampler']:>10,} {self.total(name):>11,} {r.capacity:>11,}"
            )
        return "\n".join(lines)


def _aligned(n: int, align: int) -> int:
    return -(-n // align) * align


def _usable(regions: list[Any]) -> list[Any]:
    return [r for r in regions if r.base is not None]


def place(target: Any, items: list[Item], options: Any) -> Placement:
    """Place every item; raises MemoryPlanError naming what does not fit and the room there was."""
    plan = Placement()
    room: dict[str, int] = {}

    def free(r: Any) -> int:
        return room.setdefault(r.name, r.capacity)

    def put(item: Item, candidates: list[Any], forced: str | None) -> None:
        if forced:
            candidates = [target.region(forced)]
        for r in candidates:
            need = _aligned(item.nbytes, r.align)
            if need <= free(r):
                room[r.name] = free(r) - need
                plan.add(item, r)
                return
        where = ", ".join(f"{r.name} {free(r):,} B free" for r in candidates) or "no region"
        raise MemoryPlanError(
            f"{item.kind} buffer {item.name} ({item.nbytes:,} B) does not fit (regions tried: {where})",
            where=f"target {target.name!r}",
            hint="use int8 weights / an int8 KV cache (--int8), a smaller context, or a target with more memory",
        )

    weight_regions = _usable(target.weight_regions())
    act_regions = _usable(target.activation_regions())
    weights = sorted((i for i in items if i.kind in ("weights", "tokenizer")), key=lambda i: (-i.nbytes, i.name))
    for item in weights:
        put(item, weight_regions, options.weights_region)
    order = {"activations": 0, "kv_cache": 1, "sampler": 2}
    for item in sorted((i for i in items if i.kind in order), key=lambda i: order[i.kind]):
        forced = options.kv_region if item.kind == "kv_cache" else options.activations_region
        put(item, act_regions, forced)
    return plan
