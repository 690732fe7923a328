"""The CLI as a user drives it: real processes, exit codes, stderr, files written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


def tinyc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinyc.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def small_model(tmp_path: Path, batch: int | str = 1, op: str = "Relu", domain: str = "") -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4])
    b = numpy_helper.from_array(np.arange(4, dtype=np.float32) - 2, "bias")
    nodes = [helper.make_node("Add", ["x", "bias"], ["t"], name="add0"), helper.make_node(op, ["t"], ["y"], name="act0", domain=domain)]
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    g = helper.make_graph(nodes, "small", [x], [y], [b])
    model = helper.make_model(g, opset_imports=opsets)
    return _save(model, tmp_path / "small.onnx")


def test_version() -> None:
    r = tinyc("--version")
    assert r.returncode == 0 and r.stdout.startswith("tinyc ")


def test_help_has_examples() -> None:
    r = tinyc("--help")
    assert r.returncode == 0
    assert "examples:" in r.stdout and "tinyc compile" in r.stdout


def test_no_command_prints_help_and_exits_2() -> None:
    r = tinyc()
    assert r.returncode == 2 and "usage:" in r.stderr


def test_ir_prints_graph(tmp_path: Path) -> None:
    r = tinyc("ir", str(small_model(tmp_path)))
    assert r.returncode == 0, r.stderr
    assert "Add(" in r.stdout and "Relu(" in r.stdout and 'loc("add0")' in r.stdout


def test_run_npy_roundtrip(tmp_path: Path) -> None:
    model = small_model(tmp_path)
    x = np.linspace(-3, 3, 4, dtype=np.float32).reshape(1, 4)
    np.save(tmp_path / "x.npy", x)
    r = tinyc("run", str(model), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"))
    assert r.returncode == 0, r.stderr
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(y, np.maximum(x + (np.arange(4) - 2), 0).astype(np.float32))


def test_run_npz_by_name(tmp_path: Path) -> None:
    model = small_model(tmp_path)
    np.savez(tmp_path / "in.npz", x=np.ones((1, 4), np.float32))
    r = tinyc("run", str(model), "--input", str(tmp_path / "in.npz"), "--output", str(tmp_path / "out.npz"))
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_array_equal(out["y"], np.array([[0, 0, 1, 2]], np.float32))


def test_run_wrong_input_shape_is_clear(tmp_path: Path) -> None:
    model = small_model(tmp_path)
    np.save(tmp_path / "x.npy", np.ones((2, 5), np.float32))
    r = tinyc("run", str(model), "--input", str(tmp_path / "x.npy"))
    assert r.returncode == 1
    assert "shape [2, 5]" in r.stderr and "[1, 4]" in r.stderr and "Traceback" not in r.stderr


def test_pickled_npy_refused(tmp_path: Path) -> None:
    model = small_model(tmp_path)
    np.save(tmp_path / "x.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    r = tinyc("run", str(model), "--input", str(tmp_path / "x.npy"))
    assert r.returncode == 1 and "Traceback" not in r.stderr and "pickled" in r.stderr


@pytest.mark.parametrize("content", [b"", b"not a model at all", bytes(range(256)) * 10])
def test_malformed_file_is_clear_error(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    r = tinyc("ir", str(bad))
    assert r.returncode == 1, r.stdout
    assert r.stderr.startswith("error:") and "Traceback" not in r.stderr


def test_missing_file(tmp_path: Path) -> None:
    r = tinyc("analyze", str(tmp_path / "nope.onnx"))
    assert r.returncode == 1 and "not found" in r.stderr


def test_unsupported_op_names_node_op_domain_opset(tmp_path: Path) -> None:
    r = tinyc("ir", str(small_model(tmp_path, op="Celu")))
    assert r.returncode == 1
    for part in ("act0", "Celu", "ai.onnx", "opset 17", "supported ONNX ops", "Relu"):
        assert part in r.stderr, part
    assert "Traceback" not in r.stderr


def test_custom_domain_op(tmp_path: Path) -> None:
    r = tinyc("ir", str(small_model(tmp_path, op="MyOp", domain="com.acme")))
    assert r.returncode == 1 and "com.acme::MyOp" in r.stderr


def test_symbolic_batch_becomes_one_with_warning(tmp_path: Path) -> None:
    r = tinyc("ir", str(small_model(tmp_path, batch="N")))
    assert r.returncode == 0, r.stderr
    assert "symbolic batch" in r.stderr and "f32[1,4]" in r.stdout


def test_input_shape_override(tmp_path: Path) -> None:
    r = tinyc("ir", str(small_model(tmp_path, batch="N")), "--input-shape", "x=3x4")
    assert r.returncode == 0, r.stderr
    assert "f32[3,4]" in r.stdout and "symbolic" not in r.stderr


def test_bad_input_shape_arg(tmp_path: Path) -> None:
    r = tinyc("ir", str(small_model(tmp_path)), "--input-shape", "x=1xfoo")
    assert r.returncode == 1 and "NAME=1x49x10x1" in r.stderr


def test_unresolved_inner_dim_is_error(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "features"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "features"])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    path = _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    r = tinyc("ir", str(path))
    assert r.returncode == 1 and "'x'" in r.stderr and "features" in r.stderr and "--input-shape" in r.stderr


def test_external_data_outside_folder_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.bin").write_bytes(np.ones(16, np.float32).tobytes())
    sub = tmp_path / "model"
    sub.mkdir()
    w = numpy_helper.from_array(np.ones((1, 4), np.float32), "w")
    w.data_location = TensorProto.EXTERNAL
    del w.external_data[:]
    for k, v in (("location", "../secret.bin"), ("offset", "0"), ("length", "16")):
        e = w.external_data.add()
        e.key, e.value = k, v
    w.ClearField("raw_data")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [w])
    path = sub / "m.onnx"
    path.write_bytes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    r = tinyc("ir", str(path))
    assert r.returncode == 1 and "outside the model's folder" in r.stderr


def test_external_data_inside_folder_loads(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256])
    w = numpy_helper.from_array(np.full((1, 256), 2.0, np.float32), "w")
    g = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["y"])], "g", [x], [y], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(m, str(tmp_path / "m.onnx"), save_as_external_data=True, location="m.data", size_threshold=0)
    np.save(tmp_path / "x.npy", np.ones((1, 256), np.float32))
    r = tinyc("run", str(tmp_path / "m.onnx"), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"))
    assert r.returncode == 0, r.stderr
    assert np.all(np.load(tmp_path / "y.npy") == 2.0)


def test_pickle_checkpoint_refused(tmp_path: Path) -> None:
    p = tmp_path / "model.pt"
    p.write_bytes(b"\x80\x04K\x01.")
    r = tinyc("ir", str(p))
    assert r.returncode == 1 and "unpickle" in r.stderr


def test_compile_unknown_target(tmp_path: Path) -> None:
    r = tinyc("compile", str(small_model(tmp_path)), "--target", "no-such-board", "-o", str(tmp_path / "out"))
    assert r.returncode == 1 and "no-such-board" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_compile_refuses_foreign_nonempty_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    r = tinyc("compile", str(small_model(tmp_path)), "--target", "stm32h7", "-o", str(out))
    assert r.returncode == 1
    assert (out / "precious.txt").read_text() == "keep me"


def test_compile_calib_alone_implies_int8_and_prints_summary(ad_float: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", input_1=rng.standard_normal((16, 1, 640)).astype(np.float32))
    out = tmp_path / "build"
    r = tinyc("compile", str(ad_float), "--target", "stm32h7", "--calib", str(tmp_path / "calib.npz"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "quantizing to int8" in r.stderr
    assert "RAM " in r.stdout and "MACs" in r.stdout
    assert (out / "ad_autoencoder_float.c").exists() and (out / "report.md").exists()
