"""Train the magnet locator (48-50-50-3 MLP) and export it to ONNX with its evaluation data.

Usage, from the repository root::

    python -m examples.magnet_locator.train --out DIR
    python examples/magnet_locator/train.py --out DIR

Writes into DIR (default ``examples/magnet_locator/artifacts/``):

- ``magnet_locator.onnx``: opset 17, input ``magnetometers`` [1, 48] float32
  (``physics.preprocess`` of the raw readings), output ``position`` [1, 3]
  float32 in millimetres. The input standardisation and the output scaling are
  folded into the first and last Gemm, so the graph is Gemm-Relu-Gemm-Relu-Gemm.
- ``eval.npz``: held-out samples: ``magnetometers`` [N, 48] (model inputs),
  ``raw_ut`` [N, 48] (readings in uT), ``position`` [N, 3] (true, mm).
- ``calib.npz``: calibration samples for quantization, same keys.
- ``metrics.json``: localisation error of the exported model on ``eval.npz``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make `examples.magnet_locator` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.magnet_locator.physics import DEFAULT_BOARD, FIELD_SCALE_UT, BoardConfig, preprocess, simulate

log = logging.getLogger("magnet_locator")

DEFAULT_OUT = Path(__file__).resolve().parent / "artifacts"
MODEL_FILE = "magnet_locator.onnx"
INPUT_NAME = "magnetometers"
OUTPUT_NAME = "position"
HIDDEN = (50, 50)
OPSET = 17


@dataclass(frozen=True)
class Metrics:
    """Euclidean localisation error of the exported model on the held-out set, in mm."""

    mean_error_mm: float
    p95_error_mm: float
    baseline_mean_error_mm: float  # always predicting the training set's mean position
    num_eval: int
    num_train: int
    epochs: int
    seed: int
    train_seconds: float


def _datasets(
    seed: int, n_train: int, n_eval: int, n_calib: int, cfg: BoardConfig
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    # Independent streams so changing one set's size leaves the others unchanged.
    train_ss, eval_ss, calib_ss = np.random.SeedSequence(seed).spawn(3)
    return {
        "train": simulate(n_train, np.random.default_rng(train_ss), cfg),
        "eval": simulate(n_eval, np.random.default_rng(eval_ss), cfg),
        "calib": simulate(n_calib, np.random.default_rng(calib_ss), cfg),
    }


def train_mlp(
    inputs: np.ndarray, targets: np.ndarray, *, epochs: int, seed: int, batch_size: int = 256, max_lr: float = 1e-2
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fit the MLP on standardised data; return its layers as (weight [out, in], bias) pairs with the
    input standardisation and output scaling folded in (so they act on raw ``inputs`` units)."""
    import torch

    in_mean, in_std = inputs.mean(0), inputs.std(0) + 1e-6
    out_mean, out_std = targets.mean(0), targets.std(0)
    x = torch.from_numpy(((inputs - in_mean) / in_std).astype(np.float32))
    y = torch.from_numpy(((targets - out_mean) / out_std).astype(np.float32))

    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))
    try:
        torch.manual_seed(seed)
        sizes = (inputs.shape[1], *HIDDEN, targets.shape[1])
        layers: list[torch.nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        net = torch.nn.Sequential(*layers)
        steps_per_epoch = max(1, len(x) // batch_size)
        opt = torch.optim.Adam(net.parameters(), lr=max_lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=epochs * steps_per_epoch)
        gen = torch.Generator().manual_seed(seed)
        for epoch in range(epochs):
            perm = torch.randperm(len(x), generator=gen)
            total = 0.0
            for step in range(steps_per_epoch):
                idx = perm[step * batch_size : (step + 1) * batch_size]
                loss = torch.nn.functional.mse_loss(net(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item()
            log.debug("epoch %d: loss %.5f", epoch + 1, total / steps_per_epoch)
    finally:
        torch.set_num_threads(threads)

    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    params = [
        (m.weight.detach().numpy().astype(np.float64), m.bias.detach().numpy().astype(np.float64)) for m in linears
    ]
    w0, b0 = params[0]
    w0_folded = w0 / in_std[None, :]
    params[0] = (w0_folded, b0 - w0_folded @ in_mean)
    wl, bl = params[-1]
    params[-1] = (wl * out_std[:, None], bl * out_std + out_mean)
    return [(w.astype(np.float32), b.astype(np.float32)) for w, b in params]


def mlp_forward(params: list[tuple[np.ndarray, np.ndarray]], inputs: np.ndarray) -> np.ndarray:
    """NumPy forward pass of the folded MLP on [N, 48] model inputs."""
    h = inputs.astype(np.float32)
    for i, (w, b) in enumerate(params):
        h = h @ w.T + b
        if i < len(params) - 1:
            h = np.maximum(h, 0.0)
    return h


def to_onnx(params: list[tuple[np.ndarray, np.ndarray]]):  # -> onnx.ModelProto
    """The folded MLP as an ONNX model: Gemm(transB=1) and Relu nodes, static batch 1."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    prev = INPUT_NAME
    for i, (w, b) in enumerate(params, start=1):
        inits += [numpy_helper.from_array(w, f"fc{i}.weight"), numpy_helper.from_array(b, f"fc{i}.bias")]
        last = i == len(params)
        out = OUTPUT_NAME if last else f"fc{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"fc{i}.weight", f"fc{i}.bias"], [out], name=f"fc{i}", transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"relu{i}"], name=f"relu{i}"))
            out = f"relu{i}"
        prev = out
    n_in, n_out = params[0][0].shape[1], params[-1][0].shape[0]
    graph = helper.make_graph(
        nodes,
        "magnet_locator",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, n_in])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [1, n_out])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tinyc-examples")
    model.ir_version = 8  # opset 17 needs IR >= 8; keeps the file loadable by older runtimes
    model.doc_string = (
        "Magnet locator: 4x4 grid of 3-axis magnetometers -> dipole position. "
        f"Input magnetometers[1,48] = asinh(B_uT / {FIELD_SCALE_UT:g}), sensor-major (B0x,B0y,B0z,B1x,...). "
        "Output position[1,3] = (x, y, z) in mm."
    )
    helper.set_model_props(model, {"input_preprocess": f"asinh(B_uT / {FIELD_SCALE_UT:g})", "output_units": "mm"})
    onnx.checker.check_model(model, full_check=True)
    return model


def run_onnxruntime(model_path: Path, inputs: np.ndarray) -> np.ndarray:
    """Run the exported model one sample at a time (it has a static batch of 1)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run([OUTPUT_NAME], {INPUT_NAME: row[None, :]})[0] for row in inputs.astype(np.float32)])


def localisation_errors(predicted_mm: np.ndarray, true_mm: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(predicted_mm, np.float64) - np.asarray(true_mm, np.float64), axis=1)


def build_model(
    out_dir: str | Path = DEFAULT_OUT,
    *,
    epochs: int = 60,
    seed: int = 0,
    n_train: int = 40_000,
    n_eval: int = 1_000,
    n_calib: int = 300,
    cfg: BoardConfig = DEFAULT_BOARD,
) -> Path:
    """Simulate, train, export; write the model, eval/calib sets and metrics to ``out_dir``.

    Returns the path of the ONNX file. The defaults train in well under 30 s on 2 cores.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = _datasets(seed, n_train, n_eval, n_calib, cfg)
    raw_train, pos_train = data["train"]
    start = time.perf_counter()
    params = train_mlp(preprocess(raw_train), pos_train, epochs=epochs, seed=seed)
    seconds = time.perf_counter() - start

    import onnx

    model_path = out / MODEL_FILE
    onnx.save(to_onnx(params), str(model_path))
    for split in ("eval", "calib"):
        raw, pos = data[split]
        # keys: INPUT_NAME, "raw_ut", OUTPUT_NAME
        np.savez(out / f"{split}.npz", magnetometers=preprocess(raw), raw_ut=raw, position=pos)

    raw_eval, pos_eval = data["eval"]
    predicted = run_onnxruntime(model_path, preprocess(raw_eval))
    errors = localisation_errors(predicted, pos_eval)
    baseline = localisation_errors(np.broadcast_to(pos_train.mean(0), pos_eval.shape), pos_eval)
    metrics = Metrics(
        mean_error_mm=float(errors.mean()),
        p95_error_mm=float(np.percentile(errors, 95)),
        baseline_mean_error_mm=float(baseline.mean()),
        num_eval=n_eval,
        num_train=n_train,
        epochs=epochs,
        seed=seed,
        train_seconds=round(seconds, 2),
    )
    (out / "metrics.json").write_text(json.dumps(asdict(metrics), indent=2) + "\n")
    log.info(
        "trained in %.1f s: mean error %.2f mm, p95 %.2f mm (mean-position baseline %.1f mm) on %d held-out samples",
        seconds,
        metrics.mean_error_mm,
        metrics.p95_error_mm,
        metrics.baseline_mean_error_mm,
        n_eval,
    )
    return model_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-samples", type=int, default=40_000)
    parser.add_argument("-v", "--verbose", action="store_true", help="log the loss of every epoch")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    path = build_model(args.out, epochs=args.epochs, seed=args.seed, n_train=args.train_samples)
    metrics = json.loads((path.parent / "metrics.json").read_text())
    print(f"wrote {path}")
    print(f"  eval.npz, calib.npz, metrics.json in {path.parent}")
    print(
        f"  localisation error on {metrics['num_eval']} held-out samples: mean {metrics['mean_error_mm']:.2f} mm, "
        f"95th percentile {metrics['p95_error_mm']:.2f} mm (predicting the mean position: {metrics['baseline_mean_error_mm']:.1f} mm)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
