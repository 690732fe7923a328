"""PyTorch frontend: an ``nn.Module`` plus example inputs -> tinyc Graph, through ONNX.

The module is exported in memory with the torch.export-based ONNX exporter
(``torch.onnx.export(..., dynamo=True)``), weights embedded, then imported with
the ONNX frontend. Node locations come from the exporter's node metadata:
the module path and the call (``b.conv/conv2d``) and the user's source line.
If the dynamo exporter cannot trace the module, the TorchScript exporter is
tried, with a warning (it traces one path through Python control flow).

Files are never unpickled here: ``.pt``/``.pth`` checkpoints can run arbitrary
code when loaded, so tinyc takes a live ``nn.Module`` (built by the user's own
code) or an ``.onnx`` file.
"""

from __future__ import annotations

import ast
import contextlib
import io
import logging
import re
import sys
import sysconfig
import traceback
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx

from tinyc.errors import ModelLoadError
from tinyc.frontends.onnx.importer import import_model
from tinyc.ir import Graph, Loc

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

MIN_OPSET, MAX_OPSET = 18, 20

_FRAME_RE = re.compile(r'File "([^"]+)", line (\d+)')
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def from_module(
    module: torch.nn.Module,
    example_inputs: Any,
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    opset: int = 18,
    optimize: bool = True,
) -> Graph:
    """Export ``module`` called on ``example_inputs`` (a tensor or a tuple of them) and import it.

    Shapes are static: those of the example inputs. A module in training mode
    is exported in eval mode (and put back into training mode afterwards).
    ``optimize`` runs the exporter's ONNX optimizer (constant folding, BatchNorm
    folded into Conv); turn it off to keep one ONNX node per PyTorch call.
    """
    model = export_onnx(
        module, example_inputs, input_names=input_names, output_names=output_names, opset=opset, optimize=optimize
    )
    source = f"<torch {type(module).__name__}>"
    graph = import_model(model, source=source)
    if not graph.name or graph.name == "main_graph":
        graph.name = type(module).__name__
    _apply_torch_locations(graph, model)
    return graph


def export_onnx(
    module: torch.nn.Module,
    example_inputs: Any,
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    opset: int = 18,
    optimize: bool = True,
) -> onnx.ModelProto:
    """The in-memory, checked ONNX model of ``module`` (weights embedded); see ``from_module``."""
    torch = _import_torch()
    cls = type(module).__name__
    if not isinstance(module, torch.nn.Module):
        raise ModelLoadError(
            f"expected a torch.nn.Module, got {cls}",
            hint="pass the model object; to load a .pt file, build the model in your code and load its state dict there",
        )
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ModelLoadError(
            f"ONNX opset {opset} is not supported for PyTorch export",
            where=cls,
            hint=f"use an opset from {MIN_OPSET} to {MAX_OPSET}",
        )
    args = _as_tensor_tuple(example_inputs, cls, torch)
    names = dict(
        input_names=list(input_names) if input_names is not None else None,
        output_names=list(output_names) if output_names is not None else None,
    )
    was_training = module.training
    if was_training:
        log.info("%s is in training mode: exporting it in eval mode", cls)
        module.eval()
    try:
        try:
            model = _export_dynamo(module, args, opset, optimize, names, torch)
        except Exception as dynamo_exc:
            reason = _first_error_line(dynamo_exc)
            log.warning(
                "torch.export could not trace %s (%s); falling back to the TorchScript exporter, which records "
                "only the path taken by the example inputs",
                cls,
                reason,
            )
            try:
                model = _export_torchscript(module, args, opset, names, torch)
            except Exception as ts_exc:
                raise ModelLoadError(
                    f"cannot export {cls} to ONNX: {reason} (TorchScript exporter: {_first_error_line(ts_exc)})",
                    where=_where(cls, dynamo_exc),
                    hint="torch.export must be able to trace forward() with the example inputs (no data-dependent "
                    "Python control flow, tensors in and out); or export the model to ONNX yourself and load the file",
                ) from dynamo_exc
    finally:
        if was_training:
            module.train()
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelLoadError(
            f"the exported ONNX model of {cls} does not pass the ONNX checker: {_first_error_line(exc)}",
            where=cls,
            hint="this is an exporter problem; try another opset or optimize=False",
        ) from None
    return model


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ModelLoadError(
            "PyTorch is not installed", hint="install the extra: pip install 'tinyc[torch]' (torch==2.13.0)"
        ) from None
    return torch


def _as_tensor_tuple(example_inputs: Any, cls: str, torch: Any) -> tuple[Any, ...]:
    items = example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    out = []
    for i, item in enumerate(items):
        if isinstance(item, np.ndarray):
            item = torch.from_numpy(np.ascontiguousarray(item))
        if not isinstance(item, torch.Tensor):
            raise ModelLoadError(
                f"example input {i} is a {type(item).__name__}, not a tensor",
                where=cls,
                hint="pass a torch.Tensor (or a tuple of them) shaped like one real input, e.g. torch.randn(1, 48)",
            )
        out.append(item)
    if not out:
        raise ModelLoadError("no example inputs", where=cls, hint="pass example_inputs=(torch.randn(1, ...),)")
    return tuple(out)


