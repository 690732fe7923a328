"""Fusion rule add-relu: golden cases and its refusal reasons."""

from __future__ import annotations

from pathlib import Path

from tinyc.passes.fusions.add_relu import RULE
from tinyc.testing import run_golden

from .fusion_helpers import refusals, rule_pass

GOLDEN = Path(__file__).parent / "golden" / "fusion_add_relu.ir"


def test_golden() -> None:
    assert run_golden(GOLDEN, rule_pass(RULE)) == 3


def test_refusal_reasons() -> None:
    text = """graph @g(%x: i32[4], %f: f32[4]) {
      %a = Add(%x, %x)
      %r = Relu(%a)
      %b = Add(%f, %f)
      %s = Relu(%b)
      %t = Mul(%b, %s)
      return %r, %t
    }"""
    assert refusals(RULE, text) == [
        ("a", "Add 'a' is not a float op (quantized kernels clamp through their output range)"),
        ("b", "the Add output %b has 2 readers; fusing would change what the others see"),
    ]
