"""Integer (TFLite int8) arithmetic: exact fixed-point helpers, parameter preparation, reference kernels.

* :mod:`tinyc.quant.arith` — QuantizeMultiplier, SRDHM, rounding shifts, requantize.
* :mod:`tinyc.quant.params` — what TFLite's ``Prepare`` computes (multipliers, add/mul/softmax params, padding).
* :mod:`tinyc.quant.kernels` — NumPy int8 kernels bit-exact with TFLite's reference kernels and CMSIS-NN.
* :mod:`tinyc.quant.kernels_extra` — hard-swish, MEAN, requantize, rescaling RELU and the 16x8 kernels.

Post-training quantization (docs/quantization.md):

* :mod:`tinyc.quant.api` — ``quantize``, ``quantize_model``, ``quantization_report``, ``quantize_passes``.
* :mod:`tinyc.quant.quantizer` — the rewrite into integer ops (``QuantOptions``); :mod:`~tinyc.quant.rules` per op.
* :mod:`tinyc.quant.calibrate`, :mod:`~tinyc.quant.observers` — calibration data and range observers.
* :mod:`tinyc.quant.prequant` — parameters of pre-quantized (QDQ) models.
* :mod:`tinyc.quant.report` — per-layer SQNR and output errors.
* :mod:`tinyc.quant.qdq_writer`, :mod:`~tinyc.quant.qdq_check` — QDQ ONNX export and the onnxruntime check.
"""

from __future__ import annotations
