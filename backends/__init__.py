"""Backends: what a target family's device runs. Looked up by the name a target file gives."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tinyc.errors import TargetError, ToolchainError

# backend name -> module implementing it (the module defines ``BACKEND``)
BACKEND_MODULES = {
    "cmsis_nn": "tinyc.backends.cmsis_nn",
    "tflite": "tinyc.backends.tflite",
    "tensorrt": "tinyc.backends.tensorrt",
    "llm": "tinyc.backends.llm",
}


@dataclass
class BackendContext:
    """Everything a backend reads; it writes files under ``out_dir`` only."""

    model: Any  # tinyc.api.Model
    graph: Any  # tinyc.ir.Graph after the target's pipeline
    target: Any  # tinyc.targets.Target
    out_dir: Path
    options: Any  # tinyc.driver.CompileOptions
    plan: Any = None  # tinyc.memory MemoryPlan, when the backend plans memory
    report: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def pipeline(self, target: Any, options: Any) -> list[Any]:
        """The passes this backend needs after import, in order."""
        ...

    def write(self, ctx: BackendContext) -> list[Path]:
        """Write the output files into ``ctx.out_dir``; return their paths."""
        ...


def get_backend(name: str, *, target_name: str = "") -> Backend:
    module = BACKEND_MODULES.get(name)
    where = f"target {target_name!r}" if target_name else None
    if module is None:
        raise TargetError(f"unknown backend {name!r}", where=where, hint=f"known backends: {', '.join(BACKEND_MODULES)}")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise TargetError(
                f"the {name!r} backend is not available yet in this version of tinyc",
                where=where,
                hint="`tinyc analyze` and `tinyc run` work for any target; see `tinyc targets`",
            ) from None
        raise
    return mod.BACKEND  # type: ignore[no-any-return]


def runtime_dir(*markers: str) -> Path:
    """tinyc's C runtime (``runtime_c/``): ``$TINYC_RUNTIME_DIR``, the installed package data or the source tree's.

    The first candidate holding every one of ``markers`` (paths inside it) wins,
    so each backend names the files it needs.
    """
    import tinyc

    env = os.environ.get("TINYC_RUNTIME_DIR")
    pkg = Path(tinyc.__file__).resolve().parent
    candidates = ([Path(env)] if env else []) + [pkg / "runtime_c", pkg.parent / "runtime_c"]
    for c in candidates:
        if all((c / m).is_file() for m in markers):
            return c.resolve()
    raise ToolchainError(
        f"tinyc's C runtime (runtime_c/ with {', '.join(markers)}) was not found",
        hint="reinstall tinyc, or set TINYC_RUNTIME_DIR to the runtime_c folder of a tinyc checkout",
    )
