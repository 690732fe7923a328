"""The library API that build pipelines call; the CLI is a thin layer over it.

    model = tinyc.load("model.onnx", input_shapes={"x": (1, 49, 10, 1)})
    outputs = tinyc.run(model, {"x": x})
    analysis = tinyc.analyze(model, target="stm32h7")
    artifacts = tinyc.compile(model, target="stm32h7", output_dir="build/")
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyc.errors import ModelLoadError, TinycError
from tinyc.interpreter import run_graph
from tinyc.ir import Graph, verify

log = logging.getLogger(__name__)


@dataclass
class Model:
    """A model loaded into tinyc's IR, with where it came from."""

    graph: Graph
    source: str
    name: str

    def ir(self, *, elide_constants_over: int | None = 64) -> str:
        """The textual IR (constants over ``elide_constants_over`` bytes elided; None prints all)."""
        from tinyc.ir.printer import print_graph

        return print_graph(self.graph, elide_constants_over=elide_constants_over)

    @property
    def input_names(self) -> list[str]:
        return [v.name for v in self.graph.inputs]

    @property
    def output_names(self) -> list[str]:
        return [v.name for v in self.graph.outputs]


@dataclass(frozen=True)
class LoadOptions:
    """How to read a model."""

    input_shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    example_inputs: tuple[Any, ...] | None = None  # PyTorch modules only


def load(
    source: str | Path | Any,
    *,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
    example_inputs: Sequence[Any] | None = None,
    options: LoadOptions | None = None,
) -> Model:
    """Load an ONNX file, a TFLite file, a llama2.c checkpoint, or a PyTorch ``nn.Module``."""
    opts = options or LoadOptions(dict(input_shapes or {}), tuple(example_inputs) if example_inputs is not None else None)
    if isinstance(source, Model):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        suffix = path.suffix.lower()
        if suffix == ".onnx":
            from tinyc.frontends.onnx import load_onnx

            graph = load_onnx(path, input_shapes=opts.input_shapes)
        elif suffix == ".tflite":
            try:
                from tinyc.frontends.tflite import load_tflite  # type: ignore[import-not-found]
            except ImportError:
                raise ModelLoadError("TFLite import is not available yet", where=str(path), hint="convert the model to ONNX") from None
            graph = load_tflite(path)
        elif suffix == ".bin":
            from tinyc.frontends.llama2c import load_llama2c

            graph = load_llama2c(path)
        elif suffix in (".pt", ".pth", ".pkl", ".ckpt"):
            raise ModelLoadError(
                f"tinyc does not unpickle {suffix} files (they can run arbitrary code)",
                where=str(path),
                hint="pass the nn.Module to tinyc.load() from Python, or export it to ONNX first",
            )
        else:
            if not path.exists():
                raise ModelLoadError(f"model file not found: {path}", hint="check the path")
            raise ModelLoadError(f"unknown model format {suffix or '(no extension)'!r}", where=str(path), hint="tinyc reads .onnx, .tflite and llama2.c .bin files, and PyTorch modules")
        verify(graph, where="import")
        _check_sizes(graph, str(path))
        return Model(graph, str(path), _model_name(path.stem))
    try:
        import torch
    except ImportError:
        torch = None  # type: ignore[assignment]
    if torch is not None and isinstance(source, torch.nn.Module):
        if opts.example_inputs is None:
            raise ModelLoadError("a PyTorch module needs example_inputs", where=type(source).__name__, hint="tinyc.load(module, example_inputs=(torch.randn(1, 48),))")
        from tinyc.frontends.torch import from_module

        graph = from_module(source, opts.example_inputs)
        verify(graph, where="import")
        return Model(graph, f"<torch {type(source).__name__}>", _model_name(type(source).__name__))
    raise ModelLoadError(f"cannot load a {type(source).__name__}", hint="pass a path to an .onnx file or a torch.nn.Module")


def _check_sizes(graph: Graph, where: str) -> None:
    """Every tensor of an imported model within tinyc's size limit (model files are untrusted)."""
    from tinyc.frontends.limits import check_tensor_size

    for v in graph.inputs:
        check_tensor_size(v.type.shape, v.type.dtype.itemsize, f"input {v.name!r}", where=where)
    for node in graph.nodes:
        for v in node.outputs:
            check_tensor_size(v.type.shape, v.type.dtype.itemsize, f"{v.name!r} ({node.op.name})", where=where)


def _model_name(stem: str) -> str:
    """A C-identifier-safe model name (it prefixes generated symbols)."""
    import re

    name = re.sub(r"[^0-9A-Za-z_]", "_", stem).strip("_").lower() or "model"
    if name[0].isdigit():
        name = "m_" + name
    return name


def run(model: Model | str | Path, inputs: Mapping[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
    """Run the reference interpreter; a bare array feeds the model's only input."""
    m = load(model) if not isinstance(model, Model) else model
    if isinstance(inputs, np.ndarray):
        if len(m.graph.inputs) != 1:
            raise TinycError(f"the model has {len(m.graph.inputs)} inputs; pass a dict keyed by {m.input_names}")
        inputs = {m.graph.inputs[0].name: inputs}
    return run_graph(m.graph, inputs)


def random_inputs(model: Model, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic random inputs matching the model's input types."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for v in model.graph.inputs:
        dt = v.type.dtype
        if dt.is_float:
            out[v.name] = rng.standard_normal(v.type.shape).astype(dt.numpy)
        elif dt.is_int:
            out[v.name] = rng.integers(max(dt.qmin, -128), min(dt.qmax, 127) + 1, v.type.shape).astype(dt.numpy)
        else:
            out[v.name] = rng.integers(0, 2, v.type.shape).astype(dt.numpy)
    return out


def iter_samples(data: Mapping[str, np.ndarray], n: int | None = None) -> Iterable[dict[str, np.ndarray]]:
    """Split stacked arrays (leading sample axis) into per-sample dicts."""
    count = min(len(a) for a in data.values())
    for i in range(count if n is None else min(n, count)):
        yield {k: a[i] for k, a in data.items()}
