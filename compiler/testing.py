"""Test helpers: golden IR-text tests for passes, structural graph equality, seeded inputs.

A golden file holds cases separated by ``// -----`` lines. Each case is an
input graph in textual IR followed by what the pass must make of it:

- ``// CHECK: text`` / ``// CHECK-NEXT: text`` / ``// CHECK-NOT: text``
  lines (FileCheck-like, matched against the printed output), and/or
- a line ``// EXPECT`` followed by the expected output graph as IR text, or
- ``// EXPECT-UNCHANGED`` (the output prints exactly like the input), or
- ``// EXPECT-ERROR: text`` (the pass raises a TinycError containing text).

Each case also runs the graph before and after the pass through the
reference interpreter on fixed-seed random inputs and compares the outputs
(``// NUMERICS: rtol=1e-3 atol=1e-4`` changes the tolerance,
``// NUMERICS: off`` skips it). The format is documented in docs/ir.md.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyc.errors import TinycError
from tinyc.interpreter import run_graph
from tinyc.ir.core import Graph
from tinyc.ir.dtypes import DType
from tinyc.ir.parser import parse_graph, split_graphs
from tinyc.ir.printer import format_attrs, format_dense, print_graph
from tinyc.ir.verifier import verify

DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-5

_DIRECTIVE = re.compile(r"^\s*//\s*(CHECK|CHECK-NEXT|CHECK-NOT|EXPECT-ERROR|NUMERICS)\s*:(.*)$")
_EXPECT = re.compile(r"^\s*//\s*EXPECT\s*$")
_UNCHANGED = re.compile(r"^\s*//\s*EXPECT-UNCHANGED\s*$")
_ANY_DIRECTIVE = re.compile(r"^\s*//\s*(CHECK|EXPECT|NUMERICS)[A-Z-]*\b")


# -- seeded inputs and structural equality -------------------------------------------


def shared_models_dir() -> Path:
    """Where the shared real models live: $TINYC_SHARED_MODELS, else ../shared/models beside the repository."""
    import os

    env = os.environ.get("TINYC_SHARED_MODELS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "models"


def shared_model(rel: str) -> Path:
    """Path of a model under the shared models folder, or skip the calling test with the reason."""
    path = shared_models_dir() / rel
    if not path.exists():
        import pytest

        pytest.skip(f"shared model {rel} not found under {shared_models_dir()}")
    return path


def random_inputs(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Fixed-seed random arrays for the graph's inputs.

    Floats are standard normal; i8/u8/i16 cover their whole range; wider
    integers are drawn from 0..3 (they are usually indices or shapes); bools
    are fair coins.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for v in graph.inputs:
        dt, shape = v.type.dtype, v.type.shape
        if dt.is_float:
            arr = rng.standard_normal(shape).astype(dt.numpy)
        elif dt == DType.BOOL:
            arr = rng.integers(0, 2, shape).astype(np.bool_)
        elif dt in (DType.I8, DType.U8, DType.I16):
            arr = rng.integers(dt.qmin, dt.qmax + 1, shape).astype(dt.numpy)
        else:
            arr = rng.integers(0, 4, shape).astype(dt.numpy)
        out[v.name] = arr
    return out


def graph_differences(a: Graph, b: Graph) -> list[str]:
    """What differs between two graphs (names, types, constant bytes, attributes, locations, order); [] if equal."""
    diffs: list[str] = []

    def cmp(what: str, x: Any, y: Any) -> None:
        if x != y:
            diffs.append(f"{what}: {x!r} != {y!r}")

    cmp("graph name", a.name, b.name)
    cmp("inputs", [(v.name, v.type) for v in a.inputs], [(v.name, v.type) for v in b.inputs])
    cmp("constant names", [c.name for c in a.constants], [c.name for c in b.constants])
    for ca, cb in zip(a.constants, b.constants, strict=False):
        cmp(f"type of constant %{ca.name}", ca.type, cb.type)
        assert ca.const is not None and cb.const is not None
        if ca.const.dtype != cb.const.dtype or ca.const.shape != cb.const.shape or ca.const.tobytes() != cb.const.tobytes():
            diffs.append(f"data of constant %{ca.name}: {format_dense(ca.const)} != {format_dense(cb.const)}")
    cmp("node count", len(a.nodes), len(b.nodes))
    for na, nb in zip(a.nodes, b.nodes, strict=False):
        label = f"node {na.name!r}"
        cmp(f"{label} op", na.op.name, nb.op.name)
        cmp(f"{label} name", na.name, nb.name)
        cmp(f"{label} loc", na.loc, nb.loc)
        cmp(f"{label} attribute class", type(na.attrs), type(nb.attrs))
        if dataclasses.is_dataclass(na.attrs) and type(na.attrs) is type(nb.attrs):
            cmp(f"{label} attributes", format_attrs(na), format_attrs(nb))
            for f in dataclasses.fields(na.attrs):
                cmp(f"{label} attribute {f.name}", repr(getattr(na.attrs, f.name)), repr(getattr(nb.attrs, f.name)))
        cmp(f"{label} inputs", [None if v is None else v.name for v in na.inputs], [None if v is None else v.name for v in nb.inputs])
        cmp(f"{label} outputs", [(v.name, v.type) for v in na.outputs], [(v.name, v.type) for v in nb.outputs])
    cmp("graph outputs", [v.name for v in a.outputs], [v.name for v in b.outputs])
    return diffs


def assert_graphs_equal(a: Graph, b: Graph) -> None:
    diffs = graph_differences(a, b)
    if diffs:
        raise AssertionError("graphs differ:\n  " + "\n  ".join(diffs))


def assert_same_numbers(
    before: Graph,
    after: Graph,
    *,
    seed: int = 0,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    expected: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Run both graphs on the same seeded inputs (matched by position) and compare outputs by position.

    ``expected`` (outputs of ``before`` computed earlier, e.g. before an
    in-place pass) saves running ``before`` again.
    """
    inputs = random_inputs(before, seed)
    if len(before.inputs) != len(after.inputs):
        raise AssertionError(f"the pass changed the number of graph inputs ({len(before.inputs)} -> {len(after.inputs)})")
    ref_by_name = expected if expected is not None else run_graph(before, inputs)
    ref = [ref_by_name[v.name] for v in before.outputs]
    renamed = {va.name: inputs[vb.name] for vb, va in zip(before.inputs, after.inputs, strict=True)}
    got_by_name = run_graph(after, renamed)
    got = [got_by_name[v.name] for v in after.outputs]
    if len(ref) != len(got):
        raise AssertionError(f"the pass changed the number of graph outputs ({len(ref)} -> {len(got)})")
    for i, (r, g) in enumerate(zip(ref, got, strict=True)):
        name = after.outputs[i].name
        if r.shape != g.shape:
            raise AssertionError(f"output {i} (%{name}) has shape {list(g.shape)}, before the pass {list(r.shape)}")
        try:
            np.testing.assert_allclose(g.astype(np.float64), r.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
        except AssertionError as exc:
            raise AssertionError(f"output {i} (%{name}) changed numerically (seed {seed}):{exc}") from None


# -- golden files -----------------------------------------------------------------


@dataclass
class GoldenCase:
    """One case of a golden file: input IR and what the pass must produce."""

    path: str
    line: int
    input_text: str
    input_line: int
    expected_text: str | None = None
    expected_line: int = 0
    checks: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, pattern, line)
    unchanged: bool = False
    error: str | None = None
    numerics: tuple[float, float] | None = (DEFAULT_RTOL, DEFAULT_ATOL)

    @property
    def label(self) -> str:
        return f"{self.path}:{self.line}"


