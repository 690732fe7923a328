"""The Edge TPU report: the mapping rules, the split point, suggestions, and the compiler step."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from tfl_micro import Float, calibration, quantized

from tinyc.api import Model, load
from tinyc.backends.tflite.edgetpu import map_ops, run_compiler
from tinyc.backends.tflite.writer import WriteOptions, write_graph
from tinyc.driver import CompileOptions, compile_model
from tinyc.errors import QuantizationError
from tinyc.quant.api import quantize_model
from tinyc.quant.quantizer import QuantOptions
from tinyc.testing import shared_model

pytest.importorskip("ai_edge_litert")


def _report(graph, **kw):  # type: ignore[no-untyped-def]
    return map_ops(write_graph(graph, WriteOptions(edgetpu=True, **kw)))


def _quantize(g):  # type: ignore[no-untyped-def]
    return quantize_model(Model(g, "m.onnx", g.name), calibration(g), options=QuantOptions(int_io=True))[0].graph


@pytest.mark.parametrize("which", ["kws_dscnn_int8", "ad_autoencoder_int8"])
def test_mlperf_models_map_entirely(which: str) -> None:
    rep = _report(load(shared_model(f"mlperf-tiny/{which}.tflite")).graph)
    assert rep.split_at is None and all(o.where == "tpu" for o in rep.ops)
    assert rep.tpu_ops == (13 if which.startswith("kws") else 10)


def test_float_edges_stay_on_the_cpu_without_a_split() -> None:
    rep = _report(quantized("chain"), io_type="float")
    assert rep.split_at is None
    assert [o.where for o in rep.ops][0] == "cpu-edge" and rep.ops[-1].where == "cpu-edge"
    assert "io-type" in rep.ops[0].suggestions[0]


def test_unmapped_op_splits_the_model_there() -> None:
    f = Float("leaky")
    x = f.input("x", (1, 6, 6, 3))
    y = f.op("Conv2D", [x, f.const("w1", (4, 3, 3, 3)), f.const("b1", (4,))], pads=(1, 1, 1, 1))
    y = f.op("Relu", [y])
    y = f.op("Transpose", [y], perm=(0, 2, 1, 3))
    y = f.op("Conv2D", [y, f.const("w2", (2, 1, 1, 4)), f.const("b2", (2,))])
    g = _quantize(f.done(y))
    w = write_graph(g, WriteOptions(edgetpu=True))
    names = [op.builtin for op in w.ops]
    rep = map_ops(w)
    # every op here is in Coral's table: nothing splits
    assert rep.split_at is None, names
    # a LEAKY_RELU (not in the table) splits: it and everything after go to the CPU
    f = Float("leaky2")
    x = f.input("x", (1, 6, 6, 3))
    y = f.op("Conv2D", [x, f.const("w1", (4, 3, 3, 3)), f.const("b1", (4,))], pads=(1, 1, 1, 1))
    y = f.op("LeakyRelu", [y], alpha=0.1)
    y = f.op("Conv2D", [y, f.const("w2", (2, 1, 1, 4)), f.const("b2", (2,))])
    g = f.done(y)
    rep = map_ops(write_graph(g, WriteOptions(edgetpu=True)))  # the float graph: every op is float
    assert rep.split_at == 0 and "8-bit" in rep.ops[0].reasons[0]
    leaky = [o for o in rep.ops if o.builtin == "LEAKY_RELU"][0]
    assert any("no Edge TPU implementation" in r for r in leaky.reasons)
    assert any("PReLU" in s for s in leaky.suggestions)
    assert all(o.where == "cpu" for o in rep.ops)


def test_rank_fc_and_softmax_rules() -> None:
    f = Float("batch2")
    x = f.input("x", (2, 5, 5, 3))
    y = f.op("Conv2D", [x, f.const("w", (4, 1, 1, 3)), f.const("b", (4,))])
    rep = _report(_quantize(f.done(y)))
    assert rep.split_at == 0 and "more than 3 non-unit dimensions" in rep.ops[0].reasons[0]
    assert "batch 1" in rep.ops[0].suggestions[0]

    f = Float("fc2")
    y = f.op("FullyConnected", [f.input("x", (3, 8)), f.const("w", (4, 8)), f.const("b", (4,))])
    rep = _report(_quantize(f.done(y)))
    assert any("not one-dimensional" in r for r in rep.ops[0].reasons)

    f = Float("bigsoftmax")
    y = f.op("Softmax", [f.input("x", (1, 20000))], axis=1)
    rep = _report(_quantize(f.done(y)))
    assert rep.split_at == 0 and "16000" in rep.ops[0].reasons[0]


def test_mean_over_channels_is_not_mapped() -> None:
    f = Float("meanc")
    y = f.op("ReduceMean", [f.input("x", (1, 4, 4, 6))], axes=(3,), keepdims=True)
    rep = _report(_quantize(f.done(y)))
    assert rep.split_at == 0 and "only x and y" in rep.ops[0].reasons[0]
    f = Float("meanhw")
    y = f.op("ReduceMean", [f.input("x", (1, 4, 4, 6))], axes=(1, 2), keepdims=True)
    assert _report(_quantize(f.done(y))).split_at is None


def test_float_island_is_refused_for_the_edge_tpu(tmp_path: Path) -> None:
    f = Float("island")
    x = f.input("x", (1, 6, 6, 3))
    y = f.op("Conv2D", [x, f.const("w1", (4, 3, 3, 3)), f.const("b1", (4,))], pads=(1, 1, 1, 1))
    y = f.op("LeakyRelu", [y], alpha=0.1)  # no integer semantics in tinyc: stays float
    y = f.op("Conv2D", [y, f.const("w2", (2, 1, 1, 4)), f.const("b2", (2,))])
    g = f.done(y)
    calib = calibration(g)
    with pytest.raises(QuantizationError, match="stayed in float.*LeakyRelu"):
        compile_model(Model(g, "island.onnx", "island"), output_dir=tmp_path / "tpu", options=CompileOptions(target="coral-edgetpu", quantize="int8", calib=calib))
    assert not (tmp_path / "tpu").exists()
    # LiteRT on a Raspberry Pi runs the mixed model
    f = Float("island")  # again: compile_model consumed the graph
    x = f.input("x", (1, 6, 6, 3))
    y = f.op("Conv2D", [x, f.const("w1", (4, 3, 3, 3)), f.const("b1", (4,))], pads=(1, 1, 1, 1))
    y = f.op("LeakyRelu", [y], alpha=0.1)
    y = f.op("Conv2D", [y, f.const("w2", (2, 1, 1, 4)), f.const("b2", (2,))])
    art = compile_model(Model(f.done(y), "island.onnx", "island"), output_dir=tmp_path / "pi", options=CompileOptions(target="rpi-cm4", quantize="int8", calib=calib))
    assert art.report["model"]["precision"] == "mixed" and "LEAKY_RELU" in art.report["model"]["float_ops"]


def test_compiler_missing_gives_the_command(tmp_path: Path) -> None:
    res = run_compiler("edgetpu_compiler_not_installed", tmp_path / "m.tflite", tmp_path)
    assert not res["ran"] and res["command"] == "edgetpu_compiler_not_installed -s -o . m.tflite"


def test_compiler_log_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """edgetpu_compiler runs on x86-64 Linux from Coral's apt repository, not installable here; a stand-in
    executable checks the plumbing: the command line, the captured log, the files it writes."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "edgetpu_compiler"
    exe.write_text(
        "#!/bin/sh\n"
        'out="$3"; model="$4"; base=$(basename "$model" .tflite)\n'
        'cp "$model" "$out/${base}_edgetpu.tflite"\n'
        'echo "Edge TPU Compiler version 16.0.384591198 (stand-in)"; echo "Model compiled successfully in 1 ms."\n'
        'echo "log" > "$out/${base}_edgetpu.log"\n'
    )
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    g = quantized("chain")
    art = compile_model(Model(g, "chain.onnx", "chain"), output_dir=tmp_path / "out", options=CompileOptions(target="coral-devboard"))
    names = sorted(p.name for p in art.files)
    assert "chain_edgetpu.tflite" in names and "chain_edgetpu.log" in names
    comp = art.report["edgetpu"]["compiler"]
    assert comp["ran"] and comp["returncode"] == 0 and "compiled successfully" in comp["log"]
    assert "compiled successfully" in (tmp_path / "out" / "report.md").read_text()
    assert np.frombuffer((tmp_path / "out" / "chain_edgetpu.tflite").read_bytes()[4:8], dtype=np.uint8).tobytes() == b"TFL3"