def _export_dynamo(
    module: Any, args: tuple[Any, ...], opset: int, optimize: bool, names: dict, torch: Any
) -> onnx.ModelProto:
    with _quiet():
        program = torch.onnx.export(
            module, args, dynamo=True, opset_version=opset, optimize=optimize, verbose=False, **names
        )
    if program is None:
        raise RuntimeError("torch.onnx.export returned no program")
    return program.model_proto


def _export_torchscript(module: Any, args: tuple[Any, ...], opset: int, names: dict, torch: Any) -> onnx.ModelProto:
    buf = io.BytesIO()
    with _quiet():
        torch.onnx.export(module, args, buf, dynamo=False, opset_version=opset, **names)
    return onnx.load_from_string(buf.getvalue())


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Route the exporters' warnings and prints (torch.export prints graphs on failure) to our log."""
    printed = io.StringIO()
    try:
        with (
            warnings.catch_warnings(record=True) as caught,
            contextlib.redirect_stdout(printed),
            contextlib.redirect_stderr(printed),
        ):
            warnings.simplefilter("always")
            yield
    finally:
        if printed.getvalue().strip():
            log.debug("exporter output:\n%s", printed.getvalue().rstrip())
        _log_warnings(caught)


def _log_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        if isinstance(w.message, DeprecationWarning | FutureWarning):
            log.debug("exporter: %s", w.message)
        else:  # e.g. TracerWarning: the trace may not generalise
            log.warning("exporter: %s (%s:%s)", str(w.message).strip().splitlines()[0], Path(w.filename).name, w.lineno)


def _first_error_line(exc: BaseException) -> str:
    """The most specific one-line reason: the innermost cause's first non-empty line."""
    inner = exc
    while inner.__cause__ is not None:
        inner = inner.__cause__
    for candidate in (inner, exc):
        for line in _ANSI_RE.sub("", str(candidate)).splitlines():
            if line.strip():
                return f"{type(candidate).__name__}: {line.strip()}"
    return type(exc).__name__


def _where(cls: str, exc: BaseException) -> str:
    """``Class`` plus the user's source line where tracing failed, if it can be found."""
    frame = None
    inner: BaseException | None = exc
    while inner is not None:
        for fs in traceback.extract_tb(inner.__traceback__):
            if _is_user_file(fs.filename):
                frame = f"{fs.filename}:{fs.lineno}"
        inner = inner.__cause__
    return f"{cls} ({frame})" if frame else cls


def _library_dirs() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(folders of libraries whose frames are not the user's, site-packages folders inside them)."""
    paths = sysconfig.get_paths()
    libs = [paths["stdlib"]]
    for name in ("torch", "onnxscript", "onnx", "tinyc"):
        mod = sys.modules.get(name)
        if mod is not None and getattr(mod, "__file__", None):
            libs.append(str(Path(mod.__file__).resolve().parent))  # type: ignore[arg-type]
    return tuple(libs), (paths["purelib"], paths["platlib"])


def _is_user_file(filename: str) -> bool:
    """A frame in the user's code: not Python's stdlib, torch, onnx, onnxscript or tinyc."""
    if not filename or filename.startswith("<"):
        return False
    try:
        resolved = str(Path(filename).resolve())
    except OSError:
        return False
    libs, site = _library_dirs()
    for lib in libs:
        if resolved.startswith(lib + "/") and not (lib == libs[0] and resolved.startswith(site)):
            return False
    return True


def torch_location(meta: dict[str, str]) -> str | None:
    """One location string from a dynamo-exported node's metadata.

    ``b.conv/conv2d (model.py:12)``: the module path (empty for the top-level
    module), the traced call, and the deepest stack frame in the user's code.
    """
    scopes_text = meta.get("pkg.torch.onnx.name_scopes")
    if not scopes_text:
        return None
    try:
        scopes = ast.literal_eval(scopes_text)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(scopes, list) or not scopes:
        return None
    call = str(scopes[-1])
    path = str(scopes[-2]) if len(scopes) >= 2 else ""
    text = f"{path}/{call}" if path else call
    frames = [(f, int(n)) for f, n in _FRAME_RE.findall(meta.get("pkg.torch.onnx.stack_trace", ""))]
    user = [(f, n) for f, n in frames if _is_user_file(f)]
    if user:
        fname, line = user[-1]
        text += f" ({Path(fname).name}:{line})"
    rule = meta.get("pkg.onnxscript.rewriter.rule_name")
    if rule:
        text += f" [{rule}]"
    return text


def _apply_torch_locations(graph: Graph, model: onnx.ModelProto) -> None:
    locs: dict[str, str] = {}
    for node in model.graph.node:
        if not node.name or not node.metadata_props:
            continue
        text = torch_location({p.key: p.value for p in node.metadata_props})
        if text:
            locs[node.name] = text
    for ir_node in graph:
        text = locs.get(ir_node.name)
        if text:
            ir_node.loc = Loc.of(text)