def _parse_numerics(spec: str, where: str) -> tuple[float, float] | None:
    spec = spec.strip()
    if spec == "off":
        return None
    tol = {"rtol": DEFAULT_RTOL, "atol": DEFAULT_ATOL}
    for part in spec.split():
        key, _, val = part.partition("=")
        if key not in tol or not val:
            raise ValueError(f"{where}: bad NUMERICS directive {spec!r} (use 'off' or 'rtol=<x> atol=<y>')")
        tol[key] = float(val)
    return tol["rtol"], tol["atol"]


def load_golden(path: str | Path) -> list[GoldenCase]:
    """The cases of a golden file (see the module docstring for the format)."""
    path = Path(path)
    cases: list[GoldenCase] = []
    for first, chunk in split_graphs(path.read_text(encoding="utf-8")):
        lines = chunk.split("\n")
        start = next((first + i for i, x in enumerate(lines) if x.strip() and not x.strip().startswith("//")), first)
        case = GoldenCase(str(path), start, "", first)
        inp: list[str] = []
        exp: list[str] | None = None
        for i, line in enumerate(lines):
            lineno = first + i
            if exp is None and _EXPECT.match(line):
                exp, case.expected_line = [], lineno + 1
                continue
            if _UNCHANGED.match(line):
                case.unchanged = True
            m = _DIRECTIVE.match(line)
            if m is None and not _UNCHANGED.match(line) and _ANY_DIRECTIVE.match(line):
                raise ValueError(f"{path}:{lineno}: unknown directive {line.strip()!r} (see docs/ir.md for the golden format)")
            if m:
                kind, arg = m.group(1), m.group(2).strip()
                if kind == "NUMERICS":
                    case.numerics = _parse_numerics(arg, f"{path}:{lineno}")
                elif kind == "EXPECT-ERROR":
                    case.error = arg
                else:
                    case.checks.append((kind, arg, lineno))
            (inp if exp is None else exp).append(line)
        case.input_text = "\n".join(inp)
        case.expected_text = None if exp is None else "\n".join(exp)
        if case.expected_text is None and not case.checks and not case.unchanged and case.error is None:
            raise ValueError(f"{path}:{first}: a golden case needs CHECK lines, an EXPECT block, EXPECT-UNCHANGED or EXPECT-ERROR")
        cases.append(case)
    return cases


def _squash(text: str) -> str:
    return " ".join(text.split())


