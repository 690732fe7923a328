"""The TensorRT backend's pass list: NCHW ONNX-level clean-up, TensorRT forms, then the precision step.

Unlike the MCU pipeline it keeps ONNX ops (no NHWC kernel ops), so the graph
can be written back as ONNX. The last pass chooses the precision:

* a model quantized with QDQ keeps its scales for int8 (``normalize_prequantized``)
  and loses its pairs for fp16/fp32 (``strip_qdq``);
* a float model gets calibrated Q/DQ pairs for int8 (``quantize_graph``) and
  stays float for fp16/fp32 (fp16 is a build flag: weights stay float32 in the
  file and TensorRT converts them).
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from tinyc.backends.tensorrt.legalize import legalize_pass, trt_canonicalize
from tinyc.backends.tensorrt.profile import PRECISIONS, TrtProfile
from tinyc.backends.tensorrt.qdq import activation_quantizers, normalize_prequantized, quantize_graph, strip_qdq
from tinyc.errors import QuantizationError, TinycError
from tinyc.ir.core import Graph
from tinyc.passes.cleanup import cse, dce
from tinyc.passes.fold import fold_constants_pass, fold_dequantize_weights
from tinyc.passes.manager import Pass, PassResult

log = logging.getLogger(__name__)

CALIB_LIMIT = 256  # calibration samples used at most (the float interpreter runs once per sample)
# What the precision step did, per graph (the backend's report reads it).
NOTES: weakref.WeakKeyDictionary[Graph, list[str]] = weakref.WeakKeyDictionary()


def requested_precision(profile: TrtProfile, options: Any) -> str | None:
    """The precision the compile options ask for (None: the model decides, else the target's default)."""
    precision = getattr(options, "precision", None)
    quantize = getattr(options, "quantize", None)
    if quantize == "int16x8":
        raise TinycError("TensorRT has no int16 activations", where=f"target {profile.target!r}", hint="use --precision int8 (or fp16)")
    if getattr(options, "int_io", False):
        raise TinycError(
            "--int-io does not apply to TensorRT engines: inputs and outputs stay float and the Q/DQ pairs quantize inside",
            where=f"target {profile.target!r}",
            hint="drop --int-io",
        )
    if quantize == "int8":
        if precision not in (None, "int8"):
            raise TinycError(f"--quantize int8 contradicts --precision {precision}", hint="give one of them")
        precision = "int8"
    if precision is not None and precision not in PRECISIONS:
        raise TinycError(f"unknown precision {precision!r}", hint=f"use one of {', '.join(PRECISIONS)}")
    return precision


def effective_precision(profile: TrtProfile, options: Any, graph: Graph) -> str:
    """The precision the engine is built in, once the pipeline ran (int8 iff Q/DQ pairs are in the graph)."""
    if any(n.op.name == "QuantizeLinear" for n in graph.nodes):
        return "int8"
    requested = requested_precision(profile, options)
    if requested == "int8":  # nothing to quantize (no linear layer): the engine is fp16 with an int8 flag that changes nothing
        return "fp16"
    return requested or profile.default_precision


class PrecisionPass:
    """The last pass: Q/DQ in TensorRT's forms for int8, none for fp16/fp32."""

    name = "tensorrt-precision"

    def __init__(self, profile: TrtProfile, options: Any) -> None:
        self.profile = profile
        self.options = options
        self.notes: list[str] = []
        self.report: Any = None

    def __call__(self, graph: Graph) -> PassResult:
        result = self._run(graph)
        NOTES[graph] = list(self.notes)
        return result

    def _run(self, graph: Graph) -> PassResult:
        requested = requested_precision(self.profile, self.options)
        prequantized = bool(activation_quantizers(graph))
        calib = getattr(self.options, "calib", None)
        if prequantized and requested in (None, "int8"):
            try:
                self.notes = ["the model came quantized (QDQ): its scales are kept", *normalize_prequantized(graph)]
                return PassResult(graph, True)
            except QuantizationError as exc:
                if calib is None:
                    raise
                dropped = strip_qdq(graph)
                log.warning("%s; recalibrating symmetric int8 from --calib instead", exc.what)
                self.notes = [f"the model's quantization is not TensorRT's ({exc.what}): its {dropped} activation pairs were dropped and int8 recalibrated"]
                return self._calibrate(graph, calib, keep_notes=True)
        if prequantized:
            dropped = strip_qdq(graph)
            self.notes = [f"{requested}: dropped {dropped} activation Q/DQ pairs of the quantized model and folded its weights to float"]
            return PassResult(graph, True)
        if requested != "int8":
            return PassResult(graph, False)
        return self._calibrate(graph, calib)

    def _calibrate(self, graph: Graph, calib: Any, *, keep_notes: bool = False) -> PassResult:
        if calib is None:
            raise QuantizationError(
                "int8 for TensorRT needs calibration data to choose the activation scales",
                where=f"target {self.profile.target!r}",
                hint="add --calib DATA (.npz keyed by input name, .npy, a folder of samples, or 'random' for a smoke test), "
                "or compile in fp16 (--precision fp16)",
            )
        from tinyc.quant.calibrate import load_samples

        samples = load_samples(calib, graph, limit=CALIB_LIMIT)
        observer = getattr(self.options, "observer", "minmax") or "minmax"
        self.report = quantize_graph(graph, samples, observer=observer)
        done = [f"int8: {len(self.report.activations)} activation scales calibrated on {len(samples)} samples ({observer})", *self.report.notes]
        self.notes = [*self.notes, *done] if keep_notes else done
        return PassResult(graph, True)


def tensorrt_pipeline(profile: TrtProfile, options: Any) -> list[Pass]:
    """The passes, top to bottom."""
    requested_precision(profile, options)  # fail early on contradictory options
    return [
        fold_dequantize_weights,  # float models that store int8 weights (not QDQ-quantized ones)
        fold_constants_pass(),
        trt_canonicalize,
        fold_constants_pass(),
        legalize_pass(profile),
        cse,
        dce,
        PrecisionPass(profile, options),
        cse,
        dce,
    ]
