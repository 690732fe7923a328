"""The NumPy reference interpreter: the oracle every backend is checked against."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from tinyc.errors import InputError, TinycError
from tinyc.ir.core import Graph, Node, Value
from tinyc.ir.opdef import EvalContext


def check_inputs(graph: Graph, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Match user arrays to graph inputs by name (or position for a single input)."""
    names = [v.name for v in graph.inputs]
    if len(names) == 1 and len(inputs) == 1 and names[0] not in inputs:
        inputs = {names[0]: next(iter(inputs.values()))}
    missing = [n for n in names if n not in inputs]
    if missing:
        raise InputError(f"missing input(s) {missing}", hint=f"the model takes {names}; name arrays in an .npz by input name")
    extra = [n for n in inputs if n not in names]
    if extra:
        raise InputError(f"unknown input(s) {extra}", hint=f"the model takes {names}")
    out: dict[str, np.ndarray] = {}
    for v in graph.inputs:
        arr = np.asarray(inputs[v.name])
        if tuple(arr.shape) != v.type.shape:
            raise InputError(f"input {v.name!r} has shape {list(arr.shape)}, the model expects {list(v.type.shape)}")
        want = v.type.dtype.numpy
        if arr.dtype != want:
            if np.can_cast(arr.dtype, want, casting="same_kind") or (arr.dtype.kind == "f" and want.kind == "f"):
                arr = arr.astype(want)
            else:
                raise InputError(f"input {v.name!r} has dtype {arr.dtype}, the model expects {want}")
        out[v.name] = arr
    return out


def run_graph(
    graph: Graph,
    inputs: Mapping[str, np.ndarray],
    *,
    observer: Callable[[Node, list[np.ndarray]], None] | None = None,
) -> dict[str, np.ndarray]:
    """Run ``graph`` on named inputs; return its outputs by name.

    ``observer(node, outputs)`` is called after each node (calibration and
    per-layer error reports use it).
    """
    env: dict[int, np.ndarray] = {}
    for name, arr in check_inputs(graph, inputs).items():
        env[id(graph.value(name))] = arr
    for c in graph.constants:
        assert c.const is not None
        env[id(c)] = c.const

    def get(v: Value | None) -> np.ndarray | None:
        return None if v is None else env[id(v)]

    for node in graph.nodes:
        args = [get(v) for v in node.inputs]
        ctx = EvalContext([None if v is None else v.type for v in node.inputs], [o.type for o in node.outputs], node.name)
        try:
            results = node.op.evaluate(node.attrs, args, ctx)
        except TinycError:
            raise
        except Exception as exc:  # a bug or an unsupported corner: name the node
            raise TinycError(f"reference evaluation of {node.op.name} failed: {exc}", where=f"node {node.name!r} ({node.loc})") from exc
        for out, arr in zip(node.outputs, results):
            arr = np.asarray(arr)
            if tuple(arr.shape) != out.type.shape:
                raise TinycError(
                    f"{node.op.name} produced shape {list(arr.shape)}, its type says {list(out.type.shape)}",
                    where=f"node {node.name!r} ({node.loc})",
                )
            env[id(out)] = arr.astype(out.type.dtype.numpy, copy=False)
        if observer is not None:
            observer(node, [env[id(o)] for o in node.outputs])
    return {v.name: env[id(v)] for v in graph.outputs}
