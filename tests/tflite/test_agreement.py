"""Bit-exact agreement: tinyc's integer reference, tinyc's C, LiteRT (reference kernels) and TFLite Micro.

For every quantized test model (per-op micro-models quantized by tinyc, the
MLPerf Tiny int8 models imported from TFLite, the MLPerf Tiny float models
quantized by tinyc) the four computations must agree on many random inputs.
A disagreement is a bug in tinyc until shown otherwise. The one documented
exception is LiteRT 2.3's single-rounding FULLY_CONNECTED (see tfl_agree.py):
there LiteRT must equal tinyc's reference with that rounding instead.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from tfl_agree import agree, int_samples, litert_fc_semantics, mismatches, run_litert, run_tflm, run_tinyc
from tfl_micro import MICRO, quantized

from tinyc.api import Model, load
from tinyc.backends.tflite.writer import WriteOptions, write_graph
from tinyc.frontends.tflite import load_tflite_bytes
from tinyc.quant.api import quantize_model
from tinyc.quant.quantizer import QuantOptions
from tinyc.testing import shared_model

pytest.importorskip("ai_edge_litert.interpreter")
pytest.importorskip("tflite_micro")

GCC = shutil.which("gcc") is not None
# Micro-models with an op or a form the CMSIS-NN backend has no emitter for.
NO_C = {"add_broadcast", "sigmoid", "tanh", "hardswish", "mean", "concat", "transpose", "pad", "slice"}
SAMPLES = 48


def _check(a: object, expect_c: bool) -> None:
    assert a.tflm == 0, a  # type: ignore[attr-defined]
    if a.litert_vs_single_rounding is None:  # type: ignore[attr-defined]
        assert a.litert == 0, a  # type: ignore[attr-defined]
    else:
        assert a.litert_vs_single_rounding == 0, a  # type: ignore[attr-defined]
    if expect_c and GCC:
        assert a.c == 0, a  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(MICRO))
def test_micro_model_agreement(name: str) -> None:
    g = quantized(name)
    data = write_graph(g).data
    a = agree(name, g, data, int_samples(g, SAMPLES, seed=hash(name) % 1000))
    _check(a, name not in NO_C)
    if name not in NO_C and GCC:
        assert a.c is not None, f"{name}: the C column did not run ({a.notes})"


@pytest.mark.parametrize("name", ["conv_odd_pads", "concat", "clip_custom", "fc_rank3", "chain"])
def test_written_model_reads_back_to_the_same_numbers(name: str) -> None:
    g = quantized(name)
    back = load_tflite_bytes(write_graph(g).data)
    s = int_samples(g, 16, seed=3)
    assert mismatches(run_tinyc(g, s), run_tinyc(back, s)) == 0


@pytest.mark.parametrize("io", ["uint8", "float"])
@pytest.mark.parametrize("name", ["conv_same_stride2_relu", "softmax"])
def test_uint8_and_float_io_agree(name: str, io: str) -> None:
    """The edge QUANTIZE/DEQUANTIZE operators convert exactly: same int8 core results."""
    g = quantized(name)
    data = write_graph(g, WriteOptions(io_type=io)).data
    s = int_samples(g, 16, seed=5)
    ref = run_tinyc(g, s)[0]
    qin, qout = g.inputs[0].type.quant, g.outputs[0].type.quant
    assert qin is not None and qout is not None
    if io == "uint8":
        feed = [[(x.astype(np.int16) + 128).astype(np.uint8)] for (x,) in s]
        for got in (run_litert(data, feed)[0], run_tflm(data, feed)[0]):
            assert got.dtype == np.uint8
            np.testing.assert_array_equal(got.astype(np.int16) - 128, ref)
    else:
        feed = [[((x.astype(np.float32) - qin.zero_point[0]) * np.float32(qin.scale[0])).astype(np.float32)] for (x,) in s]
        want = (ref.astype(np.float32) - qout.zero_point[0]) * np.float32(qout.scale[0])
        for got in (run_litert(data, feed)[0], run_tflm(data, feed)[0]):
            np.testing.assert_array_equal(got.reshape(want.shape), want)


def test_litert_fc_deviation_is_real() -> None:
    """Pin LiteRT 2.3's single rounding: it differs from TFLM/CMSIS-NN on the AD model, and equals the formula."""
    g = load(shared_model("mlperf-tiny/ad_autoencoder_int8.tflite")).graph
    data = write_graph(g).data
    s = int_samples(g, 8, seed=11)
    lit = run_litert(data, s)
    assert mismatches(run_tinyc(g, s), lit) > 0, "LiteRT now rounds FULLY_CONNECTED like TFLM: update tfl_agree.py and docs/tflite.md"
    with litert_fc_semantics():
        assert mismatches(run_tinyc(g, s), lit) == 0


# -- MLPerf Tiny ----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["kws_dscnn_int8", "ad_autoencoder_int8"])
def test_mlperf_int8_tflite_agreement(which: str) -> None:
    path = shared_model(f"mlperf-tiny/{which}.tflite")
    original = path.read_bytes()
    g = load(path).graph
    s = int_samples(g, SAMPLES, seed=2)
    # the file as published, and as tinyc writes it back
    for data in (original, write_graph(g).data):
        _check(agree(which, g, data, s, with_c=False), expect_c=False)
    a = agree(which, g, original, s)
    _check(a, expect_c=True)
    if GCC:
        assert a.c == 0


@pytest.mark.parametrize("which", ["kws", "ad"])
def test_mlperf_quantized_by_tinyc_agreement(which: str, kws_float: object, ad_float: object) -> None:
    path = kws_float if which == "kws" else ad_float
    shape = (1, 49, 10, 1) if which == "kws" else (1, 640)
    m = load(path, input_shapes={"input_1": shape})
    rng = np.random.default_rng(0)
    calib = {"input_1": (rng.standard_normal((12, *shape[1:])) * 4).astype(np.float32)}
    qm, _ = quantize_model(Model(m.graph, str(path), which), calib, options=QuantOptions(int_io=True))
    data = write_graph(qm.graph).data
    a = agree(which, qm.graph, data, int_samples(qm.graph, 32, seed=4))
    _check(a, expect_c=True)