def filecheck(output: str, checks: list[tuple[str, str, int]]) -> list[str]:
    """Match CHECK / CHECK-NEXT / CHECK-NOT patterns (whitespace-insensitive substrings) against ``output``."""
    lines = [_squash(x) for x in output.split("\n")]
    errors: list[str] = []
    pos = 0  # first line a CHECK may match
    last = -1  # line of the last positive match
    nots: list[tuple[str, int]] = []

    def check_nots(upto: int) -> None:
        for pat, lineno in nots:
            for j in range(last + 1, upto):
                if pat in lines[j]:
                    errors.append(f"line {lineno}: CHECK-NOT {pat!r} matched output line {j + 1}: {lines[j]}")
        nots.clear()

    for kind, pattern, lineno in checks:
        pat = _squash(pattern)
        if kind == "CHECK-NOT":
            nots.append((pat, lineno))
            continue
        if kind == "CHECK-NEXT":
            j = last + 1
            if last < 0 or j >= len(lines) or pat not in lines[j]:
                errors.append(f"line {lineno}: CHECK-NEXT {pat!r} not found on the line after the previous match")
                continue
        else:
            j = next((k for k in range(pos, len(lines)) if pat in lines[k]), -1)
            if j < 0:
                errors.append(f"line {lineno}: CHECK {pat!r} not found after output line {pos}")
                continue
        check_nots(j)
        last, pos = j, j + 1
    check_nots(len(lines))
    return errors


def _result_graph(result: Any, graph: Graph) -> tuple[Graph, bool | None]:
    if isinstance(result, Graph):
        return result, None
    if hasattr(result, "graph") and isinstance(result.graph, Graph):
        return result.graph, bool(getattr(result, "changed", True))
    if isinstance(result, bool):
        return graph, result
    return graph, None


def check_golden_case(case: GoldenCase, pass_fn: Callable[[Graph], Any], *, seed: int = 0) -> None:
    """Run one case; raise AssertionError (with the case's file and line) if the pass output is not as written."""
    graph = parse_graph(case.input_text, source=case.path, line=case.input_line)
    verify(graph, where="parsing")
    before_text = print_graph(graph)
    inputs = random_inputs(graph, seed)
    before_out = run_graph(graph, inputs) if case.numerics is not None and case.error is None else None
    before_graph = parse_graph(before_text) if case.numerics is not None else None
    try:
        result = pass_fn(graph)
    except TinycError as exc:
        if case.error is not None and case.error in str(exc):
            return
        raise AssertionError(f"{case.label}: the pass raised {type(exc).__name__}: {exc}") from exc
    if case.error is not None:
        raise AssertionError(f"{case.label}: expected the pass to fail with {case.error!r}, it did not")
    out, changed = _result_graph(result, graph)
    try:
        verify(out, where="the pass")
    except TinycError as exc:
        raise AssertionError(f"{case.label}: {exc}\n{print_graph(out, elide_constants_over=64)}") from exc
    text = print_graph(out)
    problems: list[str] = []
    if changed is False and text != before_text:
        problems.append("the pass reported no change but the graph's text changed")
    if case.unchanged:
        if changed:
            problems.append("the pass reported a change on a case marked EXPECT-UNCHANGED")
        if text != before_text:
            problems.append(_diff("input", before_text, "output", text))
    if case.expected_text is not None:
        want = print_graph(parse_graph(case.expected_text, source=case.path, line=case.expected_line))
        if text != want:
            problems.append(_diff("expected", want, "output", text))
    problems += filecheck(text, case.checks)
    if case.numerics is not None and before_graph is not None:
        rtol, atol = case.numerics
        try:
            assert_same_numbers(before_graph, out, seed=seed, rtol=rtol, atol=atol, expected=before_out)
        except AssertionError as exc:
            problems.append(str(exc))
    if problems:
        raise AssertionError(f"{case.label}:\n" + "\n".join(problems) + f"\n--- output ---\n{text}")


def _diff(a_name: str, a: str, b_name: str, b: str) -> str:
    return "\n".join(difflib.unified_diff(a.split("\n"), b.split("\n"), a_name, b_name, lineterm=""))


def run_golden(path: str | Path, pass_fn: Callable[[Graph], Any], *, seed: int = 0) -> int:
    """Run every case of a golden file through ``pass_fn``; raise one AssertionError listing all failures.

    ``pass_fn`` mutates the graph in place or returns a new one; it may return
    a ``PassResult`` (whose ``changed`` flag is checked), a bool, a Graph or None.
    Returns the number of cases run.
    """
    cases = load_golden(path)
    failures: list[str] = []
    for case in cases:
        try:
            check_golden_case(case, pass_fn, seed=seed)
        except AssertionError as exc:
            failures.append(str(exc))
        except TinycError as exc:  # bad IR in the golden file itself
            failures.append(f"{case.label}: {exc}")
    if failures:
        raise AssertionError(f"{len(failures)} of {len(cases)} golden cases failed:\n\n" + "\n\n".join(failures))
    return len(cases)
