"""Golden IR-text tests of the graph passes: input IR, one pass, expected IR, same numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyc.passes.canonicalize import canonicalize
from tinyc.passes.cleanup import cse, dce
from tinyc.passes.fold import fold_constants, fold_constants_pass, fold_dequantize_weights
from tinyc.passes.fusions import fuse
from tinyc.passes.layout import to_nhwc
from tinyc.testing import run_golden

GOLDEN = Path(__file__).parent / "golden"

CASES = {
    "canonicalize_shapes.ir": canonicalize,
    "canonicalize_linear.ir": canonicalize,
    "canonicalize_pad.ir": canonicalize,
    "fold_constants.ir": fold_constants,
    "fold_qdq.ir": fold_constants_pass(fold_qdq=True),
    "fold_dequantize_weights.ir": fold_dequantize_weights,
    "dce.ir": dce,
    "cse.ir": cse,
    "to_nhwc.ir": to_nhwc,
    "fuse.ir": fuse,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    path = GOLDEN / name
    if not path.exists():
        pytest.fail(f"golden file {name} is missing")
    assert run_golden(path, CASES[name]) >= 1


def test_every_golden_file_is_run() -> None:
    assert sorted(p.name for p in GOLDEN.glob("*.ir") if not p.name.startswith("fusion_")) == sorted(CASES)
