"""Graphs for memory-planning tests (chains, residual and inception blocks, random DAGs) and a plan simulator.

``simulate(plan, graph, inputs)`` runs the graph with every value stored
where the plan put it (byte arenas per region, filled with garbage first), so
a plan that lets a live value be overwritten gives wrong outputs.
"""

from __future__ import annotations

import random

import numpy as np

from tinyc.interpreter import run_graph
from tinyc.ir import DType, Graph, TensorType, Value, get_op
from tinyc.ir.opdef import EvalContext
from tinyc.memory import MemoryPlan

ADD, MUL, RELU, CONCAT, RESHAPE, SLICE = (get_op(n) for n in ("Add", "Mul", "Relu", "Concat", "Reshape", "Slice"))


def f32(*shape: int) -> TensorType:
    return TensorType(DType.F32, shape)


def relu(g: Graph, x: Value, name: str = "") -> Value:
    return g.add_node(RELU, [x], name=name).output


def add(g: Graph, a: Value, b: Value, name: str = "") -> Value:
    return g.add_node(ADD, [a, b], name=name).output


def mul(g: Graph, a: Value, b: Value, name: str = "") -> Value:
    return g.add_node(MUL, [a, b], name=name).output


def concat(g: Graph, xs: list[Value], name: str = "") -> Value:
    return g.add_node(CONCAT, xs, CONCAT.Attrs(axis=1), name=name).output


def reshape(g: Graph, x: Value, shape: tuple[int, ...], name: str = "") -> Value:
    return g.add_node(RESHAPE, [x], RESHAPE.Attrs(shape=shape), name=name).output


def take(g: Graph, x: Value, n: int, name: str = "") -> Value:
    """The first ``n`` columns of a [1, k] value (a Slice: a real copy, a smaller buffer)."""
    return g.add_node(SLICE, [x], SLICE.Attrs(starts=(0,), ends=(n,), axes=(1,), steps=(1,)), name=name).output


def chain(n: int = 6, width: int = 250) -> Graph:
    g = Graph("chain")
    x = g.add_input("x", f32(1, width))
    for i in range(n):
        x = relu(g, x, f"r{i}") if i % 2 else mul(g, x, x, f"m{i}")
    g.outputs = [x]
    return g


def branches_late_join(width: int = 256, depth: int = 3) -> Graph:
    """Two independent branches joined at the end; the given order interleaves them (a bad order)."""
    g = Graph("late_join")
    x = g.add_input("x", f32(1, width))
    big_a = concat(g, [x, x, x, x], "a0")  # 4x wide
    big_b = concat(g, [x, x, x, x], "b0")
    a, b = big_a, big_b
    for i in range(depth):
        a = take(g, a, width, f"a{i + 1}") if i == 0 else relu(g, a, f"a{i + 1}")
        b = take(g, b, width, f"b{i + 1}") if i == 0 else relu(g, b, f"b{i + 1}")
    g.outputs = [add(g, a, b, "join")]
    return g


def residual(blocks: int = 3, width: int = 200) -> Graph:
    """ResNet-like: y = x + f(x) with f two ops wide, then a skinny head."""
    g = Graph("residual")
    x = g.add_input("x", f32(1, width))
    for i in range(blocks):
        h = concat(g, [x, x], f"expand{i}")
        h = relu(g, h, f"act{i}")
        h = take(g, h, width, f"project{i}")
        x = add(g, x, h, f"res{i}")
    g.outputs = [reshape(g, x, (width,), "flat")]
    return g


