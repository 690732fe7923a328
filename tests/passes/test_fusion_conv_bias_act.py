"""Fusion rule conv-bias-act: golden cases, and the reasons its check gives when it refuses."""

from __future__ import annotations

from pathlib import Path

from tinyc.passes.fusions.conv_bias_act import RULE
from tinyc.testing import run_golden

from .fusion_helpers import refusal, refusals, rule_pass

GOLDEN = Path(__file__).parent / "golden" / "fusion_conv_bias_act.ir"


def test_golden() -> None:
    assert run_golden(GOLDEN, rule_pass(RULE)) == 8


def test_refuses_when_the_conv_output_has_another_reader() -> None:
    text = """graph @g(%x: f32[1,2,2,2]) {
      %w = const f32[2,1,1,2] dense<[1, -1, 2, 0.5]>
      %c = Conv2D(%x, %w)
      %r = Relu(%c)
      %s = Add(%c, %r)
      return %s
    }"""
    reason = refusal(RULE, text, "c")
    assert reason == "the Conv2D output %c has 2 readers; fusing would change what the others see"


def test_refuses_graph_outputs_and_non_channel_constants() -> None:
    text = """graph @g(%x: f32[1,2,2,2]) {
      %w = const f32[2,1,1,2] dense<[1, -1, 2, 0.5]>
      %k = const f32[1,1,2,1] dense<[3, 4]>
      %c2 = Conv2D(%x, %w)
      %a2 = Add(%c2, %k)
      %c3 = Conv2D(%x, %w)
      %r3 = Relu(%c3)
      return %a2, %r3, %c3
    }"""
    assert refusals(RULE, text) == [
        ("c2", "the added constant of shape [1, 1, 2, 1] is not one value per output channel"),
        ("c3", "the Conv2D output %c3 is a graph output"),
    ]


def test_refuses_a_bias_after_an_existing_clamp() -> None:
    text = """graph @g(%x: f32[1,2]) {
      %w = const f32[2,2] dense<[1, -1, 2, 0.5]>
      %b = const f32[2] dense<[3, 4]>
      %f = FullyConnected(%x, %w) {act_min = 0.0}
      %a = Add(%f, %b)
      return %a
    }"""
    assert refusal(RULE, text, "f") == "FullyConnected 'f' already clamps; the bias after it cannot move inside"


def test_refuses_clamps_that_do_not_overlap() -> None:
    text = """graph @g(%x: f32[1,2]) {
      %w = const f32[2,2] dense<[1, -1, 2, 0.5]>
      %f = FullyConnected(%x, %w) {act_max = -1.0}
      %r = Relu(%f)
      return %r
    }"""
    assert refusal(RULE, text, "f") == "the clamps [None, -1.0] and [0.0, None] do not overlap"


def test_no_match_without_bias_or_clamp() -> None:
    from tinyc.ir.parser import parse_graph

    g = parse_graph("""graph @g(%x: f32[1,2]) {
      %w = const f32[2,2] dense<[1, -1, 2, 0.5]>
      %f = FullyConnected(%x, %w)
      %s = Sigmoid(%f)
      return %s
    }""")
    assert RULE.pattern(g.node("f")) is None
    assert RULE.pattern(g.node("s")) is None
