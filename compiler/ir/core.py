"""The SSA core: Value, Node, Graph.

A value is produced once (by a node, or it is a graph input or a constant)
and knows its uses; mutating a node's inputs keeps those use lists right.
Backend state (schedules, offsets, regions) never lives here: analyses key
their results by value or node.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyc.ir.types import QuantParams, TensorType

if TYPE_CHECKING:
    from tinyc.ir.opdef import OpDef


@dataclass(frozen=True)
class Loc:
    """Where a node came from: ONNX node names, PyTorch frames; fused nodes merge them."""

    parts: tuple[str, ...] = ()

    @classmethod
    def of(cls, *parts: str) -> Loc:
        return cls(tuple(p for p in parts if p))

    def fuse(self, *others: Loc) -> Loc:
        seen: list[str] = list(self.parts)
        for other in others:
            for p in other.parts:
                if p not in seen:
                    seen.append(p)
        return Loc(tuple(seen))

    def __str__(self) -> str:
        return " + ".join(self.parts) if self.parts else "?"


UNKNOWN_LOC = Loc()


class Value:
    """An SSA value: a graph input, a constant, or a node output."""

    __slots__ = ("name", "type", "producer", "index", "const", "_uses")

    def __init__(self, name: str, type: TensorType, *, const: np.ndarray | None = None) -> None:
        self.name = name
        self.type = type
        self.producer: Node | None = None
        self.index = 0
        self.const = const
        self._uses: list[tuple[Node, int]] = []

    @property
    def uses(self) -> list[tuple[Node, int]]:
        """(node, input index) pairs that read this value; a copy."""
        return list(self._uses)

    @property
    def users(self) -> list[Node]:
        out: list[Node] = []
        for node, _ in self._uses:
            if node not in out:
                out.append(node)
        return out

    @property
    def is_const(self) -> bool:
        return self.const is not None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> Any:
        return self.type.dtype

    @property
    def quant(self) -> QuantParams | None:
        return self.type.quant

    def replace_all_uses_with(self, other: Value) -> None:
        for node, idx in list(self._uses):
            node.set_input(idx, other)

    def __repr__(self) -> str:
        return f"Value(%{self.name}: {self.type})"


class Node:
    """One operation: an op definition, typed attributes, inputs, outputs, location."""

    __slots__ = ("op", "attrs", "_inputs", "outputs", "name", "loc", "graph")

    def __init__(
        self,
        op: OpDef,
        inputs: Sequence[Value | None],
        outputs: Sequence[Value],
        attrs: Any = None,
        *,
        name: str = "",
        loc: Loc = UNKNOWN_LOC,
    ) -> None:
        self.op = op
        self.attrs = op.Attrs() if attrs is None else attrs
        self._inputs: list[Value | None] = []
        self.outputs = list(outputs)
        self.name = name
        self.loc = loc
        self.graph: Graph | None = None
        for v in inputs:
            self._inputs.append(v)
            if v is not None:
                v._uses.append((self, len(self._inputs) - 1))
        for i, out in enumerate(self.outputs):
            out.producer = self
            out.index = i

    @property
    def inputs(self) -> tuple[Value | None, ...]:
        return tuple(self._inputs)

    def input(self, i: int) -> Value:
        """Input ``i``, which must be present."""
        v = self._inputs[i]
        if v is None:
            raise IndexError(f"{self.op.name} node {self.name!r} has no input {i}")
        return v

    def opt_input(self, i: int) -> Value | None:
        return self._inputs[i] if i < len(self._inputs) else None

    @property
    def output(self) -> Value:
        """The single output (most ops have one)."""
        return self.outputs[0]

    def set_input(self, i: int, v: Value | None) -> None:
        old = self._inputs[i]
        if old is not None:
            old._uses.remove((self, i))
        self._inputs[i] = v
        if v is not None:
            v._uses.append((self, i))

    def set_inputs(self, values: Sequence[Value | None]) -> None:
        self.drop_inputs()
        for v in values:
            self._inputs.append(v)
            if v is not None:
                v._uses.append((self, len(self._inputs) - 1))

    def drop_inputs(self) -> None:
        """Detach from all inputs (before removing the node)."""
        for i, v in enumerate(self._inputs):
            if v is not None:
                v._uses.remove((self, i))
        self._inputs = []

    def __repr__(self) -> str:
        ins = ", ".join("_" if v is None else f"%{v.name}" for v in self._inputs)
        outs = ", ".join(f"%{v.name}" for v in self.outputs)
        return f"Node({outs} = {self.op.name}({ins}) @{self.loc})"


class Graph:
    """Inputs, constants, nodes in a valid topological order, outputs."""

    def __init__(self, name: str = "main") -> None:
        self.name = name
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.constants: list[Value] = []
        self._nodes: list[Node] = []
        self._names: set[str] = set()
        self._counter = itertools.count()

    # -- naming -----------------------------------------------------------
    def unique_name(self, hint: str) -> str:
        hint = hint or "v"
        if hint not in self._names:
            self._names.add(hint)
            return hint
        while True:
            cand = f"{hint}_{next(self._counter)}"
            if cand not in self._names:
                self._names.add(cand)
                return cand

    def _claim(self, name: str) -> str:
        if name in self._names:
            raise ValueError(f"value name {name!r} is already used in graph {self.name!r}")
        self._names.add(name)
        return name

    # -- building ---------------------------------------------------------
    def add_input(self, name: str, type: TensorType) -> Value:
        v = Value(self._claim(name), type)
        self.inputs.append(v)
        return v

    def add_const(self, name: str, data: np.ndarray, quant: QuantParams | None = None) -> Value:
        """A constant value; ``name`` is made unique if taken."""
        # ascontiguousarray turns 0-d arrays into 1-d ones; keep scalars scalar.
        arr = np.ascontiguousarray(data).reshape(np.shape(data))
        v = Value(self.unique_name(name), TensorType.of_array(arr, quant), const=arr)
        self.constants.append(v)
        return v

    def add_node(
        self,
        op: OpDef,
        inputs: Sequence[Value | None],
        attrs: Any = None,
        *,
        name: str = "",
        loc: Loc = UNKNOWN_LOC,
        output_names: Sequence[str] | None = None,
        output_types: Sequence[TensorType] | None = None,
        before: Node | None = None,
    ) -> Node:
        """Create a node, infer its output types (unless given), append it (or insert before ``before``)."""
        attrs = op.Attrs() if attrs is None else attrs
        if output_types is None:
            output_types = op.infer(attrs, list(inputs))
        names = list(output_names) if output_names is not None else [name or op.name.lower()] * len(output_types)
        outs = [Value(self.unique_name(n), t) for n, t in zip(names, output_types)]
        node = Node(op, inputs, outs, attrs, name=name or outs[0].name, loc=loc)
        node.graph = self
        if before is None:
            self._nodes.append(node)
        else:
            self._nodes.insert(self._nodes.index(before), node)
        return node

    def insert_node(self, node: Node, index: int | None = None) -> None:
        for out in node.outputs:
            self._claim(out.name)
        node.graph = self
        if index is None:
            self._nodes.append(node)
        else:
            self._nodes.insert(index, node)

    # -- mutation ---------------------------------------------------------
    def remove_node(self, node: Node) -> None:
        """Remove a node whose outputs are unused (or about to be rerouted)."""
        for out in node.outputs:
            if out._uses:
                raise ValueError(f"cannot remove {node!r}: output %{out.name} still has uses")
            if out in self.outputs:
                raise ValueError(f"cannot remove {node!r}: output %{out.name} is a graph output")
        node.drop_inputs()
        self._nodes.remove(node)
        node.graph = None
        for out in node.outputs:
            self._names.discard(out.name)

    def replace_value(self, old: Value, new: Value) -> None:
        """Reroute every use of ``old`` (including graph outputs) to ``new``."""
        old.replace_all_uses_with(new)
        self.outputs = [new if v is old else v for v in self.outputs]

    def rename_value(self, v: Value, name: str) -> None:
        """Give ``v`` the (free) name ``name``; passes use it to keep value names stable."""
        if name == v.name:
            return
        self._claim(name)
        self._names.discard(v.name)
        v.name = name

    def set_order(self, nodes: Sequence[Node]) -> None:
        if set(map(id, nodes)) != set(map(id, self._nodes)) or len(nodes) != len(self._nodes):
            raise ValueError("set_order needs a permutation of the graph's nodes")
        self._nodes = list(nodes)

    def prune_constants(self) -> bool:
        """Drop constants nobody uses; returns whether any were dropped."""
        keep = [c for c in self.constants if c._uses or c in self.outputs]
        changed = len(keep) != len(self.constants)
        for c in self.constants:
            if c not in keep:
                self._names.discard(c.name)
        self.constants = keep
        return changed

    # -- reading ----------------------------------------------------------
    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(list(self._nodes))

    def __len__(self) -> int:
        return len(self._nodes)

    def values(self) -> Iterable[Value]:
        yield from self.inputs
        yield from self.constants
        for n in self._nodes:
            yield from n.outputs

    def value(self, name: str) -> Value:
        for v in self.values():
            if v.name == name:
                return v
        raise KeyError(name)

    def node(self, name: str) -> Node:
        for n in self._nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.inputs)} inputs, {len(self._nodes)} nodes, {len(self.outputs)} outputs)"
