"""Offset assignment: buffers with live ranges -> offsets in one arena.

Every allocator follows the ``Allocator`` protocol and is unit-tested on
synthetic ranges. They share one placement primitive, *lowest fit*: put a
buffer at the lowest aligned offset where it does not overlap any
already-placed buffer live at the same time. Allocators differ in the order
they place buffers:

- ``GreedyBySize``: largest first (the classic baseline).
- ``ConflictGreedy``: tries several orders (by size, by the live load over the
  buffer's lifetime, by lifetime) and then improves the best with a local
  search that moves the buffers touching the top of the arena earlier.
- ``ExactAllocator``: branch and bound over orders; every optimal packing can
  be compacted downwards into one that lowest fit builds from its buffers
  sorted by offset, so searching orders whose offsets never decrease is
  exhaustive. It stops at a node budget (then it is a heuristic, and says so).
- ``AutoAllocator`` (the default): exact for small problems, otherwise the
  conflict-ordered greedy, never worse than greedy-by-size.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from tinyc.memory.liveness import Buffer, align_up, lower_bound


class PlanInvalidError(AssertionError):
    """An allocation or plan breaks an invariant (overlap, misalignment, overflow): a planner bug."""


class Allocator(Protocol):
    name: str

    def allocate(self, buffers: Sequence[Buffer], alignment: int = 1) -> dict[int, int]:
        """Offsets (by buffer id), multiples of ``alignment``; buffers live at a common step never overlap."""
        ...


def arena_size(buffers: Sequence[Buffer], offsets: Mapping[int, int], alignment: int = 1) -> int:
    """Bytes an arena needs for this allocation (rounded up to ``alignment``)."""
    top = max((offsets[b.id] + b.size for b in buffers), default=0)
    return align_up(top, alignment)


def check_allocation(buffers: Sequence[Buffer], offsets: Mapping[int, int], *, alignment: int = 1, capacity: int | None = None) -> None:
    """Raise PlanInvalidError unless every buffer has an aligned offset, fits, and no two live at once overlap."""
    for b in buffers:
        if b.id not in offsets:
            raise PlanInvalidError(f"buffer {b.id} ({b.name}) has no offset")
        off = offsets[b.id]
        if off < 0 or off % alignment:
            raise PlanInvalidError(f"buffer {b.id} ({b.name}) at offset {off} is not aligned to {alignment}")
        if capacity is not None and off + b.size > capacity:
            raise PlanInvalidError(f"buffer {b.id} ({b.name}) ends at {off + b.size}, beyond the capacity {capacity}")
    by_first = sorted((b for b in buffers if b.size > 0), key=lambda b: b.first)
    active: list[Buffer] = []
    for b in by_first:
        active = [a for a in active if a.last >= b.first]
        ob = offsets[b.id]
        for a in active:
            oa = offsets[a.id]
            if oa < ob + b.size and ob < oa + a.size:
                raise PlanInvalidError(
                    f"buffers {a.id} ({a.name}, [{oa}, {oa + a.size}) steps {a.first}-{a.last}) and "
                    f"{b.id} ({b.name}, [{ob}, {ob + b.size}) steps {b.first}-{b.last}) overlap"
                )
        active.append(b)


# -- the shared placement primitive ---------------------------------------------


class _Problem:
    """Buffers indexed 0..n-1 with their time conflicts, computed once."""

    def __init__(self, buffers: Sequence[Buffer], alignment: int) -> None:
        self.buffers = list(buffers)
        self.alignment = alignment
        self.size = [b.size for b in self.buffers]
        self.asize = [align_up(b.size, alignment) for b in self.buffers]
        n = len(self.buffers)
        self.conflicts: list[list[int]] = [[] for _ in range(n)]
        order = sorted(range(n), key=lambda i: self.buffers[i].first)
        active: list[int] = []
        for i in order:
            b = self.buffers[i]
            active = [j for j in active if self.buffers[j].last >= b.first]
            for j in active:
                self.conflicts[i].append(j)
                self.conflicts[j].append(i)
            active.append(i)
        # zero-size buffers never conflict
        self.conflicts = [[j for j in c if self.size[j] > 0] if self.size[i] > 0 else [] for i, c in enumerate(self.conflicts)]
        self.bound = lower_bound(self.buffers, alignment)[0]
        self.work = 0  # conflict entries visited by place(), to bound searches

    def place(self, order: Sequence[int], start: int = 0, prev: list[int] | None = None) -> tuple[list[int], int]:
        """Lowest fit in ``order``: (offsets by index, arena height).

        With ``prev`` (offsets of an earlier placement whose order shares the
        first ``start`` entries), only ``order[start:]`` is placed again.
        """
        n = len(self.buffers)
        offs = [-1] * n
        height = 0
        asize = self.asize
        if prev is not None:
            for i in order[:start]:
                offs[i] = prev[i]
                if prev[i] + asize[i] > height:
                    height = prev[i] + asize[i]
        else:
            start = 0
        al = self.alignment
        for k in range(start, len(order)):
            i = order[k]
            off = self.lowest_fit(i, offs, al)
            offs[i] = off
            if off + asize[i] > height:
                height = off + asize[i]
        self.work += sum(len(self.conflicts[i]) for i in order[start:])
        return offs, height

    def lowest_fit(self, i: int, offs: list[int], al: int) -> int:
        size = self.size
        taken = [(offs[j], offs[j] + size[j]) for j in self.conflicts[i] if offs[j] >= 0]
        taken.sort()
        need = size[i]
        cand = 0
        for lo, hi in taken:
            if cand + need <= lo:
                break
            if hi > cand:
                cand = -(-hi // al) * al
        return cand

    def result(self, offs: list[int]) -> dict[int, int]:
        return {b.id: offs[k] for k, b in enumerate(self.buffers)}


def _by_size(p: _Problem) -> list[int]:
    return sorted(range(len(p.buffers)), key=lambda i: (-p.size[i], -p.buffers[i].lifetime, p.buffers[i].first, i))


@dataclass
class GreedyBySize:
    """Largest buffer first, each at the lowest offset free during its lifetime."""

    name: str = "greedy-size"

    def allocate(self, buffers: Sequence[Buffer], alignment: int = 1) -> dict[int, int]:
        p = _Problem(buffers, alignment)
        offs, _ = p.place(_by_size(p))
        return p.result(offs)


@dataclass
class ConflictGreedy:
    """Several conflict-aware orders, the best improved by a local search."""

    name: str = "conflict"
    iterations: int = 300
    work_budget: int = 600_000  # conflict entries the local search may visit
    seed: int = 0

    def allocate(self, buffers: Sequence[Buffer], alignment: int = 1) -> dict[int, int]:
        p = _Problem(buffers, alignment)
        order, offs, height = self.search(p)
        return p.result(offs)

    def search(self, p: _Problem) -> tuple[list[int], list[int], int]:
        n = len(p.buffers)
        if n == 0:
            return [], [], 0
        # live load at each step, and for each buffer the heaviest load over its lifetime
        steps = max(b.last for b in p.buffers) + 2
        delta = [0] * steps
        for k, b in enumerate(p.buffers):
            delta[b.first] += p.asize[k]
            delta[b.last + 1] -= p.asize[k]
        load, acc = [], 0
        for t in range(steps):
            acc += delta[t]
            load.append(acc)
        pressure = [max(load[b.first : b.last + 1]) for b in p.buffers]
        idx = range(n)
        candidates = [
            _by_size(p),
            sorted(idx, key=lambda i: (-pressure[i], -p.size[i], p.buffers[i].first, i)),
            sorted(idx, key=lambda i: (-p.buffers[i].lifetime, -p.size[i], i)),
            sorted(idx, key=lambda i: (-p.size[i] * p.buffers[i].lifetime, i)),
            sorted(idx, key=lambda i: (p.buffers[i].first, -p.size[i], i)),
        ]
        best: tuple[list[int], list[int], int] | None = None
        for order in candidates:
            offs, height = p.place(order)
            if best is None or height < best[2]:
                best = (order, offs, height)
            if height <= p.bound:
                return best
        assert best is not None
        return self.improve(p, *best)

    def improve(self, p: _Problem, order: list[int], offs: list[int], height: int) -> tuple[list[int], list[int], int]:
        """Move a buffer that reaches the top of the arena earlier in the order; keep moves that do not hurt."""
        rng = random.Random(self.seed)
        best_order, best_offs, best_h = order, offs, height
        cur_order, cur_offs, cur_h = order, offs, height
        budget = p.work + self.work_budget
        for _ in range(self.iterations):
            if best_h <= p.bound or p.work > budget:
                break
            tops = [i for i in cur_order if cur_offs[i] + p.asize[i] >= cur_h]
            victim = rng.choice(tops)
            pos = cur_order.index(victim)
            if pos == 0:
                # already first: move one of the buffers below it later instead
                below = [j for j in p.conflicts[victim] if cur_offs[j] < cur_offs[victim]]
                if not below:
                    continue
                other = rng.choice(below)
                at = cur_order.index(other)
                cand = [i for i in cur_order if i != other]
                cand.insert(rng.randint(at, len(cand)), other)
                start = at
            else:
                cand = [i for i in cur_order if i != victim]
                start = rng.randint(0, pos - 1)
                cand.insert(start, victim)
            c_offs, c_h = p.place(cand, start, cur_offs)
            if c_h <= cur_h:
                cur_order, cur_offs, cur_h = cand, c_offs, c_h
                if c_h < best_h:
                    best_order, best_offs, best_h = cand, c_offs, c_h
        return best_order, best_offs, best_h


@dataclass
class ExactAllocator:
    """Branch and bound over placement orders; optimal unless the node budget runs out."""

    name: str = "exact"
    max_nodes: int = 200_000
    optimal: bool = False  # set by the last allocate()

    def allocate(self, buffers: Sequence[Buffer], alignment: int = 1) -> dict[int, int]:
        p = _Problem(buffers, alignment)
        start_order, start_offs, start_h = ConflictGreedy().search(p)
        offs, _h, self.optimal = self.search(p, start_offs, start_h)
        return p.result(offs)

    def search(self, p: _Problem, best_offs: list[int], best_h: int) -> tuple[list[int], int, bool]:
        n = len(p.buffers)
        if best_h <= p.bound or n == 0:
            return best_offs, best_h, True
        best_found: list[int] = list(best_offs)
        best_height = best_h
        nodes = 0
        offs = [-1] * n
        al = p.alignment
        # identical buffers (same size and lifetime) are interchangeable: place them in index order
        twin_of = [-1] * n
        seen: dict[tuple[int, int, int], int] = {}
        for i, b in enumerate(p.buffers):
            key = (b.size, b.first, b.last)
            twin_of[i] = seen.get(key, -1)
            seen[key] = i

        def dfs(placed: int, last_off: int, height: int) -> bool:
            nonlocal nodes, best_found, best_height
            if placed == n:
                if height < best_height:
                    best_found, best_height = list(offs), height
                return best_height <= p.bound
            for i in range(n):
                if offs[i] >= 0 or (twin_of[i] >= 0 and offs[twin_of[i]] < 0):
                    continue
                nodes += 1
                if nodes > self.max_nodes:
                    return True
                off = p.lowest_fit(i, offs, al)
                if off < last_off:
                    continue
                h = max(height, off + p.asize[i])
                if h >= best_height:
                    continue
                offs[i] = off
                stop = dfs(placed + 1, off, h)
                offs[i] = -1
                if stop:
                    return True
            return False

        dfs(0, 0, 0)
        return best_found, best_height, nodes <= self.max_nodes or best_height <= p.bound


@dataclass
class AutoAllocator:
    """Exact search for up to ``exact_limit`` buffers, the conflict-ordered greedy beyond."""

    name: str = "auto"
    exact_limit: int = 14

    def allocate(self, buffers: Sequence[Buffer], alignment: int = 1) -> dict[int, int]:
        p = _Problem(buffers, alignment)
        _order, offs, height = ConflictGreedy().search(p)
        if height > p.bound and len(buffers) <= self.exact_limit:
            offs, height, _ = ExactAllocator(max_nodes=50_000).search(p, offs, height)
        return p.result(offs)


ALLOCATORS: dict[str, type] = {
    "greedy-size": GreedyBySize,
    "conflict": ConflictGreedy,
    "exact": ExactAllocator,
    "auto": AutoAllocator,
}


def get_allocator(name: str) -> Allocator:
    from tinyc.errors import TinycError

    try:
        return ALLOCATORS[name]()  # type: ignore[no-any-return]
    except KeyError:
        raise TinycError(f"unknown allocator {name!r}", hint=f"choose one of {', '.join(ALLOCATORS)}") from None


__all__ = [
    "ALLOCATORS",
    "Allocator",
    "AutoAllocator",
    "ConflictGreedy",
    "ExactAllocator",
    "GreedyBySize",
    "PlanInvalidError",
    "arena_size",
    "check_allocation",
    "get_allocator",
]
