"""The planner on the MLPerf Tiny models (skipped when ../shared/models is absent)."""

from __future__ import annotations

import numpy as np
import pytest
from memgraphs import simulate

from tinyc.frontends.onnx import load_onnx
from tinyc.interpreter import run_graph
from tinyc.memory import PlanOptions, plan_memory, validate_plan
from tinyc.passes.fold import fold_dequantize_weights
from tinyc.targets import load_target

STM32H7 = load_target("stm32h7")
INT8 = PlanOptions(size_of=lambda v: v.type.numel)  # the same graph with 1-byte activations


def _inputs(g, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    return {v.name: rng.standard_normal(v.type.shape).astype(np.float32) for v in g.inputs}


def test_kws_plan_runs_and_beats_tflm(kws_float) -> None:  # type: ignore[no-untyped-def]
    g = load_onnx(kws_float)
    fold_dequantize_weights(g)  # weights as constants, as in the TFLite model
    plan = plan_memory(g, STM32H7)
    validate_plan(plan)
    assert plan.ratio <= 1.01
    assert all(w.region == "FLASH" for w in plan.weights.values())
    inputs = _inputs(g)
    ref = run_graph(g, inputs)
    out = simulate(plan, g, inputs)
    for name, arr in ref.items():
        np.testing.assert_array_equal(out[name], arr)
    # TFLM plans 16,000 B of int8 activations for this model (README of the shared models)
    int8 = plan_memory(g, STM32H7, options=INT8)
    assert int8.activation_bytes <= 16_000
    assert int8.activation_bytes <= int8.lower_bound * 1.01


def test_kws_with_runtime_dequantize_is_reordered(kws_float) -> None:  # type: ignore[no-untyped-def]
    g = load_onnx(kws_float)  # DequantizeLinear nodes on the weights stay in the graph
    plan = plan_memory(g, STM32H7)
    assert plan.lower_bound < plan.original_lower_bound  # dequantize each weight just before its use
    validate_plan(plan)


def test_ad_autoencoder_matches_tflm(ad_float) -> None:  # type: ignore[no-untyped-def]
    g = load_onnx(ad_float)
    plan = plan_memory(g, STM32H7, options=INT8)
    assert plan.activation_bytes == 768  # TFLM's figure for the int8 model
    fp = plan_memory(g, STM32H7)
    inputs = _inputs(g)
    ref = run_graph(g, inputs)
    out = simulate(fp, g, inputs)
    for name, arr in ref.items():
        np.testing.assert_array_equal(out[name], arr)


@pytest.mark.parametrize("target", ["stm32h743", "openmv-h7", "portenta-h7", "cortex-m7"])
def test_kws_fits_the_other_boards(kws_float, target: str) -> None:  # type: ignore[no-untyped-def]
    g = load_onnx(kws_float)
    fold_dequantize_weights(g)
    plan = plan_memory(g, load_target(target))
    validate_plan(plan)
