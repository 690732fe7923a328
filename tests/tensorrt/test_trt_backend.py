"""The TensorRT backend end to end on small models: files, rules, numbers.

Tolerances: fp16 builds write float32 weights, so the written model must
match the float reference within rtol 1e-5 / atol 1e-5 in onnxruntime. int8
models (explicit Q/DQ) must match tinyc's interpreter on the same written
model (imported back) within atol 1e-5, and the float model with an SQNR of
at least 30 dB on these small networks.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from trt_helpers import cnn_model, full_check, mlp_model, one_node_model, rnd, run_ort, sqnr_db

import tinyc
from tinyc.backends.tensorrt import profile_of
from tinyc.backends.tensorrt.checker import check_model
from tinyc.cli import main as cli_main
from tinyc.driver import CompileOptions, compile_model
from tinyc.errors import QuantizationError, TinycError, UnsupportedOpError
from tinyc.frontends.onnx import import_model
from tinyc.interpreter import run_graph
from tinyc.targets import load_target

TARGETS = ("jetson-orin", "jetson-xavier", "jetson-nano")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    out = {}
    for name, m in (("cnn", cnn_model()), ("mlp", mlp_model())):
        onnx.save(m, str(d / f"{name}.onnx"))
        out[name] = d / f"{name}.onnx"
    rng = np.random.default_rng(0)
    np.savez(d / "cnn_calib.npz", x=rng.normal(size=(16, 3, 12, 12)).astype(np.float32))
    np.savez(d / "mlp_calib.npz", x=rng.normal(size=(16, 8)).astype(np.float32))
    out["cnn_calib"], out["mlp_calib"] = d / "cnn_calib.npz", d / "mlp_calib.npz"
    return out


def compile_to(path: Path, out: Path, target: str, **opts: object) -> tuple[dict, onnx.ModelProto]:
    art = compile_model(tinyc.load(path), output_dir=out, options=CompileOptions(target=target, **opts))  # type: ignore[arg-type]
    model = full_check(onnx.load(str(out / "model.onnx")))
    assert check_model(model, profile_of(load_target(target)), dynamic_batch="dynamic_batch" in opts) == []
    return art.report, model


def inputs_for(name: str, seed: int = 7) -> dict[str, np.ndarray]:
    """A sample like the calibration data (standard normal), not one of them."""
    shape = (1, 3, 12, 12) if name == "cnn" else (1, 8)
    return {"x": np.random.default_rng(seed).normal(size=shape).astype(np.float32)}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", ["cnn", "mlp"])
def test_fp16(models: dict[str, Path], tmp_path: Path, target: str, name: str) -> None:
    rep, model = compile_to(models[name], tmp_path / "out", target)
    profile = profile_of(load_target(target))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".tinyc-output", "build_engine.sh", "model.onnx", "report.json", "report.md"]
    assert model.opset_import[0].version == profile.opset and rep["precision"] == "fp16"
    assert {p.key: p.value for p in model.metadata_props}["tinyc.precision"] == "fp16"
    feeds = inputs_for(name)
    want = run_ort(onnx.load(str(models[name])), feeds)[0]
    np.testing.assert_allclose(run_ort(model, feeds)[0], want, rtol=1e-5, atol=1e-5)
    script = (tmp_path / "out" / "build_engine.sh").read_text()
    assert "--onnx=model.onnx" in script and " --fp16 " in script and "--int8" not in script
    assert json.loads((tmp_path / "out" / "report.json").read_text())["checker"] == "passed"
    if not profile.int64_weights:
        assert not any(t.data_type == onnx.TensorProto.INT64 for t in model.graph.initializer)
    ops = {n.op_type for n in model.graph.node}
    assert "BatchNormalization" not in ops and not ops & {"Shape", "Reshape", "MatMul"}


@pytest.mark.parametrize("target", ["jetson-orin", "jetson-xavier"])
@pytest.mark.parametrize("name", ["cnn", "mlp"])
def test_int8(models: dict[str, Path], tmp_path: Path, target: str, name: str) -> None:
    rep, model = compile_to(models[name], tmp_path / "out", target, precision="int8", calib=models[f"{name}_calib"])
    assert rep["precision"] == "int8"
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq
    for n in qdq:
        assert not np.any(inits[n.input[2]]) and inits[n.input[2]].dtype == np.int8
        assert np.all(inits[n.input[1]] > 0)
    for n in model.graph.node:
        if n.op_type in ("Conv", "Gemm"):
            w = next(p for p in model.graph.node if n.input[1] in p.output)
            assert w.op_type == "DequantizeLinear" and inits[w.input[0]].dtype == np.int8
            assert inits[w.input[1]].size == inits[w.input[0]].shape[0]  # per output channel
            assert {a.name: a.i for a in w.attribute}.get("axis", 1) == 0
            x = next(p for p in model.graph.node if n.input[0] in p.output)
            assert x.op_type == "DequantizeLinear" and inits[x.input[1]].size == 1  # activations per tensor
    feeds = inputs_for(name)
    got = run_ort(model, feeds)[0]
    ours = run_graph(import_model(model), feeds)[model.graph.output[0].name]
    np.testing.assert_allclose(got, ours, rtol=0, atol=1e-5)
    want = run_ort(onnx.load(str(models[name])), feeds)[0]
    assert sqnr_db(want, got) >= 30.0
    assert " --int8 --fp16 " in (tmp_path / "out" / "build_engine.sh").read_text()
    layers = {row["name"]: row for row in rep["layers"]}
    assert layers["fc2+bias2" if name == "mlp" else "fc"]["precision"] == "int8"


def test_residual_add_reads_both_inputs_quantized(models: dict[str, Path], tmp_path: Path) -> None:
    _, model = compile_to(models["cnn"], tmp_path / "out", "jetson-orin", precision="int8", calib=models["cnn_calib"])
    producer = {o: n for n in model.graph.node for o in n.output}
    add = next(n for n in model.graph.node if n.op_type == "Add")
    assert [producer[i].op_type for i in add.input] == ["DequantizeLinear", "DequantizeLinear"]


def test_int8_needs_calibration_data(models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(QuantizationError, match="calibration data"):
        compile_model(tinyc.load(models["cnn"]), output_dir=tmp_path / "o", options=CompileOptions(target="jetson-orin", precision="int8"))
    assert not (tmp_path / "o").exists()


def test_nano_int8_report_says_no_speedup(models: dict[str, Path], tmp_path: Path) -> None:
    rep, _ = compile_to(models["mlp"], tmp_path / "out", "jetson-nano", precision="int8", calib=models["mlp_calib"])
    assert any("no fast int8" in n for n in rep["notes"])
    assert rep["dla"] is None
    script = (tmp_path / "out" / "build_engine.sh").read_text()
    assert "has no DLA" in script


def test_output_bytes_are_deterministic(models: dict[str, Path], tmp_path: Path) -> None:
    a, _ = compile_to(models["cnn"], tmp_path / "a", "jetson-orin", precision="int8", calib=models["cnn_calib"])
    b, _ = compile_to(models["cnn"], tmp_path / "b", "jetson-orin", precision="int8", calib=models["cnn_calib"])
    for f in ("model.onnx", "build_engine.sh", "report.md"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_dynamic_batch_profile(models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    rep, model = compile_to(models["cnn"], out, "jetson-orin", dynamic_batch=(1, 4, 8))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert json.loads((out / "profile.json").read_text())["profiles"][0]["x"]["max"] == [8, 3, 12, 12]
    script = (out / "build_engine.sh").read_text()
    assert "--minShapes=x:1x3x12x12 --optShapes=x:4x3x12x12 --maxShapes=x:8x3x12x12" in script
    assert rep["dla"]["layers_on_dla"] == 0
    x = rnd((3, 3, 12, 12), seed=4)
    src = onnx.load(str(models["cnn"]))
    want = np.concatenate([run_ort(src, {"x": x[i : i + 1]})[0] for i in range(3)])
    np.testing.assert_allclose(run_ort(model, {"x": x})[0], want, rtol=1e-5, atol=1e-5)
    r = subprocess.run(["sh", str(out / "build_engine.sh"), "--dla", "0"], capture_output=True, text=True)
    assert r.returncode == 2 and "static shapes" in r.stderr


def test_dynamic_batch_refused_when_the_graph_moves_the_batch(tmp_path: Path) -> None:
    m = one_node_model("Transpose", {"x": rnd((1, 5))}, attrs={"perm": [1, 0]})
    onnx.save(m, str(tmp_path / "t.onnx"))
    with pytest.raises(TinycError, match="dynamic batch"):
        compile_model(tinyc.load(tmp_path / "t.onnx"), output_dir=tmp_path / "o", options=CompileOptions(target="jetson-orin", dynamic_batch=(1, 2, 4)))


def test_build_script_passes_dla_flags(models: dict[str, Path], tmp_path: Path) -> None:
    """Run the script with a stand-in trtexec that prints its arguments."""
    out = tmp_path / "out"
    compile_to(models["cnn"], out, "jetson-orin")
    fake = tmp_path / "trtexec"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    env = {"TRTEXEC": str(fake), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(["sh", str(out / "build_engine.sh"), "--dla", "1", "--verbose"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["--onnx=model.onnx", "--saveEngine=model.dla1.engine", "--fp16", "--useDLACore=1", "--allowGPUFallback", "--verbose"]
    r = subprocess.run(["sh", str(out / "build_engine.sh"), "--dla", "2"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "0..1" in r.stderr


def _qdq_conv_model(zp: int, qtype: int) -> onnx.ModelProto:
    """x -> Q/DQ (given zero point and type) -> Conv with int8 per-channel weights -> y."""
    rng = np.random.default_rng(1)
    w = rng.integers(-100, 100, (4, 3, 3, 3)).astype(np.int8)
    np_t = np.uint8 if qtype == onnx.TensorProto.UINT8 else np.int8
    inits = [
        numpy_helper.from_array(np.float32(0.02), "xs"), numpy_helper.from_array(np.asarray(zp, np_t), "xz"),
        numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([0.01, 0.02, 0.01, 0.03], np.float32), "ws"),
        numpy_helper.from_array(np.zeros(4, np.int8), "wz"),
    ]  # fmt: skip
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"], name="q"),
        helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"], name="dq"),
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], name="wdq", axis=0),
        helper.make_node("Conv", ["xd", "wd"], ["y"], name="conv", pads=[1, 1, 1, 1]),
    ]
    g = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", 1, [1, 3, 6, 6])], [helper.make_tensor_value_info("y", 1, [1, 4, 6, 6])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


@pytest.mark.parametrize("zp,qtype", [(0, onnx.TensorProto.INT8), (128, onnx.TensorProto.UINT8)])
def test_prequantized_models_keep_their_scales(tmp_path: Path, zp: int, qtype: int) -> None:
    src = _qdq_conv_model(zp, qtype)
    onnx.save(src, str(tmp_path / "q.onnx"))
    rep, model = compile_to(tmp_path / "q.onnx", tmp_path / "out", "jetson-orin")
    assert rep["precision"] == "int8"
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    scales = sorted(float(inits[n.input[1]].reshape(-1)[0]) for n in model.graph.node if n.op_type == "QuantizeLinear")
    assert scales == [pytest.approx(0.02)]
    x = rnd((1, 3, 6, 6), seed=2, lo=-1, hi=1)
    np.testing.assert_allclose(run_ort(model, {"x": x})[0], run_ort(src, {"x": x})[0], rtol=0, atol=1e-5)
    rep16, model16 = compile_to(tmp_path / "q.onnx", tmp_path / "out16", "jetson-orin", precision="fp16")
    assert rep16["precision"] == "fp16" and not {n.op_type for n in model16.graph.node} & {"QuantizeLinear", "DequantizeLinear"}


def test_asymmetric_prequantized_model_is_refused(tmp_path: Path) -> None:
    onnx.save(_qdq_conv_model(3, onnx.TensorProto.INT8), str(tmp_path / "q.onnx"))
    with pytest.raises(QuantizationError, match="symmetric.*zero point 3"):
        compile_model(tinyc.load(tmp_path / "q.onnx"), output_dir=tmp_path / "o", options=CompileOptions(target="jetson-orin"))


def test_unsupported_op_names_the_node(tmp_path: Path) -> None:
    m = one_node_model("Mod", {"a": rnd((2, 3))}, {"b": rnd((3,), 1, 0.5, 2)}, attrs={"fmod": 1}, opset=13)
    onnx.save(m, str(tmp_path / "m.onnx"))
    with pytest.raises(UnsupportedOpError, match=r"Mod_0.*not parsed by TensorRT 8\.2"):
        compile_model(tinyc.load(tmp_path / "m.onnx"), output_dir=tmp_path / "o", options=CompileOptions(target="jetson-nano"))
    compile_to(tmp_path / "m.onnx", tmp_path / "ok", "jetson-xavier")  # 8.5 parses Mod


@pytest.mark.parametrize(
    "op,attrs,opset,target,gone",
    [
        ("HardSwish", {}, 14, "jetson-nano", "HardSwish"),
        ("Mish", {}, 18, "jetson-orin", "Mish"),
        ("Gelu", {}, 20, "jetson-orin", "Gelu"),
        ("Gelu", {"approximate": "tanh"}, 20, "jetson-xavier", "Gelu"),
        ("Reciprocal", {}, 13, "jetson-nano", "Reciprocal"),
        ("LayerNormalization", {"axis": -1}, 17, "jetson-xavier", "LayerNormalization"),
    ],
)
def test_documented_rewrites(tmp_path: Path, op: str, attrs: dict, opset: int, target: str, gone: str) -> None:
    x = rnd((2, 4, 6), seed=3, lo=0.2 if op == "Reciprocal" else -3, hi=3)
    consts = {"s": rnd((6,), 1), "b": rnd((6,), 2)} if op == "LayerNormalization" else {}
    m = one_node_model(op, {"x": x}, consts, attrs=attrs, opset=opset)
    onnx.save(m, str(tmp_path / "m.onnx"))
    _, model = compile_to(tmp_path / "m.onnx", tmp_path / "out", target)
    assert gone not in {n.op_type for n in model.graph.node}
    np.testing.assert_allclose(run_ort(model, {"x": x})[0], run_ort(m, {"x": x})[0], rtol=1e-5, atol=2e-5)


def test_cli_compile_int8(models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = cli_main(["compile", str(models["mlp"]), "--target", "jetson-orin", "--precision", "int8", "--calib", str(models["mlp_calib"]), "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert json.loads((out / "report.json").read_text())["precision"] == "int8"
    assert cli_main(["compile", str(models["mlp"]), "--target", "jetson-orin", "--dynamic-batch", "4,2", "-o", str(tmp_path / "bad")]) == 1
    assert "MIN,OPT,MAX" in capsys.readouterr().err


def test_trt8_avoids_int64_shape_initializers_where_it_can(tmp_path: Path) -> None:
    """Unit-axis moves become Transpose and 2-D views Flatten; a Reshape that must stay says TensorRT 8.x casts its shape."""
    x = rnd((1, 4, 5, 1), seed=1)
    moves = one_node_model("Reshape", {"x": x}, {"s": np.array([1, 1, 4, 5], np.int64)})
    onnx.save(moves, str(tmp_path / "moves.onnx"))
    rep, model = compile_to(tmp_path / "moves.onnx", tmp_path / "a", "jetson-xavier")
    assert [n.op_type for n in model.graph.node] == ["Transpose"] and not model.graph.initializer
    np.testing.assert_array_equal(run_ort(model, {"x": x})[0], run_ort(moves, {"x": x})[0])
    _, model10 = compile_to(tmp_path / "moves.onnx", tmp_path / "b", "jetson-orin")
    assert [n.op_type for n in model10.graph.node] == ["Reshape"]
    y = rnd((1, 2, 3, 4), seed=2)
    merge = one_node_model("Reshape", {"x": y}, {"s": np.array([1, 6, 4], np.int64)})
    onnx.save(merge, str(tmp_path / "merge.onnx"))
    rep, model = compile_to(tmp_path / "merge.onnx", tmp_path / "c", "jetson-xavier")
    assert [t.data_type for t in model.graph.initializer] == [onnx.TensorProto.INT64]
    assert any("casts them to INT32" in n for n in rep["notes"])


def test_asymmetric_prequantized_model_is_recalibrated_with_calib(tmp_path: Path) -> None:
    onnx.save(_qdq_conv_model(3, onnx.TensorProto.INT8), str(tmp_path / "q.onnx"))
    calib = {"x": np.random.default_rng(0).normal(size=(8, 1, 3, 6, 6)).astype(np.float32)[:, 0]}
    rep, model = compile_to(tmp_path / "q.onnx", tmp_path / "out", "jetson-orin", calib=calib)
    assert rep["precision"] == "int8" and "recalibrated" in rep["notes"][0]
    zps = [numpy_helper.to_array(t) for t in model.graph.initializer if t.name.endswith("zero_point")]
    assert zps and not any(np.any(z) for z in zps)


@pytest.mark.parametrize("symmetric", [True, False])
def test_onnxruntime_quantized_model(models: dict[str, Path], tmp_path: Path, symmetric: bool) -> None:
    """A QDQ model from onnxruntime's quantize_static: symmetric keeps its scales (same numbers); asymmetric is refused without --calib."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    calib = np.load(models["cnn_calib"])["x"]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter({"x": c[None]} for c in calib)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    out = tmp_path / "q.onnx"
    quantize_static(
        str(models["cnn"]), str(out), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8, per_channel=True, extra_options={"ActivationSymmetric": symmetric},
    )  # fmt: skip
    if not symmetric:
        with pytest.raises(QuantizationError, match="zero point"):
            compile_model(tinyc.load(out), output_dir=tmp_path / "o", options=CompileOptions(target="jetson-orin"))
        return
    rep, model = compile_to(out, tmp_path / "o", "jetson-orin")
    assert rep["precision"] == "int8"
    x = inputs_for("cnn")
    np.testing.assert_allclose(run_ort(model, x)[0], run_ort(onnx.load(str(out)), x)[0], rtol=0, atol=1e-6)
