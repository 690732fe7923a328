"""Single-op ONNX models and a checker that compares tinyc's reference interpreter with onnxruntime.

Used by the op conformance tests (``tests/ops/test_*_conformance.py``). The test
folder has no ``__init__.py``; pytest puts it on ``sys.path``, so tests import
this module as ``from onnx_helpers import make_model, check_against_ort``.

Input specs for ``make_model`` are ``(name, value)`` pairs:

* ``(name, np.ndarray)``  -> a constant initializer holding that array;
* ``(name, None)``        -> a graph input; its dtype and shape come from
  ``feeds[name]`` (pass ``feeds=`` to ``make_model``) or from ``input_types``;
* ``("", None)``          -> an omitted optional input (ONNX empty name).

``Feed(array)`` as the value is shorthand for a graph input typed like ``array``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from tinyc.frontends.onnx import import_model
from tinyc.interpreter import run_graph
from tinyc.ir import Graph, verify


@dataclass(frozen=True)
class Feed:
    """Marks a graph input in ``make_model``'s input list; the array gives its type (and feed value)."""

    array: np.ndarray


InputSpec = tuple[str, "np.ndarray | Feed | None"]


def _tensor_type(arr: np.ndarray) -> tuple[int, list[int]]:
    return helper.np_dtype_to_tensor_dtype(np.asarray(arr).dtype), list(np.asarray(arr).shape)


def make_model(
    op_type: str,
    inputs: Sequence[InputSpec],
    attrs: Mapping[str, Any] | None = None,
    opset: int = 17,
    n_outputs: int = 1,
    *,
    feeds: Mapping[str, np.ndarray] | None = None,
    input_types: Mapping[str, tuple[np.dtype | type, Sequence[int]]] | None = None,
    ir_version: int = 8,
    check: bool = True,
) -> onnx.ModelProto:
    """A checked model of one ``op_type`` node with the given inputs, attributes and opset.

    Outputs are named ``y0``, ``y1``, ...; their types come from ONNX shape
    inference. ``check=False`` skips shape inference and the ONNX checker (to
    build malformed models for error tests); outputs are then typed float.
    """
    feeds = dict(feeds or {})
    input_types = dict(input_types or {})
    node_inputs: list[str] = []
    graph_inputs: list[onnx.ValueInfoProto] = []
    inits: list[onnx.TensorProto] = []
    for name, value in inputs:
        node_inputs.append(name)
        if not name:
            continue
        if isinstance(value, Feed):
            elem, shape = _tensor_type(value.array)
            graph_inputs.append(helper.make_tensor_value_info(name, elem, shape))
        elif value is None:
            if name in feeds:
                elem, shape = _tensor_type(feeds[name])
            elif name in input_types:
                dt, shp = input_types[name]
                elem, shape = helper.np_dtype_to_tensor_dtype(np.dtype(dt)), list(shp)
            else:
                raise ValueError(f"graph input {name!r} needs feeds[{name!r}] or input_types[{name!r}]")
            graph_inputs.append(helper.make_tensor_value_info(name, elem, shape))
        else:
            inits.append(numpy_helper.from_array(np.asarray(value), name))
    while node_inputs and not node_inputs[-1]:
        node_inputs.pop()
    outs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, node_inputs, outs, name=f"{op_type}_0", **dict(attrs or {}))
    graph = helper.make_graph(
        [node],
        f"single_{op_type}",
        graph_inputs,
        [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in outs],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version)
    if not check:
        del model.graph.output[:]
        model.graph.output.extend(helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None) for o in outs)
        return model
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    known = {vi.name: vi for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
    del model.graph.output[:]
    for o in outs:
        vi = known.get(o)
        if vi is not None and vi.type.tensor_type.elem_type:
            model.graph.output.append(vi)
        else:
            model.graph.output.append(helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None))
    onnx.checker.check_model(model)
    return model


def feeds_of(inputs: Sequence[InputSpec]) -> dict[str, np.ndarray]:
    """The feed dictionary for the ``Feed(...)`` entries of an input list."""
    return {name: value.array for name, value in inputs if isinstance(value, Feed)}


def run_ort(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Run a model on onnxruntime's CPU provider (no graph optimisations, one thread)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return list(sess.run(None, dict(feeds)))


def check_against_ort(
    model: onnx.ModelProto,
    feeds: Mapping[str, np.ndarray],
    rtol: float = 1e-5,
    atol: float = 1e-4,
    *,
    expect_op: str | None = None,
) -> Graph:
    """Import ``model`` into tinyc, verify the graph, run the reference interpreter and onnxruntime, compare.

    ``expect_op`` (an IR op name) additionally asserts the imported graph holds
    such a node, i.e. the op was not folded away at import. Returns the graph.
    """
    graph = import_model(model)
    verify(graph, where="import")
    if expect_op is not None:
        ops = [n.op.name for n in graph.nodes]
        assert expect_op in ops, f"expected a {expect_op} node after import, got {ops}"
    ours = run_graph(graph, dict(feeds))
    theirs = run_ort(model, feeds)
    assert len(graph.outputs) == len(theirs), f"{len(graph.outputs)} outputs vs onnxruntime's {len(theirs)}"
    for v, ref in zip(graph.outputs, theirs, strict=True):
        got = ours[v.name]
        assert got.shape == ref.shape, f"output {v.name}: shape {got.shape} vs onnxruntime {ref.shape}"
        assert got.dtype == ref.dtype, f"output {v.name}: dtype {got.dtype} vs onnxruntime {ref.dtype}"
        if ref.dtype.kind in "fc":
            np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, err_msg=f"output {v.name}")
        else:
            np.testing.assert_array_equal(got, ref, err_msg=f"output {v.name}")
    return graph


def run_single_op_onnx(
    op_type: str,
    inputs: Sequence[InputSpec],
    attrs: Mapping[str, Any] | None = None,
    opset: int = 17,
    *,
    n_outputs: int = 1,
    rtol: float = 1e-5,
    atol: float = 1e-4,
    expect_op: str | None = None,
) -> Graph:
    """Build a one-node model (graph inputs given as ``Feed(array)``) and check it against onnxruntime."""
    feeds = feeds_of(inputs)
    model = make_model(op_type, inputs, attrs, opset, n_outputs, feeds=feeds)
    return check_against_ort(model, feeds, rtol, atol, expect_op=expect_op)
