"""Integer (TFLite int8) arithmetic: exact fixed-point helpers, parameter preparation, reference kernels.

* :mod:`tinyc.quant.arith` — QuantizeMultiplier, SRDHM, rounding shifts, requantize.
* :mod:`tinyc.quant.params` — what TFLite's ``Prepare`` computes (multipliers, add/mul/softmax params, padding).
* :mod:`tinyc.quant.kernels` — NumPy int8 kernels bit-exact with TFLite's reference kernels and CMSIS-NN.
"""

from __future__ import annotations
