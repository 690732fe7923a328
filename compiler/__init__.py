"""tinyc: a compiler that puts neural networks on small devices.

    import tinyc
    model = tinyc.load("model.onnx")
    tinyc.run(model, {"input": x})
    tinyc.analyze(model, target="stm32h7")
    tinyc.compile(model, target="stm32h7", output_dir="build/")
"""

from __future__ import annotations

__version__ = "0.1.0"

from pathlib import Path
from typing import Any

from tinyc.api import Model, load, random_inputs, run
from tinyc.errors import TinycError


def analyze(model: Model | str | Path, *, target: Any = None, memory_plot: str | Path | None = None, options: Any = None, **kw: Any) -> Any:
    """Per-layer table and totals; with ``target``, the memory plan (see tinyc.driver.analyze).

    ``options`` (a ``CompileOptions``) with ``quantize``/``calib`` plans the int8 graph.
    """
    from tinyc.driver import analyze as _analyze

    return _analyze(load(model, **kw), target=target or (options.target if options else None), memory_plot=memory_plot, options=options)


def compile(model: Model | str | Path, *, target: str | None = None, output_dir: str | Path, options: Any = None, **kw: Any) -> Any:  # noqa: A001
    """Compile for ``target`` into ``output_dir``; returns ``Artifacts`` (see tinyc.driver.compile_model)."""
    from tinyc.driver import CompileOptions, compile_model

    opts = options or CompileOptions(target=target)
    return compile_model(load(model, **kw), output_dir=output_dir, options=opts)


__all__ = ["Model", "TinycError", "__version__", "analyze", "compile", "load", "random_inputs", "run"]
