"""The TensorRT backend (Jetson): TensorRT-ready ONNX, the trtexec command, a per-layer report.

``tinyc compile model.onnx --target jetson-orin -o out/`` writes into ``out/``:

- ``model.onnx``: static shapes (or one optimisation profile for a dynamic
  batch), folded constants, no shape subgraphs, constant operands as
  initializers, no INT64 weights on TensorRT 8.x (beyond ONNX's int64-only
  shape operands, which the parser casts down), an opset the target's
  TensorRT parses, only ops it parses; fp16 (float weights, ``--fp16`` at
  build time) or explicit int8 (symmetric Q/DQ pairs where TensorRT fuses them);
- ``build_engine.sh``: the ``trtexec`` command (precision flags, shapes,
  ``--dla N`` for a DLA core with GPU fallback);
- ``report.md`` / ``report.json``: ops, precision per layer, DLA placement
  per layer and what falls back to the GPU;
- ``profile.json`` with ``--dynamic-batch MIN,OPT,MAX``.

The written model is checked by ``onnx.checker`` (full) and by tinyc's own
TensorRT rules (``checker.py``) before anything is written.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from tinyc.backends import BackendContext
from tinyc.backends.tensorrt.checker import enforce
from tinyc.backends.tensorrt.engine import build_script, profile_json
from tinyc.backends.tensorrt.pipeline import NOTES, effective_precision, tensorrt_pipeline
from tinyc.backends.tensorrt.profile import TrtProfile, profile_of
from tinyc.backends.tensorrt.report import build_report, report_markdown
from tinyc.errors import TinycError
from tinyc.export import WriteOptions, graph_to_onnx, model_bytes

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
BATCH_PARAM = "batch"

__all__ = ["BACKEND", "TensorRTBackend", "TrtProfile", "dynamic_batch_of", "profile_of"]


def dynamic_batch_of(options: Any) -> tuple[int, int, int] | None:
    """The (min, opt, max) batch of the optimisation profile the options ask for, validated."""
    raw = getattr(options, "dynamic_batch", None)
    if raw is None:
        return None
    try:
        lo, opt, hi = (int(v) for v in raw)
    except (TypeError, ValueError):
        raise TinycError(f"dynamic batch {raw!r} is not three integers", hint="write it as MIN,OPT,MAX, e.g. --dynamic-batch 1,8,32") from None
    if not 1 <= lo <= opt <= hi:
        raise TinycError(f"dynamic batch {lo},{opt},{hi} must satisfy 1 <= MIN <= OPT <= MAX", hint="e.g. --dynamic-batch 1,8,32")
    return lo, opt, hi


class TensorRTBackend:
    """TensorRT-ready ONNX for the Jetson targets."""

    name = "tensorrt"

    def pipeline(self, target: Any, options: Any) -> list[Any]:
        profile = profile_of(target)
        dynamic_batch_of(options)
        return tensorrt_pipeline(profile, options)

    def write(self, ctx: BackendContext) -> list[Path]:
        profile = profile_of(ctx.target)
        graph = ctx.graph
        batch = dynamic_batch_of(ctx.options)
        precision = effective_precision(profile, ctx.options, graph)
        source = str(getattr(ctx.model, "source", "") or graph.name)
        meta = (("tinyc.target", profile.target), ("tinyc.tensorrt", profile.tensorrt), ("tinyc.precision", precision))
        wopts = WriteOptions(
            opset=profile.opset,
            narrow_int64=not profile.int64_weights,
            dynamic_batch=BATCH_PARAM if batch else None,
            doc_string=f"TensorRT-ready ONNX written by tinyc for {profile.target} ({precision})",
            metadata=meta,
        )
        model = graph_to_onnx(graph, wopts)
        try:
            onnx.checker.check_model(model, full_check=True)
        except onnx.checker.ValidationError as exc:  # a writer bug, not the user's
            raise TinycError(f"the written ONNX fails onnx.checker: {str(exc).strip().splitlines()[0]}", hint="this is a tinyc bug; please report it with the model") from None
        enforce(model, profile, dynamic_batch=batch is not None)
        if batch is not None:
            check_batch_independence(model, batch)
        files: list[Path] = []
        out = ctx.out_dir
        (out / MODEL_FILE).write_bytes(model_bytes(model))
        files.append(out / MODEL_FILE)
        names = [MODEL_FILE, "build_engine.sh", "report.md", "report.json"] + (["profile.json"] if batch else [])
        rep = build_report(model, profile, precision, source=source, dynamic_batch=batch, notes=list(NOTES.get(graph, [])), files=names)
        from tinyc import __version__

        script = out / "build_engine.sh"
        script.write_text(build_script(profile, precision, rep["inputs"], model_file=MODEL_FILE, dynamic_batch=batch, version=__version__))
        script.chmod(0o755)
        files.append(script)
        if batch is not None:
            (out / "profile.json").write_text(profile_json(rep["inputs"], batch))
            files.append(out / "profile.json")
        (out / "report.json").write_text(json.dumps(rep, indent=2) + "\n")
        (out / "report.md").write_text(report_markdown(rep))
        files += [out / "report.md", out / "report.json"]
        ctx.report.update(rep)
        log.info("tensorrt: %s, %s, opset %d, %d nodes", profile.describe(), precision, profile.opset, len(model.graph.node))
        return files


def check_batch_independence(model: onnx.ModelProto, batch: tuple[int, int, int]) -> None:
    """With a symbolic batch, a batch of samples must give the samples' outputs stacked (else the graph fixes or mixes axis 0)."""
    import onnxruntime as ort

    n = min(max(batch[2], 2), 4)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    try:
        sess = ort.InferenceSession(model_bytes(model), so, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        feeds = {}
        for vi in model.graph.input:
            dims = [n] + [d.dim_value for d in vi.type.tensor_type.shape.dim[1:]]
            dt = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
            feeds[vi.name] = rng.standard_normal(dims).astype(dt) if np.dtype(dt).kind == "f" else np.zeros(dims, dt)
        whole = sess.run(None, feeds)
        for i in range(n):
            one = sess.run(None, {k: v[i : i + 1] for k, v in feeds.items()})
            for w, o in zip(whole, one):
                if w.shape[0] != n or not np.allclose(w[i : i + 1], o, rtol=1e-4, atol=1e-5):
                    raise ValueError("outputs of a batch differ from the samples' outputs")
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises many types; all mean the same here
        raise TinycError(
            f"the model cannot take a dynamic batch: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
            hint="some op fixes or mixes the batch axis (axis 0); compile with a fixed batch (--input-shape NAME=Nx...) instead",
        ) from None


BACKEND = TensorRTBackend()
