"""Calibration data: read it in every form users have it, and collect tensor statistics with it.

Accepted sources (``load_samples``):

* a ``.npz`` file of stacked arrays keyed by input name (a single-input model
  also takes a file whose only array, or whose array named like the input, is
  the data), leading axis = samples;
* a ``.npy`` file of stacked samples (single-input models);
* a folder of ``.npy`` files, one sample each (single input), or of ``.npz``
  files, one sample each keyed by input name;
* ``"random"``: standard-normal inputs, with a loud warning (ranges will not
  match real data);
* from Python: a mapping of stacked arrays, one stacked array, or any iterable
  of samples (each a mapping by input name, or an array for single-input models).

A stacked array's sample axis may replace the model's batch axis of size 1
(``[N, 49, 10, 1]`` for an input ``[1, 49, 10, 1]``) or come in front of it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyc.errors import QuantizationError
from tinyc.interpreter import run_graph
from tinyc.ir.core import Graph, Node
from tinyc.quant.observers import TensorStats

log = logging.getLogger(__name__)

Sample = dict[str, np.ndarray]
RANDOM = "random"
HOW_TO = (
    "give representative inputs: --calib data.npz (arrays keyed by input name, one sample per row), "
    "--calib folder/ (one .npy per sample), or calib=<iterable of samples> from Python; "
    "--calib random works for a smoke test but gives poor ranges"
)


def no_calibration_error(what: str = "calibration data") -> QuantizationError:
    return QuantizationError(f"quantization needs {what} to choose activation ranges, and none was given", hint=HOW_TO)


def random_samples(graph: Graph, n: int = 16, seed: int = 0) -> list[Sample]:
    """``n`` standard-normal samples (integer inputs: uniform int8 range); warns, ranges from noise are poor."""
    log.warning(
        "CALIBRATING WITH RANDOM INPUTS: activation ranges come from noise, not from your data; "
        "accuracy of the quantized model says nothing about real inputs. Pass --calib with real samples."
    )
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        sample = {}
        for v in graph.inputs:
            dt = v.type.dtype
            if dt.is_float:
                sample[v.name] = rng.standard_normal(v.type.shape).astype(dt.numpy)
            else:
                sample[v.name] = rng.integers(max(dt.qmin, -128), min(dt.qmax, 127) + 1, v.type.shape).astype(dt.numpy)
        out.append(sample)
    return out


def load_samples(source: Any, graph: Graph, *, what: str = "calibration data", limit: int | None = None, random_count: int = 16) -> list[Sample]:
    """Samples (dicts by input name, shaped like the graph inputs) from any accepted source."""
    if source is None:
        raise no_calibration_error(what)
    if isinstance(source, str) and source == RANDOM:
        return random_samples(graph, random_count)
    if isinstance(source, (str, Path)):
        samples = _from_path(Path(source), graph, what)
    elif isinstance(source, np.ndarray):
        samples = _split(_single(graph, what), source, graph, what)
    elif isinstance(source, Mapping):
        samples = _from_stacked(dict(source), graph, what)
    elif isinstance(source, Iterable):
        samples = [_one(item, graph, what) for item in source]
    else:
        raise QuantizationError(f"cannot read {what} from a {type(source).__name__}", hint=HOW_TO)
    if limit is not None:
        samples = samples[:limit]
    if not samples:
        raise QuantizationError(f"the {what} holds no samples", hint=HOW_TO)
    return samples


def _single(graph: Graph, what: str) -> str:
    if len(graph.inputs) != 1:
        raise QuantizationError(
            f"{what}: a bare array only fits a single-input model; this one takes {[v.name for v in graph.inputs]}",
            hint="use an .npz (or a mapping) keyed by input name",
        )
    return graph.inputs[0].name


def _from_path(path: Path, graph: Graph, what: str) -> list[Sample]:
    if not path.exists():
        raise QuantizationError(f"{what} not found: {path}", hint=HOW_TO)
    try:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".npy", ".npz"))
            if not files:
                raise QuantizationError(f"folder {path} holds no .npy or .npz files", hint=HOW_TO)
            out = []
            for f in files:
                if f.suffix == ".npy":
                    out.append(_one(np.load(f, allow_pickle=False), graph, f"{what} ({f.name})"))
                else:
                    with np.load(f, allow_pickle=False) as data:
                        out.append(_one({k: data[k] for k in data.files}, graph, f"{what} ({f.name})"))
            return out
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            return _from_stacked(arrays, graph, f"{what} ({path.name})")
        if path.suffix == ".npy":
            return _split(_single(graph, what), np.load(path, allow_pickle=False), graph, f"{what} ({path.name})")
    except (ValueError, OSError) as exc:
        raise QuantizationError(f"cannot read {what} from {path}: {exc}", hint="pickled arrays are refused; save plain arrays with numpy.savez") from None
    raise QuantizationError(f"{what}: unknown file type {path.suffix!r} ({path})", hint=HOW_TO)


def _pick(arrays: Mapping[str, Any], graph: Graph, what: str) -> dict[str, Any]:
    """The arrays for the graph's inputs: by name, or the only array of a single-input model."""
    names = [v.name for v in graph.inputs]
    if all(n in arrays for n in names):
        return {n: arrays[n] for n in names}
    if len(names) == 1 and len(arrays) == 1:
        return {names[0]: next(iter(arrays.values()))}
    missing = [n for n in names if n not in arrays]
    raise QuantizationError(f"{what} has no array for input(s) {missing} (it has {sorted(arrays)})", hint="key the arrays by the model's input names")


