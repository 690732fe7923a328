"""Buffers and their live ranges over a schedule.

A buffer is memory one or more values occupy in turn. Values share a buffer
when an op only reinterprets its input (``ALIAS_OPS``: Reshape, Flatten, ...)
or when an element-wise op writes its output over an input that dies at that
step (``INPLACE_RULES``). Kernel scratch is a buffer live during one step.
Everything here is keyed by Value and Node; nothing is stored on the IR.

Steps are indices into the schedule. A buffer is live from the step that
writes it to the last step that reads it, both included; graph inputs are
live from step 0, graph outputs until the last step.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from tinyc.ir.core import Graph, Node, Value

# Ops whose output 0 is their input 0 reinterpreted: same bytes, no copy.
ALIAS_OPS: frozenset[str] = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})

InplaceRule = Callable[[Node, int], bool]


def same_layout(node: Node, i: int) -> bool:
    """Element-wise: output 0 may overwrite input ``i`` when both have the same shape and element size."""
    v = node.inputs[i] if i < len(node.inputs) else None
    out = node.outputs[0]
    return v is not None and v.type.shape == out.type.shape and v.type.dtype.itemsize == out.type.dtype.itemsize


def first_input_same_layout(node: Node, i: int) -> bool:
    """Like ``same_layout`` but only for input 0 (the others are parameters: slopes, statistics)."""
    return i == 0 and same_layout(node, i)


_ELEMENTWISE = (
    "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Pow", "Mod",
    "Abs", "Neg", "Sign", "Ceil", "Floor", "Round", "Reciprocal", "Sqrt", "Exp", "Log", "Sin", "Cos", "Erf",
    "Relu", "LeakyRelu", "Clip", "Elu", "Selu", "Gelu", "HardSigmoid", "HardSwish", "Mish",
    "Sigmoid", "Softplus", "Softsign", "Tanh",
)  # fmt: skip

# op name -> may output 0 overwrite input i? (depthwise conv with one row of
# lookahead would join here with its own rule)
INPLACE_RULES: dict[str, InplaceRule] = {name: same_layout for name in _ELEMENTWISE}
INPLACE_RULES.update({"PRelu": first_input_same_layout, "BatchNormalization": first_input_same_layout})


class BufferKind(enum.Enum):
    ACTIVATION = "activation"
    INPUT = "input"
    OUTPUT = "output"
    SCRATCH = "scratch"


@dataclass(frozen=True, eq=False)
class Buffer:
    """Memory that holds ``values`` (in turn) from step ``first`` to step ``last``."""

    id: int
    size: int
    first: int
    last: int
    values: tuple[Value, ...] = ()
    kind: BufferKind = BufferKind.ACTIVATION
    align: int = 1
    node: Node | None = None  # the node that first writes it (or whose scratch it is)
    reads: int = 1  # how many times a kernel reads it (for the spill policy)
    writes: int = 1
    external: bool = False  # the caller's own buffer (graph I/O kept outside the arena)

    @property
    def name(self) -> str:
        if self.kind is BufferKind.SCRATCH:
            return f"scratch:{self.node.name if self.node else self.id}"
        return self.values[0].name if self.values else f"buf{self.id}"

    @property
    def lifetime(self) -> int:
        return self.last - self.first + 1

    def overlaps(self, other: Buffer) -> bool:
        """Live at a common step."""
        return self.first <= other.last and other.first <= self.last


def synthetic(ranges: Sequence[tuple[int, int, int]]) -> list[Buffer]:
    """Buffers from (size, first, last) triples, for allocator tests and benchmarks."""
    return [Buffer(i, size, first, last) for i, (size, first, last) in enumerate(ranges)]


def align_up(n: int, align: int) -> int:
    return -(-n // align) * align


def lower_bound(buffers: Sequence[Buffer], alignment: int = 1) -> tuple[int, int]:
    """(largest sum of simultaneously live sizes, the first step where it occurs).

    With ``alignment`` > 1 each size counts rounded up to it, which every
    arena with aligned offsets also needs.
    """
    if not buffers:
        return 0, 0
    n = max(b.last for b in buffers) + 2
    delta = [0] * n
    for b in buffers:
        s = align_up(b.size, alignment)
        delta[b.first] += s
        delta[b.last + 1] -= s
    best, best_step, load = 0, 0, 0
    for t in range(n):
        load += delta[t]
        if load > best:
            best, best_step = load, t
    return best, best_step


def live_load(buffers: Sequence[Buffer], steps: int | None = None) -> list[int]:
    """Sum of live buffer sizes at each step."""
    n = steps if steps is not None else (max((b.last for b in buffers), default=-1) + 1)
    delta = [0] * (n + 1)
    for b in buffers:
        delta[b.first] += b.size
        delta[b.last + 1] -= b.size
    out, load = [], 0
    for t in range(n):
        load += delta[t]
        out.append(load)
    return out


# -- the graph as groups of values sharing memory ---------------------------------


@dataclass
class MemoryModel:
    """A graph reduced to what planning needs: nodes, value groups (aliases merged), sizes.

    Built once per graph and options; ``schedule`` searches orders on it and
    ``live_ranges`` turns it plus an order into buffers, so both use the same
    alias and in-place rules.
    """

    nodes: list[Node]
    index: dict[Node, int]
    preds: list[list[int]]
    succs: list[list[int]]
    group_values: list[list[Value]] = field(default_factory=list)
    group_size: list[int] = field(default_factory=list)
    group_producer: list[int] = field(default_factory=list)  # -1: graph input
    group_consumers: list[list[int]] = field(default_factory=list)
    group_output: list[bool] = field(default_factory=list)
    group_external: list[bool] = field(default_factory=list)
    node_in: list[list[int]] = field(default_factory=list)
    node_out: list[list[int]] = field(default_factory=list)
    node_inplace: list[list[tuple[int, int]]] = field(default_factory=list)  # (out group, in group) allowed
    scratch: list[int] = field(default_factory=list)
    group_of: dict[Value, int] = field(default_factory=dict)
    const_alias: dict[Value, Value] = field(default_factory=dict)  # alias of a constant -> the constant
    reads: list[int] = field(default_factory=list)

    def arena_size(self, g: int) -> int:
        """Bytes group ``g`` takes in the arena (0 for the caller's buffers)."""
        return 0 if self.group_external[g] else self.group_size[g]


def build_model(
    graph: Graph,
    *,
    aliases: bool = True,
    inplace: bool = True,
    io_in_arena: bool = True,
    scratch: Mapping[Node, int] | None = None,
    size_of: Callable[[Value], int] | None = None,
) -> MemoryModel:
    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    size_fn = size_of or (lambda v: v.type.nbytes)
    graph_inputs = set(graph.inputs)
    graph_outputs = set(graph.outputs)
    m = MemoryModel(nodes, index, [[] for _ in nodes], [[] for _ in nodes])

    def new_group(v: Value, producer: int) -> int:
        g = len(m.group_values)
        m.group_values.append([v])
        m.group_size.append(size_fn(v))
        m.group_producer.append(producer)
        m.group_consumers.append([])
        m.group_output.append(v in graph_outputs)
        m.group_external.append(not io_in_arena and (v in graph_inputs or v in graph_outputs))
        m.group_of[v] = g
        return g

    for v in graph.inputs:
        new_group(v, -1)
    for i, node in enumerate(nodes):
        m.node_in.append([])
        m.node_out.append([])
        for v in node.inputs:
            if v is None or v.is_const:
                continue
            if v in m.const_alias:
                continue
            g = m.group_of.get(v)
            if g is None:
                raise ValueError(f"value %{v.name} read by {node.name!r} is not defined before it (order is not topological)")
            if g not in m.node_in[i]:
                m.node_in[i].append(g)
            p = v.producer
            if p is not None and index[p] not in m.preds[i]:
                m.preds[i].append(index[p])
        for p in m.preds[i]:
            m.succs[p].append(i)
        for k, out in enumerate(node.outputs):
            src = node.inputs[0] if node.inputs else None
            if aliases and k == 0 and node.op.name in ALIAS_OPS and src is not None and size_fn(src) == size_fn(out):
                if src.is_const or src in m.const_alias:
                    m.const_alias[out] = m.const_alias.get(src, src)
                    continue
                g = m.group_of[src]
                joined_external = not io_in_arena and out in (graph_inputs | graph_outputs)
                if not (joined_external and m.group_external[g]):
                    m.group_values[g].append(out)
                    m.group_of[out] = g
                    m.group_output[g] = m.group_output[g] or out in graph_outputs
                    m.group_external[g] = m.group_external[g] or joined_external
                    continue
            m.node_out[i].append(new_group(out, i))
    for i in range(len(nodes)):
        for g in m.node_in[i]:
            m.group_consumers[g].append(i)
    m.reads = [0] * len(m.group_values)
    for node in nodes:
        for v in node.inputs:
            if v is not None and v in m.group_of:
                m.reads[m.group_of[v]] += 1
    m.scratch = [int((scratch or {}).get(n, 0)) for n in nodes]
    for i, node in enumerate(nodes):
        pairs: list[tuple[int, int]] = []
        rule = INPLACE_RULES.get(node.op.name) if inplace else None
        if rule is not None and m.node_out[i] and node.outputs[0] in m.group_of:
            og = m.group_of[node.outputs[0]]
            for k, v in enumerate(node.inputs):
                if v is None or v not in m.group_of or not rule(node, k):
                    continue
                ig = m.group_of[v]
                if m.group_external[ig] or m.group_external[og] or m.group_output[ig] or m.group_size[ig] != m.group_size[og]:
                    continue
                if (og, ig) not in pairs:
                    pairs.append((og, ig))
        m.node_inplace.append(pairs)
    return m


def check_order(model: MemoryModel, order: Sequence[Node]) -> list[int]:
    """Step of each node (by model index); raises ValueError unless ``order`` is a topological permutation."""
    if len(order) != len(model.nodes) or set(map(id, order)) != set(map(id, model.nodes)):
        raise ValueError("the order must be a permutation of the graph's nodes")
    step = [0] * len(order)
    for t, n in enumerate(order):
        step[model.index[n]] = t
    for i, ps in enumerate(model.preds):
        for p in ps:
            if step[p] >= step[i]:
                raise ValueError(f"order runs {model.nodes[i].name!r} before its input's producer {model.nodes[p].name!r}")
    return step


def buffers_from_model(model: MemoryModel, order: Sequence[Node]) -> list[Buffer]:
    """Live ranges of every group for ``order``, with in-place merges, plus scratch buffers."""
    step = check_order(model, order)
    n_steps = max(len(order), 1)
    ngroups = len(model.group_values)
    first = [0 if p < 0 else step[p] for p in model.group_producer]
    last = list(first)
    for g in range(ngroups):
        for c in model.group_consumers[g]:
            last[g] = max(last[g], step[c])
        if model.group_output[g]:
            last[g] = n_steps - 1
    # in-place: a group joins the buffer of an input group that dies at its producer's step
    owner = list(range(ngroups))  # group -> representative group of its buffer
    buf_last = list(last)
    taken: set[int] = set()
    for node in order:
        i = model.index[node]
        t = step[i]
        for og, ig in model.node_inplace[i]:
            rep = owner[ig]
            if owner[og] != og or rep in taken or buf_last[rep] != t:
                continue
            owner[og] = rep
            buf_last[rep] = last[og]
            taken.add(rep)
        taken.clear()
    members: dict[int, list[int]] = {}
    for g in range(ngroups):
        members.setdefault(owner[g], []).append(g)
    out: list[Buffer] = []
    for rep in sorted(members, key=lambda r: (first[r], r)):
        gs = members[rep]
        values = tuple(v for g in gs for v in model.group_values[g])
        producer = model.group_producer[rep]
        is_in = producer < 0
        is_out = any(model.group_output[g] for g in gs)
        kind = BufferKind.INPUT if is_in else BufferKind.OUTPUT if is_out else BufferKind.ACTIVATION
        out.append(
            Buffer(
                id=len(out),
                size=max(model.group_size[g] for g in gs),
                first=first[rep],
                last=buf_last[rep],
                values=values,
                kind=kind,
                node=None if is_in else model.nodes[producer],
                reads=sum(model.reads[g] for g in gs),
                writes=len(gs),
                external=any(model.group_external[g] for g in gs),
            )
        )
    for node in order:
        i = model.index[node]
        if model.scratch[i] > 0:
            t = step[i]
            out.append(Buffer(id=len(out), size=model.scratch[i], first=t, last=t, kind=BufferKind.SCRATCH, node=node, reads=4, writes=4))
    return out


def live_ranges(
    graph: Graph,
    order: Sequence[Node] | None = None,
    *,
    aliases: bool = True,
    inplace: bool = True,
    io_in_arena: bool = True,
    scratch: Mapping[Node, int] | None = None,
    size_of: Callable[[Value], int] | None = None,
) -> list[Buffer]:
    """Buffers of ``graph`` run in ``order`` (default: the graph's order).

    ``aliases``: ALIAS_OPS outputs share their input's buffer. ``inplace``:
    INPLACE_RULES ops write over an input dying there. ``io_in_arena=False``
    marks graph inputs and outputs ``external`` (the caller's buffers).
    ``scratch``: bytes of kernel scratch per node. ``size_of``: bytes of a
    value (default its type's ``nbytes``).
    """
    model = build_model(graph, aliases=aliases, inplace=inplace, io_in_arena=io_in_arena, scratch=scratch, size_of=size_of)
    return buffers_from_model(model, list(graph.nodes) if order is None else order)
