"""Fusion rule pool-act: golden cases and its refusal reasons."""

from __future__ import annotations

from pathlib import Path

from tinyc.passes.fusions.pool_act import RULE
from tinyc.testing import run_golden

from .fusion_helpers import refusal, rule_pass

GOLDEN = Path(__file__).parent / "golden" / "fusion_pool_act.ir"


def test_golden() -> None:
    assert run_golden(GOLDEN, rule_pass(RULE)) == 3


def test_refuses_a_shared_pool_output() -> None:
    text = """graph @g(%x: f32[1,4,4,2]) {
      %p = MaxPool2D(%x) {kernel = [2, 2]}
      %r = Relu(%p)
      %y = Add(%p, %r)
      return %y
    }"""
    assert refusal(RULE, text, "p") == "the MaxPool2D output %p has 2 readers; fusing would change what the others see"


def test_refuses_disjoint_clamps() -> None:
    text = """graph @g(%x: f32[1,4,4,2]) {
      %p = AvgPool2D(%x) {kernel = [2, 2], act_min = 1.0}
      %r = Clip(%p) {max = 0.5}
      return %r
    }"""
    assert refusal(RULE, text, "p") == "the clamps [1.0, None] and [None, 0.5] do not overlap"
