"""The ``cmsis-io-boundary`` pass: the int8 graph the C implements, without float edges.

After quantization a model's inputs are float and go through QuantizeLinear,
and its outputs come out of DequantizeLinear. The generated ``<name>_run``
takes and returns the int8 (int16 for int16x8) tensors; ``<name>_run_float`` does the
(de)quantization in C with the same arithmetic as those nodes. This pass
drops the edge nodes so graph inputs and outputs are the int8 values, and
gives them the original input/output names.
"""

from __future__ import annotations

from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Graph, Value
from tinyc.ir.dtypes import DType
from tinyc.passes.manager import graph_pass

IO_DTYPES = (DType.I8, DType.I16)  # int8 models, and int16x8 ones (int16 activations)


def _rename(graph: Graph, keep: Value, old: Value) -> None:
    """Give ``keep`` the name of ``old`` (which goes away); ``old`` gets a free ``<name>_float`` name."""
    name = old.name
    for k in range(1000):
        try:
            graph.rename_value(old, f"{name}_float" if k == 0 else f"{name}_float_{k}")
            break
        except ValueError:
            continue
    graph.rename_value(keep, name)


def _strip_inputs(graph: Graph) -> bool:
    changed = False
    for i, x in enumerate(list(graph.inputs)):
        if not x.type.dtype.is_float:
            continue
        users = x.users
        if not users or any(u.op.name != "QuantizeLinear" for u in users) or x in graph.outputs:
            where = ", ".join(f"{u.op.name} {u.name!r}" for u in users if u.op.name != "QuantizeLinear") or "a graph output"
            raise UnsupportedOpError(
                f"float input {x.name!r} is read by {where}; the cmsis_nn backend runs int8 graphs only",
                hint="quantize the model (tinyc compile --calib DATA) so every input goes through QuantizeLinear",
            )
        types = {u.output.type for u in users}
        if len(types) != 1:
            raise UnsupportedOpError(f"input {x.name!r} is quantized {len(types)} different ways", hint="quantize each input once")
        t = users[0].output.type
        if t.dtype not in IO_DTYPES or t.quant is None or not t.quant.is_per_tensor:
            raise UnsupportedOpError(f"input {x.name!r} is quantized to {t} ; the backend takes int8 or int16 per-tensor inputs")
        new = Value(graph.unique_name(f"{x.name}_q"), t)
        for u in users:
            graph.replace_value(u.output, new)
            graph.remove_node(u)
        graph.inputs[i] = new
        _rename(graph, new, x)
        changed = True
    return changed


def _strip_outputs(graph: Graph) -> bool:
    changed = False
    for i, y in enumerate(list(graph.outputs)):
        if not y.type.dtype.is_float:
            continue
        node = y.producer
        if node is None or node.op.name != "DequantizeLinear":
            what = "a graph input" if node is None else f"{node.op.name} {node.name!r}"
            raise UnsupportedOpError(
                f"float output {y.name!r} comes from {what}; the cmsis_nn backend runs int8 graphs only",
                hint="quantize the model (tinyc compile --calib DATA) so every output comes out of DequantizeLinear",
            )
        q = node.input(0)
        if q.type.dtype not in IO_DTYPES or q.type.quant is None or not q.type.quant.is_per_tensor:
            raise UnsupportedOpError(f"output {y.name!r} dequantizes {q.type}; the backend returns int8 or int16 per-tensor outputs")
        renamable = q not in graph.inputs and q not in graph.outputs
        graph.outputs[i] = q
        if not y.uses and y not in graph.outputs:
            if renamable:
                _rename(graph, q, y)
            graph.remove_node(node)
        changed = True
    return changed


@graph_pass("cmsis-io-boundary")
def strip_io_quantization(graph: Graph) -> bool:
    """Drop QuantizeLinear on inputs and DequantizeLinear on outputs: the C runs the int8 graph between them."""
    changed = _strip_inputs(graph)
    changed = _strip_outputs(graph) or changed
    return changed
