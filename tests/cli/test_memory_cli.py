"""`tinyc analyze --target`: the memory plan as a user sees it (issue 3's acceptance checks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def tinyc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinyc.cli", *args], capture_output=True, text=True, timeout=300)


def big_cnn(path: Path) -> Path:
    """Two 3x3 convs at 160x160x32 float: 6.5 MB of activations at the peak."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array((rng.standard_normal((32, 3, 3, 3)) * 0.1).astype(np.float32), "w1"),
        numpy_helper.from_array((rng.standard_normal((32, 32, 3, 3)) * 0.1).astype(np.float32), "w2"),
        numpy_helper.from_array((rng.standard_normal((32, 10)) * 0.1).astype(np.float32), "wfc"),
    ]
    nodes = [
        helper.make_node("Conv", ["image", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"], name="gap"),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("MatMul", ["f", "wfc"], ["logits"], name="fc"),
    ]
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 160, 160])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])
    onnx.save(helper.make_model(helper.make_graph(nodes, "big", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_too_large_for_stm32h743_is_a_clear_error(tmp_path: Path) -> None:
    r = tinyc("analyze", str(big_cnn(tmp_path / "big.onnx")), "--target", "stm32h743")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    for part in ("stm32h743", "activations need 6,553,600 B", "per region", "peak at step", "largest buffers", "hint:", "SDRAM"):
        assert part in r.stderr, part


def test_same_model_spills_to_sdram_on_stm32h7(tmp_path: Path) -> None:
    r = tinyc("analyze", str(big_cnn(tmp_path / "big.onnx")), "--target", "stm32h7", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)["memory"]
    regions = {reg["name"]: reg for reg in plan["regions"]}
    assert regions["SDRAM"]["used"] > 6_000_000
    r = tinyc("analyze", str(tmp_path / "big.onnx"), "--target", "stm32h7")
    assert r.returncode == 0, r.stderr
    assert "spill beyond DTCM" in r.stdout and "SDRAM" in r.stdout


def test_kws_plan_bound_ratio_and_picture(kws_float: Path, tmp_path: Path) -> None:
    png = tmp_path / "plan.png"
    r = tinyc("analyze", str(kws_float), "--target", "stm32h7", "--memory-plot", str(png))
    assert r.returncode == 0, r.stderr
    assert "lower bound" in r.stdout and "ratio" in r.stdout and "DTCM" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    r = tinyc("analyze", str(kws_float), "--target", "stm32h7", "--json")
    data = json.loads(r.stdout)["memory"]
    act = data["activations"]
    assert act["peak_bytes"] >= act["lower_bound"] > 0
