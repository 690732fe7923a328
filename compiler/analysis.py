"""Per-layer analysis: op, output shape, parameters, MACs, with totals.

Nodes that only prepare weights (e.g. DequantizeLinear on a constant) are not
layers: their constants are counted as parameters of the layer that uses them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tinyc.ir import Graph, Node, Value


@dataclass
class LayerRow:
    index: int
    name: str
    op: str
    loc: str
    output_shapes: list[list[int]]
    output_dtype: str
    params: int
    param_bytes: int
    macs: int


@dataclass
class GraphAnalysis:
    model: str
    layers: list[LayerRow] = field(default_factory=list)
    total_params: int = 0
    total_param_bytes: int = 0
    total_macs: int = 0
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _const_derived(graph: Graph) -> set[int]:
    """Ids of values computed from constants only (weights and their preparation)."""
    derived = {id(c) for c in graph.constants}
    for node in graph.nodes:
        ins = [v for v in node.inputs if v is not None]
        if ins and all(id(v) in derived for v in ins):
            derived.update(id(o) for o in node.outputs)
    return derived


def _weight_leaves(v: Value, derived: set[int], seen: set[int]) -> list[Value]:
    """The constants a constant-derived value is computed from."""
    if id(v) in seen:
        return []
    seen.add(id(v))
    if v.is_const:
        return [v]
    node = v.producer
    if node is None or id(v) not in derived:
        return []
    out: list[Value] = []
    # through (de)quantization only the data counts; scales and zero points are metadata
    ins = node.inputs[:1] if node.op.name in ("DequantizeLinear", "QuantizeLinear") else node.inputs
    for i in ins:
        if i is not None:
            out.extend(_weight_leaves(i, derived, seen))
    return out


def analyze_graph(graph: Graph, model_name: str = "") -> GraphAnalysis:
    derived = _const_derived(graph)
    counted: set[int] = set()
    result = GraphAnalysis(model_name or graph.name)
    result.inputs = [{"name": v.name, "shape": list(v.shape), "dtype": v.type.dtype.short} for v in graph.inputs]
    result.outputs = [{"name": v.name, "shape": list(v.shape), "dtype": v.type.dtype.short} for v in graph.outputs]
    layer_nodes: list[Node] = [n for n in graph.nodes if not all(id(o) in derived for o in n.outputs)]
    for idx, node in enumerate(layer_nodes):
        params = 0
        pbytes = 0
        for v in node.inputs:
            if v is None or id(v) not in derived:
                continue
            for leaf in _weight_leaves(v, derived, set()):
                if id(leaf) in counted:
                    continue
                counted.add(id(leaf))
                params += leaf.type.numel
                pbytes += leaf.type.nbytes
        macs = node.op.macs(node.attrs, [None if v is None else v.type for v in node.inputs], [o.type for o in node.outputs])
        row = LayerRow(
            index=idx,
            name=node.name,
            op=node.op.name,
            loc=str(node.loc),
            output_shapes=[list(o.shape) for o in node.outputs],
            output_dtype=node.outputs[0].type.dtype.short,
            params=params,
            param_bytes=pbytes,
            macs=int(macs),
        )
        result.layers.append(row)
        result.total_params += params
        result.total_param_bytes += pbytes
        result.total_macs += int(macs)
    return result


def format_table(rows: list[list[str]], header: list[str], align: str) -> str:
    """A plain text table; ``align`` has one 'l' or 'r' per column."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else [len(h) for h in header]
    def fmt(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) if a == "l" else str(c).rjust(w) for c, w, a in zip(cells, widths, align)).rstrip()
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), sep, *(fmt(r) for r in rows)])


def layer_table(a: GraphAnalysis) -> str:
    rows = [
        [str(r.index), r.name[:40], r.op, " ".join("x".join(map(str, s)) for s in r.output_shapes), f"{r.params:,}", f"{r.macs:,}"]
        for r in a.layers
    ]
    rows.append(["", "total", "", "", f"{a.total_params:,}", f"{a.total_macs:,}"])
    return format_table(rows, ["#", "layer", "op", "output", "params", "MACs"], "rllrrr")