def inception(width: int = 128, branches: int = 4) -> Graph:
    """Parallel branches of different widths from one input, concatenated."""
    g = Graph("inception")
    x = g.add_input("x", f32(1, width))
    outs = []
    for i in range(branches):
        h = concat(g, [x] * (i + 1), f"br{i}_wide")
        h = relu(g, h, f"br{i}_act")
        h = take(g, h, width // 2, f"br{i}_narrow")
        outs.append(relu(g, h, f"br{i}_out"))
    y = concat(g, outs, "cat")
    g.outputs = [y]
    return g


def multi_output() -> Graph:
    g = Graph("multi_output")
    x = g.add_input("x", f32(1, 64))
    a = relu(g, concat(g, [x, x], "w"), "a")
    b = take(g, a, 32, "b")
    c = mul(g, x, x, "c")
    g.outputs = [b, c, reshape(g, a, (2, 64), "a_view")]
    return g


def random_dag(n: int, seed: int = 0, widths: tuple[int, ...] = (16, 32, 64)) -> Graph:
    """A random DAG of Relu/Add/Mul/Concat/Slice/Reshape over [1, w] values."""
    rng = random.Random(seed)
    g = Graph(f"random{n}")
    vals: list[Value] = [g.add_input("x", f32(1, widths[0]))]
    for i in range(n):
        choice = rng.random()
        recent = vals[-8:] if rng.random() < 0.8 else vals
        a = rng.choice(recent)
        w = a.type.shape[-1]
        if choice < 0.25:
            v = relu(g, a, f"n{i}")
        elif choice < 0.5:
            same = [v for v in vals if v.type.shape == a.type.shape]
            v = (add if rng.random() < 0.5 else mul)(g, a, rng.choice(same), f"n{i}")
        elif choice < 0.65:
            b = rng.choice(vals)
            v = concat(g, [a, b], f"n{i}")
        elif choice < 0.85 or w == 1:
            v = take(g, a, max(1, w // 2) if w > 8 else w, f"n{i}")
        else:
            v = reshape(g, reshape(g, a, (w,), f"n{i}_flat"), (1, w), f"n{i}")
        if v.type.shape[-1] > 256:
            v = take(g, v, rng.choice(widths), f"n{i}_cut")
        vals.append(v)
    used = {id(v) for node in g.nodes for v in node.inputs if v is not None}
    g.outputs = [v for v in vals[1:] if id(v) not in used] or [vals[-1]]
    return g


def reference(graph: Graph, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    inputs = {v.name: rng.standard_normal(v.type.shape).astype(np.float32) for v in graph.inputs}
    return inputs, run_graph(graph, inputs)


def simulate(plan: MemoryPlan, graph: Graph, inputs: dict[str, np.ndarray], seed: int = 1) -> dict[str, np.ndarray]:
    """Run ``graph`` in ``plan.order`` with each value stored at its planned place."""
    rng = np.random.default_rng(seed)
    arenas = {name: rng.integers(0, 256, max(rp.arena_bytes, 1), dtype=np.uint8) for name, rp in plan.regions.items()}
    external: dict[int, np.ndarray] = {}

    def view(v: Value) -> np.ndarray:
        b = plan.buffer_of(v)
        assert b is not None, v
        n = v.type.nbytes
        if b.external:
            raw = external.setdefault(b.id, np.zeros(b.size, np.uint8))
        else:
            p = plan.offsets[b.id]
            raw = arenas[p.region][p.offset : p.offset + b.size]
        return raw[:n].view(v.type.dtype.numpy).reshape(v.type.shape)

    def read(v: Value | None) -> np.ndarray | None:
        if v is None:
            return None
        v = plan.const_alias.get(v, v)
        if v.const is not None:
            return v.const
        return view(v).copy()

    for v in graph.inputs:
        view(v)[...] = inputs[v.name]
    for node in plan.order:
        args = [read(v) for v in node.inputs]
        ctx = EvalContext([None if v is None else v.type for v in node.inputs], [o.type for o in node.outputs], node.name)
        for out, arr in zip(node.outputs, node.op.evaluate(node.attrs, args, ctx)):
            if out in plan.const_alias:
                continue
            view(out)[...] = arr
    return {v.name: read(v) for v in graph.outputs}  # type: ignore[misc]
