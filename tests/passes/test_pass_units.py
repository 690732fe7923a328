"""Pass contracts: names, the changed flag, idempotence, size guards, name stability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyc.frontends.onnx.importer import import_model, load_onnx
from tinyc.ir.parser import parse_graph
from tinyc.ir.printer import print_graph
from tinyc.passes import PassOptions, default_pipeline, mcu_pipeline, run_passes
from tinyc.passes.fold import MAX_GROWN_BYTES, fold_constants, fold_constants_pass
from tinyc.passes.rewrite import emit, forward, intersect_clamps, replace_node

from .onnx_models import nchw_cnn


def test_pipelines_are_plain_lists_of_named_passes() -> None:
    assert [p.name for p in default_pipeline()] == ["fold-constants", "canonicalize", "fold-constants", "cse", "dce"]
    names = [p.name for p in mcu_pipeline()]
    assert names[:5] == [p.name for p in default_pipeline()]
    assert names[5:] == ["fold-dequantize-weights", "canonicalize", "to-nhwc", "canonicalize", "fold-constants", "fuse", "cse", "dce"]
    assert all(p.doc for p in mcu_pipeline())


def _second_run_changes(graph) -> list[str]:  # noqa: ANN001
    _, report = run_passes(graph, mcu_pipeline(), PassOptions(verify_each=True))
    return [t.name for t in report.timings if t.changed]


def test_mcu_pipeline_is_idempotent_on_a_cnn() -> None:
    graph, _ = run_passes(import_model(nchw_cnn()), mcu_pipeline())
    text = print_graph(graph)
    assert _second_run_changes(graph) == []
    assert print_graph(graph) == text


def test_mcu_pipeline_is_idempotent_on_kws(kws_float: Path) -> None:
    graph, _ = run_passes(load_onnx(kws_float), mcu_pipeline())
    assert _second_run_changes(graph) == []


def test_fold_refuses_to_grow_constants_past_the_limit() -> None:
    side = int(np.sqrt(MAX_GROWN_BYTES / 4)) + 8
    graph = parse_graph(f"""graph @g(%x: f32[{side},{side}], %s: f32[2,2]) {{
      %big = ConstantOfShape() {{shape = [{side}, {side}], value = 1.0}}
      %small = ConstantOfShape() {{shape = [2, 2], value = 1.0}}
      %y = Add(%x, %big)
      %z = Add(%s, %small)
      return %y, %z
    }}""")
    assert fold_constants(graph).changed
    assert [n.op.name for n in graph.nodes] == ["ConstantOfShape", "Add", "Add"]
    assert graph.value("small").is_const


def test_fold_keeps_quantize_dequantize_unless_asked() -> None:
    text = """graph @g(%x: f32[2]) {
      %q = const i8[2] dense<[10, -4]>
      %w = DequantizeLinear(%q) {scale = [0.25]}
      %y = Mul(%x, %w)
      return %y
    }"""
    g = parse_graph(text)
    assert not fold_constants(g).changed
    g = parse_graph(text)
    assert fold_constants_pass(fold_qdq=True)(g).changed
    assert g.value("w").const.tolist() == [2.5, -1.0]


def test_replace_node_keeps_the_graph_output_name() -> None:
    g = parse_graph("""graph @g(%x: f32[4]) {
      %a = Relu(%x)
      %y = Neg(%a)
      return %y
    }""")
    neg = g.node("y")
    new = emit(g, "Abs", [neg.input(0)], before=neg, loc=neg.loc)
    assert replace_node(g, neg, new.output)
    assert [v.name for v in g.outputs] == ["y"] and g.outputs[0].producer.op.name == "Abs"
    assert g.outputs[0].producer.name == "y"


def test_forward_cannot_rename_a_graph_input() -> None:
    g = parse_graph("""graph @g(%x: f32[4]) {
      %y = Identity(%x)
      return %y
    }""")
    assert not forward(g, g.node("y"), g.inputs[0])
    assert len(g.nodes) == 1


@pytest.mark.parametrize(
    "a,b,want",
    [
        ((0.0, None), (None, 6.0), (0.0, 6.0)),
        ((0.0, 6.0), (-1.0, 1.0), (0.0, 1.0)),
        ((None, None), (None, None), (None, None)),
        ((1.0, 2.0), (3.0, 4.0), None),
    ],
)
def test_intersect_clamps(a: tuple, b: tuple, want: tuple | None) -> None:
    assert intersect_clamps(a, b) == want