def _from_stacked(arrays: Mapping[str, Any], graph: Graph, what: str) -> list[Sample]:
    picked = _pick(arrays, graph, what)
    per_input = {name: _split(name, np.asarray(arr), graph, what) for name, arr in picked.items()}
    counts = {len(v) for v in per_input.values()}
    if len(counts) != 1:
        raise QuantizationError(f"{what}: inputs have different sample counts {sorted(counts)}")
    n = counts.pop()
    return [{name: per_input[name][i][name] for name in per_input} for i in range(n)]


def _input_type(graph: Graph, name: str) -> Any:
    for v in graph.inputs:
        if v.name == name:
            return v.type
    raise QuantizationError(f"the model has no input {name!r}")


def _split(name: str, arr: np.ndarray, graph: Graph, what: str) -> list[Sample]:
    """A stacked array into samples shaped like input ``name``."""
    t = _input_type(graph, name)
    shape = t.shape
    arr = np.asarray(arr)
    if arr.shape[1:] == shape:
        rows = [arr[i] for i in range(arr.shape[0])]
    elif shape and shape[0] == 1 and arr.shape[1:] == shape[1:]:
        rows = [arr[i : i + 1] for i in range(arr.shape[0])]
    elif arr.shape == shape:
        rows = [arr]
    else:
        raise QuantizationError(
            f"{what}: array for input {name!r} has shape {list(arr.shape)}; expected [N, {', '.join(map(str, shape))}] "
            f"(or [N, {', '.join(map(str, shape[1:]))}] for a batch of 1)"
        )
    return [{name: _cast(r, t, what, name)} for r in rows]


def _cast(arr: np.ndarray, t: Any, what: str, name: str) -> np.ndarray:
    want = t.dtype.numpy
    if arr.dtype == want:
        return arr
    if arr.dtype.kind in "fiu" and want.kind == "f":
        return arr.astype(want)
    if np.can_cast(arr.dtype, want, casting="same_kind"):
        return arr.astype(want)
    raise QuantizationError(f"{what}: input {name!r} has dtype {arr.dtype}, the model expects {want}")


def _one(item: Any, graph: Graph, what: str) -> Sample:
    """One sample from a mapping or (single-input) array."""
    if isinstance(item, Mapping):
        picked = _pick(item, graph, what)
    else:
        picked = {_single(graph, what): item}
    out = {}
    for name, arr in picked.items():
        t = _input_type(graph, name)
        a = np.asarray(arr)
        if a.shape != t.shape:
            if t.shape and t.shape[0] == 1 and a.shape == t.shape[1:]:
                a = a[None]
            else:
                raise QuantizationError(f"{what}: a sample for input {name!r} has shape {list(a.shape)}, the model expects {list(t.shape)}")
        out[name] = _cast(a, t, what, name)
    return out


def collect_stats(graph: Graph, samples: Sequence[Sample], names: set[str], *, histogram: bool) -> dict[str, TensorStats]:
    """Run the float ``graph`` on ``samples``; statistics of the named values (inputs, node outputs, constants)."""
    stats: dict[str, TensorStats] = {n: TensorStats() for n in names}
    consts = {c.name: c.const for c in graph.constants if c.name in names}

    def observe(update: str) -> None:
        def on_node(node: Node, outputs: list[np.ndarray]) -> None:
            for v, arr in zip(node.outputs, outputs):
                if v.name in stats:
                    getattr(stats[v.name], update)(arr)

        for sample in samples:
            for k, arr in sample.items():
                if k in stats:
                    getattr(stats[k], update)(arr)
            with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported below, by tensor
                run_graph(graph, sample, observer=on_node)

    observe("update_range")
    producers = {v.name: n for n in graph.nodes for v in n.outputs}
    for name, s in stats.items():
        if s.count and not (np.isfinite(s.lo) and np.isfinite(s.hi)):
            node = producers.get(name)
            where = f"value {name!r}" + (f" ({node.op.name} node {node.name!r}, {node.loc})" if node is not None else " (a graph input)")
            raise QuantizationError(
                f"the float model computes inf or NaN on the calibration data (range [{s.lo}, {s.hi}]), which has no integer form",
                where=where,
                hint="check the calibration data's scale and the model's weights (an overflow in float32); `tinyc run` on one sample shows the values",
            )
    for name, data in consts.items():
        assert data is not None
        stats[name].update_range(np.asarray(data))
    if histogram:
        for s in stats.values():
            s.start_histogram()
        observe("update_histogram")
        for name, data in consts.items():
            assert data is not None
            stats[name].update_histogram(np.asarray(data))
    missing = [n for n, s in stats.items() if s.count == 0 and n not in consts]
    if missing:
        log.debug("no calibration statistics for %s", missing)
    return stats
