"""Quantization accuracy: tinyc against onnxruntime's ``quantize_static`` on the same data.

    python bench/quant.py [--calib 200] [--eval 200] [--md bench/results/quant.md] [--json out.json]

Models: the MLPerf Tiny KWS (DS-CNN) and AD (autoencoder) float models from
../shared/models (skipped when absent) and the magnet locator (its
examples/ artifacts, trained first when missing). Data: for KWS and AD the
synthetic features of tools/calibration_data.py, calibration and evaluation
from different seeds; for the magnet locator its own calib.npz / eval.npz.

The float reference is onnxruntime running the float ONNX model. Each
quantized model runs on the evaluation set and is compared with it: SQNR of
the output, max and mean absolute error, mean cosine similarity per sample,
top-1 agreement for the classifier (KWS), and for the magnet locator the
task metric (mean localisation error in mm against the true positions).

Rows: tinyc int8 with each observer and int16x8 (tinyc's integer reference
interpreter); onnxruntime ``quantize_static`` QDQ, per-channel int8 weights,
int8 activations, with its MinMax, Percentile and Entropy calibration (run by
onnxruntime itself); and for KWS/AD the benchmark's own TFLite int8 model
(LiteRT) as a third reference. A second table is the independent check: the
tinyc int8 graph written as QDQ ONNX and run in onnxruntime.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO.parent / "shared" / "models" / "mlperf-tiny"
sys.path.insert(0, str(REPO))


@dataclass
class Row:
    model: str
    tool: str
    scheme: str
    calibration: str
    sqnr_db: float
    max_abs_err: float
    mean_abs_err: float
    cosine: float
    top1: float | None
    task: float | None = None  # magnet locator: mean localisation error (mm)
    seconds: float = 0.0


@dataclass
class Case:
    name: str
    path: Path
    input_name: str
    shape: tuple[int, ...]
    calib: np.ndarray  # [N, *shape[1:]] float32
    evals: np.ndarray
    classifier: bool
    truth: np.ndarray | None = None  # magnet locator positions
    tflite: Path | None = None


def cases(n_calib: int, n_eval: int) -> list[Case]:
    from tools import calibration_data as C

    out = []
    kws = MODELS / "kws_dscnn_float.onnx"
    if kws.exists():
        out.append(Case("KWS DS-CNN", kws, "input_1", (1, 49, 10, 1), C.kws_features(n_calib, 0), C.kws_features(n_eval, 1), True, tflite=MODELS / "kws_dscnn_int8.tflite"))
    ad = MODELS / "ad_autoencoder_float.onnx"
    if ad.exists():
        out.append(Case("AD autoencoder", ad, "input_1", (1, 640), C.ad_features(n_calib, 0), C.ad_features(n_eval, 1), False, tflite=MODELS / "ad_autoencoder_int8.tflite"))
    art = REPO / "examples" / "magnet_locator" / "artifacts"
    if not (art / "magnet_locator.onnx").exists():
        from examples.magnet_locator.train import build_model

        build_model(art)
    cal, ev = np.load(art / "calib.npz"), np.load(art / "eval.npz")
    out.append(
        Case(
            "magnet locator",
            art / "magnet_locator.onnx",
            "magnetometers",
            (1, 48),
            cal["magnetometers"][:n_calib].astype(np.float32),
            ev["magnetometers"][:n_eval].astype(np.float32),
            False,
            truth=ev["position"][:n_eval],
        )
    )
    return out


def _feeds(case: Case, rows: np.ndarray) -> list[dict[str, np.ndarray]]:
    return [{case.input_name: r.reshape(case.shape).astype(np.float32)} for r in rows]


def _row(case: Case, tool: str, scheme: str, calibration: str, ref: list[np.ndarray], got: list[np.ndarray], seconds: float) -> Row:
    from tinyc.quant.report import output_error

    e = output_error("out", ref, got, case.classifier)
    task = None
    if case.truth is not None:
        pred = np.concatenate([g.reshape(1, -1) for g in got])
        task = float(np.linalg.norm(pred - case.truth, axis=1).mean())
    return Row(case.name, tool, scheme, calibration, e.sqnr_db, e.max_abs_err, e.mean_abs_err, e.cosine, e.top1, task, round(seconds, 2))


def float_reference(case: Case) -> tuple[list[np.ndarray], Row]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(case.path), providers=["CPUExecutionProvider"])
    ref = [sess.run(None, f)[0] for f in _feeds(case, case.evals)]
    return ref, _row(case, "float (onnxruntime)", "f32", "-", ref, ref, 0.0)


def tinyc_rows(case: Case, ref: list[np.ndarray]) -> tuple[list[Row], Any]:
    from tinyc.api import load
    from tinyc.interpreter import run_graph
    from tinyc.quant.api import QuantOptions, quantize_model

    model = load(case.path, input_shapes={case.input_name: case.shape})
    rows, int8_graph = [], None
    configs = [("int8", "minmax"), ("int8", "percentile"), ("int8", "mse"), ("int16x8", "minmax"), ("int16x8", "mse")]
    for scheme, observer in configs:
        t0 = time.perf_counter()
        q, rep = quantize_model(model, _feeds(case, case.calib), options=QuantOptions(scheme=scheme, observer=observer))
        got = [next(iter(run_graph(q.graph, f).values())) for f in _feeds(case, case.evals)]
        label = observer + "".join(f" ({op} in float)" for op in sorted({op for _, op, _ in rep.float_nodes}))
        rows.append(_row(case, "tinyc", scheme, label, ref, got, time.perf_counter() - t0))
        if (scheme, observer) == ("int8", "minmax"):
            int8_graph = q.graph
    return rows, int8_graph


def onnxruntime_rows(case: Case, ref: list[np.ndarray], tmp: Path) -> list[Row]:
    import onnxruntime as ort
    from onnxruntime import quantization as oq

    rows = []
    class Reader(oq.CalibrationDataReader):
        def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
            self.it = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    for method in ("MinMax", "Percentile", "Entropy"):
        out = tmp / f"{case.path.stem}_{method}.onnx"
        t0 = time.perf_counter()
        oq.quantize_static(
            str(case.path),
            str(out),
            Reader(_feeds(case, case.calib)),
            quant_format=oq.QuantFormat.QDQ,
            per_channel=True,
            activation_type=oq.QuantType.QInt8,
            weight_type=oq.QuantType.QInt8,
            calibrate_method=getattr(oq.CalibrationMethod, method),
        )
        sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = [sess.run(None, f)[0] for f in _feeds(case, case.evals)]
        rows.append(_row(case, "onnxruntime quantize_static", "int8", method.lower(), ref, got, time.perf_counter() - t0))
    return rows


def tflite_row(case: Case, ref: list[np.ndarray]) -> Row | None:
    if case.tflite is None or not case.tflite.exists():
        return None
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    it = Interpreter(model_path=str(case.tflite))
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    (si, zi), (so, zo) = i["quantization"], o["quantization"]
    got = []
    for f in _feeds(case, case.evals):
        x = next(iter(f.values()))
        it.set_tensor(i["index"], np.clip(np.round(x / si) + zi, -128, 127).astype(np.int8))
        it.invoke()
        got.append((it.get_tensor(o["index"]).astype(np.float64) - zo) * so)
    return _row(case, "TFLite int8 model (LiteRT)", "int8", "benchmark's", ref, got, 0.0)


def qdq_check(case: Case, graph: Any) -> dict[str, Any]:
    from tinyc.quant.qdq_check import check_against_onnxruntime

    r = check_against_onnxruntime(graph, _feeds(case, case.evals[:20]))
    return {
        "model": case.name,
        "per_layer_within_1_lsb": r.layer_fraction,
        "per_layer_max_lsb": max((a.max_lsb for a in r.layers), default=0),
        "end_to_end_within_1_lsb": r.output_fraction,
        "end_to_end_max_lsb": max((a.max_lsb for a in r.end_to_end), default=0),
    }


def _fmt(x: float | None, spec: str) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and np.isinf(x):
        return "inf"
    return format(x, spec)


def markdown(rows: list[Row], checks: list[dict[str, Any]], n_calib: int, n_eval: int) -> str:
    lines = [
        "# Quantization accuracy: tinyc vs onnxruntime quantize_static",
        "",
        f"Generated by `python bench/quant.py --calib {n_calib} --eval {n_eval}`. Errors of each quantized model's output against",
        "the float model (onnxruntime) on the evaluation set; calibration and evaluation data are disjoint",
        "(tools/calibration_data.py seeds 0 and 1 for KWS/AD, the magnet locator's calib/eval sets).",
        "onnxruntime: QDQ, per-channel int8 weights, int8 activations. Higher SQNR and cosine are better;",
        "task = mean localisation error in mm (magnet locator, float model in the `float` row).",
        "",
        "| model | tool | scheme | ranges | SQNR dB | max abs err | mean abs err | cosine | top-1 agree | task |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.tool} | {r.scheme} | {r.calibration} | {_fmt(r.sqnr_db, '.1f')} | {_fmt(r.max_abs_err, '.4g')} | "
            f"{_fmt(r.mean_abs_err, '.4g')} | {_fmt(r.cosine, '.5f')} | {_fmt(None if r.top1 is None else 100 * r.top1, '.1f')} | {_fmt(r.task, '.3f')} |"
        )
    lines += [
        "",
        "## Verdict (SQNR of the output, dB)",
        "",
        "Best against best: tinyc's int8 with its best observer, onnxruntime's int8 with its best calibration method;",
        "and both tools' min/max defaults. tinyc quantizes the MCU pipeline's graph, where each layer's bias and",
        "activation are fused into one kernel (int32 bias, one requantization); onnxruntime's QDQ of a MatMul + Add",
        "model also quantizes the product before the bias add (the AD autoencoder). Where both choose identical",
        "scales, zero points and integer weights (the magnet locator) the outputs differ only in how each rounds",
        "its requantization (TFLite's fixed point against onnxruntime's float), a wash.",
        "",
        "| model | tinyc int8 minmax | onnxruntime MinMax | best tinyc int8 | best onnxruntime | tinyc >= onnxruntime |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for model in dict.fromkeys(r.model for r in rows):
        ours = [r for r in rows if r.model == model and r.tool == "tinyc" and r.scheme == "int8"]
        theirs = [r for r in rows if r.model == model and r.tool.startswith("onnxruntime")]
        if not ours or not theirs:
            continue
        default_ours = next(r for r in ours if r.calibration == "minmax").sqnr_db
        default_theirs = next(r for r in theirs if r.calibration == "minmax").sqnr_db
        best_ours = max(ours, key=lambda r: r.sqnr_db)
        best_theirs = max(theirs, key=lambda r: r.sqnr_db)
        ok = best_ours.sqnr_db >= best_theirs.sqnr_db
        lines.append(
            f"| {model} | {default_ours:.2f} | {default_theirs:.2f} | {best_ours.sqnr_db:.2f} ({best_ours.calibration}) | "
            f"{best_theirs.sqnr_db:.2f} ({best_theirs.calibration}) | {'yes' if ok else 'NO'} |"
        )
    lines += [
        "",
        "## Independent check: tinyc int8 (minmax) written as QDQ ONNX, run in onnxruntime",
        "",
        "Integer outputs of onnxruntime against tinyc's integer reference, in steps of each tensor's grid, on 20 evaluation samples.",
        "Per layer: each quantized node alone, fed tinyc's integer inputs. End to end: the graph outputs' integer tensors;",
        "one-step differences compound through deep networks (KWS has ten layers before its softmax).",
        "",
        "| model | per layer within 1 LSB | per layer max LSB | end to end within 1 LSB | end to end max LSB |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in checks:
        lines.append(
            f"| {c['model']} | {100 * c['per_layer_within_1_lsb']:.2f}% | {c['per_layer_max_lsb']} | {100 * c['end_to_end_within_1_lsb']:.2f}% | {c['end_to_end_max_lsb']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calib", type=int, default=200, help="calibration samples per model")
    parser.add_argument("--eval", type=int, default=200, help="evaluation samples per model")
    parser.add_argument("--md", type=Path, default=REPO / "bench" / "results" / "quant.md")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    rows: list[Row] = []
    checks: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for case in cases(args.calib, args.eval):
            print(f"{case.name}: {len(case.calib)} calibration, {len(case.evals)} evaluation samples", file=sys.stderr)
            ref, float_row = float_reference(case)
            rows.append(float_row)
            if case.truth is not None:
                rows[-1].task = float(np.linalg.norm(np.concatenate([r.reshape(1, -1) for r in ref]) - case.truth, axis=1).mean())
            ours, graph = tinyc_rows(case, ref)
            rows.extend(ours)
            rows.extend(onnxruntime_rows(case, ref, Path(tmpdir)))
            t = tflite_row(case, ref)
            if t is not None:
                rows.append(t)
            checks.append(qdq_check(case, graph))
    text = markdown(rows, checks, args.calib, args.eval)
    args.md.parent.mkdir(parents=True, exist_ok=True)
    args.md.write_text(text)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"rows": [asdict(r) for r in rows], "qdq_check": checks}, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
