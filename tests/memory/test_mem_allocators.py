"""Allocators on synthetic live ranges: validity, the lower bound, optimality where it can be checked by brute force."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinyc.memory import (
    ALLOCATORS,
    AutoAllocator,
    ConflictGreedy,
    ExactAllocator,
    GreedyBySize,
    PlanInvalidError,
    arena_size,
    check_allocation,
    get_allocator,
    live_load,
    lower_bound,
    synthetic,
)
from tinyc.memory.liveness import align_up

ALL = [GreedyBySize(), ConflictGreedy(), ExactAllocator(), AutoAllocator()]
IDS = [a.name for a in ALL]


def test_lower_bound_and_live_load() -> None:
    bufs = synthetic([(10, 0, 2), (20, 1, 1), (5, 2, 4), (7, 4, 4)])
    assert live_load(bufs) == [10, 30, 15, 5, 12]
    assert lower_bound(bufs) == (30, 1)
    assert lower_bound(bufs, 16)[0] == 16 + 32
    assert lower_bound([]) == (0, 0)


@pytest.mark.parametrize("alloc", ALL, ids=IDS)
def test_disjoint_lifetimes_share_offset_zero(alloc) -> None:  # type: ignore[no-untyped-def]
    bufs = synthetic([(100, 0, 0), (50, 1, 1), (70, 2, 2)])
    offs = alloc.allocate(bufs, 1)
    assert offs == {0: 0, 1: 0, 2: 0}


@pytest.mark.parametrize("alloc", ALL, ids=IDS)
def test_chain_reaches_the_bound(alloc) -> None:  # type: ignore[no-untyped-def]
    # a chain: each buffer lives from its producer to its consumer
    sizes = [40, 100, 60, 100, 20, 80]
    bufs = synthetic([(s, i, i + 1) for i, s in enumerate(sizes)])
    offs = alloc.allocate(bufs, 4)
    check_allocation(bufs, offs, alignment=4)
    assert arena_size(bufs, offs, 4) == lower_bound(bufs, 4)[0] == 160


def test_greedy_by_size_is_not_optimal_and_conflict_is() -> None:
    # largest-first puts the [0,1] and [1,2] buffers side by side at step 1 and
    # leaves no room for the 2-byte one at step 2; the bound (6) is reachable
    bufs = synthetic([(3, 3, 3), (2, 2, 3), (3, 1, 2), (3, 0, 1)])
    bound = lower_bound(bufs)[0]
    g = GreedyBySize().allocate(bufs)
    c = ConflictGreedy().allocate(bufs)
    e = ExactAllocator()
    x = e.allocate(bufs)
    for offs in (g, c, x):
        check_allocation(bufs, offs)
    assert bound == 6
    assert arena_size(bufs, g) == 8
    assert arena_size(bufs, c) == arena_size(bufs, x) == 6
    assert e.optimal
    assert _brute_force(bufs) == 6


def _brute_force(bufs, limit: int = 12) -> int:  # type: ignore[no-untyped-def]
    """Smallest height over all offset vectors in [0, limit) (independent of lowest fit)."""
    best = None
    for offs in itertools.product(range(limit), repeat=len(bufs)):
        height = max(o + b.size for o, b in zip(offs, bufs))
        if best is not None and height >= best:
            continue
        ok = all(
            not (a.overlaps(b) and oa < ob + b.size and ob < oa + a.size)
            for (a, oa), (b, ob) in itertools.combinations(zip(bufs, offs), 2)
        )
        if ok:
            best = height
    assert best is not None
    return best


@pytest.mark.parametrize("seed", range(12))
def test_exact_matches_brute_force_on_tiny_problems(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(3, 4)
    ranges = []
    for _ in range(n):
        first = rng.randrange(4)
        ranges.append((rng.randint(1, 3), first, first + rng.randrange(3)))
    bufs = synthetic(ranges)
    limit = sum(s for s, _, _ in ranges)
    assert arena_size(bufs, ExactAllocator().allocate(bufs)) == _brute_force(bufs, limit)


@pytest.mark.parametrize("alloc", ALL, ids=IDS)
def test_alignment_is_respected(alloc) -> None:  # type: ignore[no-untyped-def]
    bufs = synthetic([(13, 0, 3), (7, 1, 2), (29, 2, 4), (1, 0, 4), (0, 1, 1)])
    offs = alloc.allocate(bufs, 16)
    check_allocation(bufs, offs, alignment=16)
    assert all(o % 16 == 0 for o in offs.values())


def test_check_allocation_catches_errors() -> None:
    bufs = synthetic([(10, 0, 1), (10, 1, 2)])
    check_allocation(bufs, {0: 0, 1: 10})
    with pytest.raises(PlanInvalidError, match="overlap"):
        check_allocation(bufs, {0: 0, 1: 5})
    with pytest.raises(PlanInvalidError, match="aligned"):
        check_allocation(bufs, {0: 0, 1: 10}, alignment=8)
    with pytest.raises(PlanInvalidError, match="capacity"):
        check_allocation(bufs, {0: 0, 1: 10}, capacity=15)
    with pytest.raises(PlanInvalidError, match="no offset"):
        check_allocation(bufs, {0: 0})
    # not live at the same time: the same bytes are fine
    check_allocation(synthetic([(10, 0, 0), (10, 1, 1)]), {0: 0, 1: 0})


def test_registry() -> None:
    assert set(ALLOCATORS) == {"greedy-size", "conflict", "exact", "auto"}
    assert get_allocator("greedy-size").name == "greedy-size"
    with pytest.raises(Exception, match="unknown allocator"):
        get_allocator("best")


ranges = st.lists(
    st.tuples(st.integers(0, 300), st.integers(0, 30), st.integers(0, 6)).map(lambda t: (t[0], t[1], t[1] + t[2])),
    min_size=0,
    max_size=40,
)


@given(ranges=ranges, align=st.sampled_from([1, 4, 16]))
def test_property_every_allocator_is_valid_and_above_the_bound(ranges, align) -> None:  # type: ignore[no-untyped-def]
    bufs = synthetic(ranges)
    bound = lower_bound(bufs, align)[0]
    heights = {}
    for alloc in (GreedyBySize(), ConflictGreedy(iterations=30), AutoAllocator()):
        offs = alloc.allocate(bufs, align)
        check_allocation(bufs, offs, alignment=align)
        heights[alloc.name] = arena_size(bufs, offs, align)
        assert heights[alloc.name] >= bound
    assert heights["conflict"] <= heights["greedy-size"]
    assert heights["auto"] <= heights["greedy-size"]


@given(ranges=st.lists(st.tuples(st.integers(1, 50), st.integers(0, 6), st.integers(0, 3)).map(lambda t: (t[0], t[1], t[1] + t[2])), min_size=1, max_size=7))
def test_property_exact_is_never_worse(ranges) -> None:  # type: ignore[no-untyped-def]
    bufs = synthetic(ranges)
    e = ExactAllocator()
    offs = e.allocate(bufs, 1)
    check_allocation(bufs, offs)
    assert e.optimal
    h = arena_size(bufs, offs)
    assert h <= arena_size(bufs, ConflictGreedy().allocate(bufs))
    assert h >= lower_bound(bufs)[0]


def test_large_problem_is_fast_and_close_to_the_bound() -> None:
    import time

    rng = random.Random(7)
    ranges = []
    for _ in range(600):
        first = rng.randrange(500)
        ranges.append((rng.choice([16, 64, 256, 1000, 4096]), first, min(499, first + int(rng.expovariate(1 / 8)))))
    bufs = synthetic(ranges)
    t0 = time.perf_counter()
    offs = AutoAllocator().allocate(bufs, 16)
    elapsed = time.perf_counter() - t0
    check_allocation(bufs, offs, alignment=16)
    bound = lower_bound(bufs, 16)[0]
    assert arena_size(bufs, offs, 16) <= 1.05 * bound
    assert elapsed < 2.0
    assert align_up(bound, 16) == bound
