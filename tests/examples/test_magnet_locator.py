"""The magnet locator demo: physics, training, ONNX export, and import into tinyc."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

physics = importlib.import_module("examples.magnet_locator.physics")
train = importlib.import_module("examples.magnet_locator.train")


def _potential_field_ut(pos_mm: np.ndarray, moment: float) -> np.ndarray:
    """B = -grad(psi), psi = mu0/4pi * m.r/|r|^3 (independent of the closed form), by central differences."""
    sensors = physics.sensor_positions() * 1e-3
    m = np.array([0.0, 0.0, moment])

    def psi(points: np.ndarray) -> np.ndarray:
        r = points - pos_mm * 1e-3
        return 1e-7 * (r @ m) / np.linalg.norm(r, axis=-1) ** 3

    h = 1e-7
    grads = []
    for axis in range(3):
        step = np.zeros(3)
        step[axis] = h
        grads.append((psi(sensors + step) - psi(sensors - step)) / (2 * h))
    return -np.stack(grads, axis=1).reshape(-1) * 1e6  # B = mu0 H = -grad(psi), psi already carries mu0


def test_dipole_field_matches_scalar_potential() -> None:
    pos = np.array([[3.0, -7.0, 12.0]])
    got = physics.dipole_field_ut(pos)[0]
    want = _potential_field_ut(pos[0], physics.DEFAULT_BOARD.moment_am2)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


def test_field_directly_above_a_sensor_is_vertical() -> None:
    sensor = physics.sensor_positions()[5]
    z = 20.0
    field = physics.dipole_field_ut(np.array([[sensor[0], sensor[1], z]])).reshape(16, 3)[5]
    expected_bz = 1e-7 * 2 * physics.DEFAULT_BOARD.moment_am2 / (z * 1e-3) ** 3 * 1e6
    np.testing.assert_allclose(field, [0.0, 0.0, expected_bz], atol=1e-9, rtol=1e-9)


def test_sensor_layout_is_row_major_10mm_grid() -> None:
    s = physics.sensor_positions()
    assert s.shape == (16, 3)
    np.testing.assert_allclose(s[0], [-15, -15, 0])
    np.testing.assert_allclose(s[1], [-5, -15, 0])
    np.testing.assert_allclose(s[4], [-15, -5, 0])
    np.testing.assert_allclose(s[15], [15, 15, 0])


def test_simulate_is_seeded_and_noisy() -> None:
    a = physics.simulate(8, np.random.default_rng(1))
    b = physics.simulate(8, np.random.default_rng(1))
    np.testing.assert_array_equal(a[0], b[0])
    readings, pos = a
    assert readings.shape == (8, 48) and readings.dtype == np.float32 and pos.shape == (8, 3)
    clean = physics.dipole_field_ut(pos)
    resid = readings - clean
    assert 0.5 < np.std(resid) < 5.0  # 0.5 uT per reading plus a 2 uT common offset


@pytest.fixture(scope="module")
def small_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("magnet")
    return train.build_model(out, epochs=15, seed=0, n_train=5000, n_eval=200, n_calib=100)


def test_exported_model_interface(small_build: Path) -> None:
    model = onnx.load(str(small_build))
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    (inp,) = model.graph.input
    (out,) = model.graph.output
    assert inp.name == "magnetometers" and [d.dim_value for d in inp.type.tensor_type.shape.dim] == [1, 48]
    assert out.name == "position" and [d.dim_value for d in out.type.tensor_type.shape.dim] == [1, 3]
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [n.op_type for n in model.graph.node] == ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]


def test_eval_and_calib_sets(small_build: Path) -> None:
    for name, n in (("eval", 200), ("calib", 100)):
        data = np.load(small_build.parent / f"{name}.npz")
        assert data["magnetometers"].shape == (n, 48) and data["magnetometers"].dtype == np.float32
        assert data["position"].shape == (n, 3)
        np.testing.assert_array_equal(data["magnetometers"], physics.preprocess(data["raw_ut"]))


def test_model_beats_mean_position_baseline(small_build: Path) -> None:
    data = np.load(small_build.parent / "eval.npz")
    predicted = train.run_onnxruntime(small_build, data["magnetometers"])
    errors = train.localisation_errors(predicted, data["position"])
    baseline = train.localisation_errors(np.broadcast_to(data["position"].mean(0), predicted.shape), data["position"])
    assert errors.mean() < 0.15 * baseline.mean(), (errors.mean(), baseline.mean())
    assert errors.mean() < 3.0
    metrics = json.loads((small_build.parent / "metrics.json").read_text())
    assert metrics["mean_error_mm"] == pytest.approx(float(errors.mean()), rel=1e-6)
    assert metrics["p95_error_mm"] >= metrics["mean_error_mm"]


def test_tinyc_reference_matches_onnxruntime(small_build: Path) -> None:
    from tinyc.frontends.onnx import load_onnx
    from tinyc.interpreter import run_graph
    from tinyc.ir import verify

    graph = load_onnx(small_build)
    verify(graph)
    data = np.load(small_build.parent / "eval.npz")
    inputs = data["magnetometers"][:100]
    ort_out = train.run_onnxruntime(small_build, inputs)
    ours = np.concatenate([run_graph(graph, {"magnetometers": row[None, :]})["position"] for row in inputs])
    np.testing.assert_allclose(ours, ort_out, rtol=0, atol=1e-4)


def test_training_is_reproducible(small_build: Path, tmp_path: Path) -> None:
    again = train.build_model(tmp_path, epochs=15, seed=0, n_train=5000, n_eval=200, n_calib=100)
    assert again.read_bytes() == small_build.read_bytes()
    other = train.build_model(tmp_path / "seed1", epochs=15, seed=1, n_train=5000, n_eval=200, n_calib=100)
    assert other.read_bytes() != small_build.read_bytes()


def test_script_runs_from_repo_root(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "examples/magnet_locator/train.py",
            "--out",
            str(tmp_path),
            "--epochs",
            "2",
            "--train-samples",
            "1000",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "magnet_locator.onnx").is_file()
    assert "localisation error" in proc.stdout
