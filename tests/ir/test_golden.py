"""tinyc.testing: golden IR-text tests catch wrong text, wrong numbers and broken contracts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyc.errors import ShapeError
from tinyc.ir import OPS, Graph
from tinyc.passes.manager import PassResult
from tinyc.testing import filecheck, load_golden, run_golden

GOLDEN = Path(__file__).parent / "golden"


def collapse_double_relu(graph: Graph) -> bool:
    """Relu(Relu(x)) -> Relu(x)."""
    changed = False
    for node in graph:
        src = node.inputs[0]
        if node.op.name == "Relu" and src is not None and src.producer is not None and src.producer.op.name == "Relu":
            graph.replace_value(node.output, src)
            graph.remove_node(node)
            changed = True
    return changed


def relu_to_identity(graph: Graph) -> bool:
    """A wrong pass: the text can look plausible, the numbers cannot."""
    for node in graph:
        if node.op.name == "Relu":
            new = graph.add_node(OPS["Identity"], [node.input(0)], before=node, output_names=[node.output.name + "_x"])
            graph.replace_value(node.output, new.output)
            graph.remove_node(node)
            return True
    return False


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "case.ir"
    p.write_text(text)
    return p


def test_the_example_golden_file_passes() -> None:
    assert run_golden(GOLDEN / "double_relu.ir", collapse_double_relu) == 3


def test_pass_results_are_accepted() -> None:
    assert run_golden(GOLDEN / "double_relu.ir", lambda g: PassResult(g, collapse_double_relu(g))) == 3


def test_a_pass_that_does_nothing_fails_the_checks() -> None:
    with pytest.raises(AssertionError) as info:
        run_golden(GOLDEN / "double_relu.ir", lambda g: None)
    msg = str(info.value)
    assert "2 of 3 golden cases failed" in msg
    assert "double_relu.ir:5:" in msg  # the failing case, by file and line
    assert "line 12: CHECK-NEXT '%c = Add(%a, %x)'" in msg
    assert "+  %b = Relu(%a) : f32[4] loc(\"Relu_1\")" in msg  # a diff against the EXPECT block


def test_numbers_are_checked_before_and_after(tmp_path: Path) -> None:
    path = write(tmp_path, """
graph @g(%x: f32[8]) {
  %a = Neg(%x)
  %b = Relu(%a)
  return %b
}
// CHECK: Identity
""")
    with pytest.raises(AssertionError, match=r"output 0 \(%b_x\) changed numerically"):
        run_golden(path, relu_to_identity)
    path.write_text(path.read_text() + "// NUMERICS: off\n")
    assert run_golden(path, relu_to_identity) == 1


def test_tolerances(tmp_path: Path) -> None:
    def add_tiny(graph: Graph) -> bool:
        out = graph.outputs[0]
        eps = graph.add_const("eps", np.full(out.shape, 1e-3, np.float32))
        graph.outputs = [graph.add_node(OPS["Add"], [out, eps]).output]
        return True

    text = "graph @g(%x: f32[3]) {\n  %y = Relu(%x)\n  return %y\n}\n// CHECK: Add\n"
    with pytest.raises(AssertionError, match="changed numerically"):
        run_golden(write(tmp_path, text), add_tiny)
    assert run_golden(write(tmp_path, text + "// NUMERICS: rtol=0 atol=2e-3\n"), add_tiny) == 1


def test_unchanged_and_the_changed_flag(tmp_path: Path) -> None:
    text = "graph @g(%x: f32[3]) {\n  %a = Relu(%x)\n  %b = Relu(%a)\n  return %b\n}\n// EXPECT-UNCHANGED\n"
    with pytest.raises(AssertionError, match="-  %b = Relu"):
        run_golden(write(tmp_path, text), collapse_double_relu)
    lying = write(tmp_path, text.replace("EXPECT-UNCHANGED", "CHECK: Relu"))
    with pytest.raises(AssertionError, match="reported no change but the graph's text changed"):
        run_golden(lying, lambda g: PassResult(g, not collapse_double_relu(g)))


def test_expected_errors(tmp_path: Path) -> None:
    def refuse(graph: Graph) -> bool:
        raise ShapeError("cannot do this shape")

    text = "graph @g(%x: f32[3]) {\n  return %x\n}\n// EXPECT-ERROR: this shape\n"
    assert run_golden(write(tmp_path, text), refuse) == 1
    with pytest.raises(AssertionError, match="expected the pass to fail"):
        run_golden(write(tmp_path, text), lambda g: False)
    with pytest.raises(AssertionError, match="the pass raised ShapeError"):
        run_golden(write(tmp_path, text.replace("EXPECT-ERROR: this shape", "CHECK: x")), refuse)


def test_bad_golden_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown directive"):
        load_golden(write(tmp_path, "graph @g(%x: f32[3]) {\n  return %x\n}\n// CHECK-LABEL: g\n"))
    with pytest.raises(ValueError, match="needs CHECK lines"):
        load_golden(write(tmp_path, "graph @g(%x: f32[3]) {\n  return %x\n}\n"))
    bad_ir = "graph @a(%x: f32[3]) {\n  return %x\n}\n// CHECK: x\n// -----\ngraph @b(%x: f32[3]) {\n  %y = Rleu(%x)\n  return %y\n}\n// CHECK: y\n"
    with pytest.raises(AssertionError) as info:
        run_golden(write(tmp_path, bad_ir), lambda g: False)
    assert "case.ir:7:8: unknown op 'Rleu'" in str(info.value)


def test_filecheck() -> None:
    out = "graph @g() {\n  %a = Relu(%x)\n  %b = Add(%a, %a)\n  return %b\n}"
    assert filecheck(out, [("CHECK", "Relu", 1), ("CHECK-NEXT", "%b   =  Add", 2), ("CHECK-NOT", "Mul", 3), ("CHECK", "return", 4)]) == []
    assert filecheck(out, [("CHECK", "Add", 1), ("CHECK", "Relu", 2)]) == ["line 2: CHECK 'Relu' not found after output line 3"]
    assert filecheck(out, [("CHECK", "graph", 1), ("CHECK-NOT", "Relu", 2), ("CHECK", "Add", 3)]) == [
        "line 2: CHECK-NOT 'Relu' matched output line 2: %a = Relu(%x)"
    ]
    assert filecheck(out, [("CHECK", "Relu", 1), ("CHECK-NEXT", "return", 2)]) == [
        "line 2: CHECK-NEXT 'return' not found on the line after the previous match"
    ]
    assert filecheck(out, [("CHECK", "Add", 1), ("CHECK-NOT", "}", 2)])[0].startswith("line 2: CHECK-NOT '}' matched")
