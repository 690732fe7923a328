"""Pass infrastructure: a pass is a small named unit; a pipeline is a plain list.

A pass takes a graph and returns ``PassResult(graph, changed)``. The manager
runs a list of passes with the debug knobs users expect from compilers:
print the IR after every pass (or only after those that changed it), verify
after every pass, and time them. A failing pass is reported by name together
with the passes that ran before it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from tinyc.errors import PassError, TinycError, VerificationError
from tinyc.ir import Graph, verify

log = logging.getLogger(__name__)


@dataclass
class PassResult:
    graph: Graph
    changed: bool


class Pass(Protocol):
    """Anything with a ``name`` that maps a graph to a PassResult."""

    name: str

    def __call__(self, graph: Graph) -> PassResult: ...


@dataclass
class FunctionPass:
    """A pass made from a function ``graph -> bool`` that mutates in place and says whether it changed."""

    name: str
    fn: Callable[[Graph], bool]
    doc: str = ""

    def __call__(self, graph: Graph) -> PassResult:
        return PassResult(graph, bool(self.fn(graph)))


def graph_pass(name: str) -> Callable[[Callable[[Graph], bool]], FunctionPass]:
    """Decorator: ``@graph_pass("dce") def dce(graph) -> bool``."""

    def wrap(fn: Callable[[Graph], bool]) -> FunctionPass:
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        return FunctionPass(name, fn, doc)

    return wrap


@dataclass
class PassOptions:
    """Debug knobs for a pipeline run (the CLI's --print-ir-after-all and friends)."""

    print_ir_after_all: bool = False
    print_ir_after_change: bool = False
    verify_each: bool = False
    time_passes: bool = False
    out: TextIO | None = None  # where IR dumps and timings go (the CLI passes stderr)


@dataclass
class PassTiming:
    name: str
    seconds: float
    changed: bool


@dataclass
class PipelineReport:
    timings: list[PassTiming] = field(default_factory=list)

    def table(self) -> str:
        total = sum(t.seconds for t in self.timings) or 1e-12
        lines = [f"{'pass':<32} {'ms':>9} {'%':>6}  changed"]
        for t in self.timings:
            lines.append(f"{t.name:<32} {t.seconds * 1e3:>9.2f} {100 * t.seconds / total:>5.1f}%  {'yes' if t.changed else 'no'}")
        lines.append(f"{'total':<32} {total * 1e3:>9.2f}")
        return "\n".join(lines)


def run_passes(graph: Graph, passes: Sequence[Pass], options: PassOptions | None = None) -> tuple[Graph, PipelineReport]:
    """Run ``passes`` in order; returns the final graph and timings."""
    opts = options or PassOptions()
    report = PipelineReport()
    done: list[str] = []
    if opts.verify_each:
        verify(graph, where="import")
    for p in passes:
        t0 = time.perf_counter()
        try:
            result = p(graph)
            if opts.verify_each:
                verify(result.graph, where=f"pass {p.name!r}")
        except TinycError as exc:
            if isinstance(exc, PassError):
                raise
            if isinstance(exc, VerificationError):
                before = ", ".join(done) or "none"
                raise PassError(f"pass {p.name!r} broke the IR: {exc}", hint=f"passes run before it: {before}; this is a tinyc bug") from exc
            # a user-caused failure (no calibration data, unsupported op, ...): keep its
            # message and hint as they are, and say which pass met it
            log.debug("pass %s failed after: %s", p.name, ", ".join(done) or "none")
            exc.where = f"{exc.where} (pass {p.name!r})" if exc.where else f"pass {p.name!r}"
            exc.args = (exc._format(),)
            raise
        except Exception as exc:
            before = ", ".join(done) or "none"
            raise PassError(
                f"pass {p.name!r} crashed ({type(exc).__name__}: {exc})",
                hint=f"passes run before it: {before}; this is a tinyc bug, please report it with the model",
            ) from exc
        dt = time.perf_counter() - t0
        graph = result.graph
        done.append(p.name)
        report.timings.append(PassTiming(p.name, dt, result.changed))
        log.debug("pass %s: %.2f ms, changed=%s", p.name, dt * 1e3, result.changed)
        if opts.out is not None and (opts.print_ir_after_all or (opts.print_ir_after_change and result.changed)):
            from tinyc.ir.printer import print_graph

            opts.out.write(f"// ----- IR after {p.name}{'' if result.changed else ' (unchanged)'} -----\n")
            opts.out.write(print_graph(graph, elide_constants_over=64))
            opts.out.write("\n")
    if opts.time_passes and opts.out is not None:
        opts.out.write(report.table() + "\n")
    return graph, report
