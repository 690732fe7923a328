"""Model files are untrusted: every malformed one ends in a clear CLI error, never a traceback or a partial output.

The cases are the most informative ones of a robustness campaign run against
the real CLI (truncations and seeded byte flips of the real models, absurd
header sizes, structurally wrong ONNX and TFLite files, hostile names, external
data escaping the model's folder). Each runs ``python -m tinyc.cli`` in a
subprocess under a memory limit and a timeout, and checks the contract:
exit code 1 (never 70), no Python traceback, ``error: <where>: <what>`` first,
and no output folder left behind. Names hostile to C must compile with
``gcc -std=c99 -Wall -Wextra -Werror`` and never leave a comment or string.
"""

from __future__ import annotations

import copy
import os
import re
import resource
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh

from tinyc.testing import shared_model

REPO = Path(__file__).resolve().parents[2]
GCC = shutil.which("gcc")
MEMORY_LIMIT = 3 << 30


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def tinyc(*args: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TINYC_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "tinyc.cli", *map(str, args)],
        capture_output=True, text=True, errors="replace", timeout=60, preexec_fn=_limits, env=env,
    )  # fmt: skip


def assert_refused(args: list[object], *fragments: str, out: Path | None = None) -> str:
    """The command fails the documented way; returns the error text."""
    r = tinyc(*args)
    assert r.returncode == 1, f"exit {r.returncode}\n{r.stderr}"
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.lower().startswith(("warning", "note:"))]
    assert lines and lines[0].startswith("error: "), r.stderr
    for frag in fragments:
        assert frag in r.stderr, f"{frag!r} not in\n{r.stderr}"
    if out is not None:
        assert not out.exists(), f"{out} left behind by a failed compile"
    return r.stderr


def save(tmp: Path, name: str, nodes, inputs, outputs, inits=(), opset: int = 17) -> Path:  # type: ignore[no-untyped-def]
    model = h.make_model(h.make_graph(nodes, "g", inputs, outputs, list(inits)), opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = 8
    path = tmp / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def vi(name: str, shape: list[int], t: int = TP.FLOAT) -> onnx.ValueInfoProto:
    return h.make_tensor_value_info(name, t, shape)


X, Y = vi("x", [1, 8]), vi("y", [1, 4])
B = nh.from_array(np.zeros(4, np.float32), "b")


def fc_nodes() -> list[onnx.NodeProto]:
    return [h.make_node("MatMul", ["x", "w"], ["t"], name="mm"), h.make_node("Add", ["t", "b"], ["y"], name="add")]


def weights(arr: np.ndarray | None = None) -> onnx.TensorProto:
    return nh.from_array(np.ones((8, 4), np.float32) if arr is None else arr, "w")


def int64(name: str, values: list[int]) -> onnx.TensorProto:
    return nh.from_array(np.array(values, np.int64), name)


# -- byte-level mutations of the real models ------------------------------------------------------------------


def _mutants(src: Path, seed: int, n_trunc: int, n_flip: int) -> list[tuple[str, bytes]]:
    data = src.read_bytes()
    rng = np.random.default_rng(seed)
    out = [(f"trunc{o}", data[:o]) for o in sorted({0, 7, 27, 64, *map(int, rng.integers(1, len(data), n_trunc))})]
    for j in range(n_flip):
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 12))):
            pos = int(rng.integers(0, min(len(b), 1024))) if rng.random() < 0.5 else int(rng.integers(0, len(b)))
            b[pos] = int(rng.integers(0, 256))
        out.append((f"flip{j}", bytes(b)))
    return out


@pytest.mark.parametrize("rel", ["mlperf-tiny/kws_dscnn_float.onnx", "mlperf-tiny/kws_dscnn_int8.tflite", "llama2c/stories260K.bin"])
def test_truncated_and_flipped_real_models(rel: str, tmp_path: Path) -> None:
    """A seeded sample of truncations (always refused) and byte flips (refused, or loaded when they hit weights)."""
    src = shared_model(rel)
    for label, data in _mutants(src, seed=7, n_trunc=2, n_flip=3):
        path = tmp_path / f"{label}{src.suffix}"
        path.write_bytes(data)
        r = tinyc("ir", path)
        assert r.returncode in (0, 1), f"{label}: exit {r.returncode}\n{r.stderr}"
        assert "Traceback" not in r.stderr, r.stderr
        if label.startswith("trunc"):
            assert r.returncode == 1 and r.stderr.startswith(f"error: {path}"), f"{label}: {r.stderr}"


def test_onnx_name_that_is_not_utf8(tmp_path: Path) -> None:
    """protobuf hands a corrupt string back as bytes; the ONNX checker used to die on it (exit 70)."""
    data = shared_model("mlperf-tiny/kws_dscnn_float.onnx").read_bytes()
    at = data.index(b"new_shape__108")
    path = tmp_path / "bad_name.onnx"
    path.write_bytes(data[:at] + b"\xa6" + data[at + 1 :])
    assert_refused(["ir", path], "is not UTF-8 text", ".input holds")


@pytest.mark.parametrize("suffix", [".onnx", ".tflite", ".bin"])
def test_empty_and_wrong_format_files(suffix: str, tmp_path: Path) -> None:
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(b"")
    assert_refused(["ir", empty], str(empty))
    other = {".onnx": "mlperf-tiny/kws_dscnn_int8.tflite", ".tflite": "mlperf-tiny/kws_dscnn_float.onnx", ".bin": "mlperf-tiny/kws_dscnn_float.onnx"}[suffix]
    wrong = tmp_path / f"wrong{suffix}"
    wrong.write_bytes(shared_model(other).read_bytes())
    out = tmp_path / "out"
    extra = ["--tokenizer", shared_model("llama2c/tok512.bin")] if suffix == ".bin" else ["--target", "stm32h7", "--calib", "random"]
    assert_refused(["compile", wrong, *extra, "-o", out], str(wrong), out=out)


# -- llama2.c checkpoints and tokenizers -----------------------------------------------------------------------

HEADER_FIELDS = ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("dim", 1 << 30, "dim = 1073741824 is implausibly large"),
        ("n_layers", 1 << 30, "n_layers = 1073741824 is implausibly large"),
        ("vocab_size", -(1 << 31), "vocab_size = 2147483648 is implausibly large"),
        ("n_kv_heads", 0, "n_kv_heads = 0 is not positive"),
        ("seq_len", 4096, "needs"),  # consistent header, wrong file length
    ],
)
def test_llama2c_header_with_absurd_sizes(field: str, value: int, message: str, tmp_path: Path) -> None:
    data = shared_model("llama2c/stories260K.bin").read_bytes()
    ints = list(struct.unpack_from("<7i", data, 0))
    ints[HEADER_FIELDS.index(field)] = value
    path = tmp_path / "bad.bin"
    path.write_bytes(struct.pack("<7i", *ints) + data[28:])
    out = tmp_path / "out"
    tok = shared_model("llama2c/tok512.bin")
    assert_refused(["compile", path, "--tokenizer", tok, "-o", out], message, str(path), out=out)


def test_llama2c_v2_group_size_that_does_not_fit(tmp_path: Path) -> None:
    data = shared_model("llama2c/stories260K.bin").read_bytes()
    head = struct.pack("<Ii7iBi", 0x616B3432, 2, *map(abs, struct.unpack_from("<7i", data, 0)), 1, 3)
    path = tmp_path / "v2.bin"
    path.write_bytes(head + bytes(256 - len(head)) + bytes(5000))
    assert_refused(["ir", path], f"error: {path}: v2 tensor tok_embedding", "not a multiple of the group size 3")


@pytest.mark.parametrize(("offset", "value", "message"), [(0, 1 << 30, "max_token_length 1073741824"), (8, 1 << 30, "token 0: length 1073741824"), (8, -7, "token 0: length -7")])
def test_tokenizer_with_giant_lengths(offset: int, value: int, message: str, tmp_path: Path) -> None:
    data = bytearray(shared_model("llama2c/tok512.bin").read_bytes())
    struct.pack_into("<i", data, offset, value)
    path = tmp_path / "tok.bin"
    path.write_bytes(bytes(data))
    out = tmp_path / "out"
    assert_refused(["compile", shared_model("llama2c/stories260K.bin"), "--tokenizer", path, "-o", out], message, out=out)


# -- structurally wrong ONNX models --------------------------------------------------------------------------


def _long_raw() -> onnx.TensorProto:
    t = weights()
    t.raw_data = t.raw_data * 3
    return t


ONNX_CASES = {
    # name: (nodes, inputs, outputs, initializers, opset, expected fragment)
    "dangling_input": ([h.make_node("MatMul", ["nope", "w"], ["y"])], [X], [Y], [weights()], 17, "input 'nope'"),
    "unknown_op": ([h.make_node("FooBar", ["x"], ["y"])], [X], [Y], [], 17, "FooBar"),
    "wrong_attribute_type": ([h.make_node("Gemm", ["x", "w", "b"], ["y"], transA=1.5)], [X], [Y], [weights(), B], 17, "transA"),
    "cycle": ([h.make_node("Add", ["x", "c"], ["a"]), h.make_node("Relu", ["a"], ["c"]), h.make_node("Relu", ["a"], ["y"])], [X], [vi("y", [1, 8])], [], 17, "topologically sorted"),
    "raw_data_too_long": (fc_nodes(), [X], [Y], [_long_raw(), B], 17, "holds 384 bytes of data, but shape [8, 4] of f32 needs 128"),
    "opset_10": (fc_nodes(), [X], [Y], [weights(), B], 10, "opset 10 is outside the supported range 11-21"),
    "opset_22": (fc_nodes(), [X], [Y], [weights(), B], 22, "opset 22 is outside the supported range 11-21"),
    "huge_input": ([h.make_node("Relu", ["x"], ["y"])], [vi("x", [1 << 20, 1 << 20, 1 << 20])], [vi("y", [1, 8])], [], 17, "over tinyc's limit"),
    # constant folding at import used to allocate these (MemoryError, exit 70)
    "constant_of_shape_huge": (
        [h.make_node("ConstantOfShape", ["s"], ["c"]), h.make_node("Add", ["x", "c"], ["y"])], [X], [Y], [int64("s", [1 << 20, 1 << 20])], 17,
        "the output of ConstantOfShape has shape [1048576, 1048576]",
    ),
    "tile_huge": ([h.make_node("Tile", ["b", "r"], ["c"]), h.make_node("Add", ["x", "c"], ["y"])], [X], [Y], [B, int64("r", [1 << 31])], 17, "Tile"),
    "range_huge": (
        [h.make_node("Range", ["a", "l", "d"], ["c"]), h.make_node("Add", ["x", "c"], ["y"])], [X], [Y],
        [nh.from_array(np.float32(0), "a"), nh.from_array(np.float32(1e12), "l"), nh.from_array(np.float32(1e-3), "d")], 17, "Range",
    ),
    "pad_huge": ([h.make_node("Pad", ["x", "p"], ["y"])], [X], [Y], [int64("p", [0, 1 << 40, 0, 0])], 17, "over tinyc's limit"),
    "conv_pads_huge": (
        [h.make_node("Conv", ["x", "cw"], ["y"], pads=[40000, 0, 0, 0])], [vi("x", [1, 3, 8, 8])], [vi("y", [1, 4, 40006, 6])],
        [nh.from_array(np.ones((4, 3, 3, 3), np.float32), "cw")], 17, "must be at most 32767",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ONNX_CASES))
def test_structurally_wrong_onnx(name: str, tmp_path: Path) -> None:
    nodes, ins, outs, inits, opset, fragment = ONNX_CASES[name]
    path = save(tmp_path, name, nodes, ins, outs, inits, opset)
    out = tmp_path / "out"
    assert_refused(["compile", path, "--target", "stm32h7", "--calib", "random", "-o", out], fragment, str(path), out=out)


def test_non_finite_weights_are_a_quantization_error(tmp_path: Path) -> None:
    """inf weights used to reach multiplier rounding (ValueError, exit 70)."""
    path = save(tmp_path, "inf_weights", fc_nodes(), [X], [Y], [weights(np.full((8, 4), np.inf, np.float32)), B])
    out = tmp_path / "out"
    assert_refused(["compile", path, "--target", "stm32h7", "--calib", "random", "-o", out], "hold inf or NaN values", out=out)


@pytest.mark.parametrize("target", ["stm32h7", "coral-edgetpu"])
def test_float_overflow_on_the_calibration_data_is_a_quantization_error(target: str, tmp_path: Path) -> None:
    """Finite weights near float32's limit overflow to inf in calibration: refused by tensor, nothing on stderr first."""
    path = save(tmp_path, "overflow", fc_nodes(), [X], [Y], [weights(np.full((8, 4), 3e38, np.float32)), B])
    out = tmp_path / "out"
    err = assert_refused(["compile", path, "--target", target, "--calib", "random", "-o", out], "computes inf or NaN on the calibration data", out=out)
    assert "RuntimeWarning" not in err and "writer" not in err


def _external(loc: str) -> onnx.TensorProto:
    t = onnx.TensorProto(name="w", data_type=TP.FLOAT, dims=[8, 4])
    t.data_location = TP.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", loc
    return t


@pytest.mark.parametrize(
    ("loc", "fragment"),
    [
        ("../../etc/passwd", "points outside the model's folder"),
        ("/etc/passwd", "points outside the model's folder"),
        ("link.bin", "points outside the model's folder"),  # a symlink leaving the folder
        ("w.bin\0../../etc/passwd", "contains a NUL byte"),
        ("self.onnx", "bytes of data, but shape [8, 4] of f32 needs 128"),  # the model file itself, read in full
    ],
)
def test_external_data_stays_in_the_model_folder(loc: str, fragment: str, tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(np.ones((8, 4), np.float32).tobytes())
    (tmp_path / "link.bin").symlink_to("/etc/passwd")
    name = "self" if loc == "self.onnx" else "ext"
    path = save(tmp_path, name, fc_nodes(), [X], [Y], [_external(loc), B])
    assert_refused(["ir", path], fragment, str(path))


def test_external_data_inside_the_folder_loads(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(np.ones((8, 4), np.float32).tobytes())
    r = tinyc("ir", save(tmp_path, "ext_ok", fc_nodes(), [X], [Y], [_external("w.bin"), B]))
    assert r.returncode == 0, r.stderr


# -- structurally wrong TFLite flatbuffers ---------------------------------------------------------------------


def _tflite_cases() -> dict[str, tuple[object, str]]:
    from tinyc.backends.tflite.schema import builtin_code

    def conv(m):  # type: ignore[no-untyped-def]
        return m.subgraphs[0].operators[0]

    def tensors(m):  # type: ignore[no-untyped-def]
        return m.subgraphs[0].tensors

    def first_const(m):  # type: ignore[no-untyped-def]
        return next(t for t in tensors(m) if m.buffers[t.buffer].data is not None and len(m.buffers[t.buffer].data))

    def unsupported(m):  # type: ignore[no-untyped-def]
        m.operatorCodes[conv(m).opcodeIndex].builtinCode = builtin_code("WHILE")
        m.operatorCodes[conv(m).opcodeIndex].deprecatedBuiltinCode = 127

    return {
        "tensor_index_oob": (lambda m: setattr(conv(m), "inputs", [10**6, *conv(m).inputs[1:]]), "input tensor index 1000000 is out of range"),
        "output_index_oob": (lambda m: setattr(conv(m), "outputs", [10**6]), "output tensor index 1000000 is out of range"),
        "buffer_index_oob": (lambda m: setattr(first_const(m), "buffer", 10**6), "buffer index 1000000 is out of range"),
        "negative_shape": (lambda m: setattr(tensors(m)[conv(m).outputs[0]], "shape", [1, -4, 5, 64]), "negative dimension"),
        "unsupported_builtin": (unsupported, "is not supported"),
        "opcode_index_oob": (lambda m: setattr(conv(m), "opcodeIndex", 999), "opcode index 999 is out of range"),
        "missing_quantization": (lambda m: setattr(tensors(m)[conv(m).outputs[0]], "quantization", None), "has no quantization parameters"),
        # SAME padding with this dilation gave pads over 2^32 in the generated C (gcc -Werror=overflow)
        "dilation_huge": (lambda m: setattr(conv(m).builtinOptions, "dilationHFactor", 1 << 30), "must be at most 32767"),
    }


TFLITE_CASES = ["tensor_index_oob", "output_index_oob", "buffer_index_oob", "negative_shape", "unsupported_builtin", "opcode_index_oob", "missing_quantization", "dilation_huge"]


@pytest.mark.parametrize("name", TFLITE_CASES)
def test_structurally_wrong_tflite(name: str, tmp_path: Path) -> None:
    from tinyc.backends.tflite.schema import schema, serialize

    s = schema()
    data = shared_model("mlperf-tiny/kws_dscnn_int8.tflite").read_bytes()
    model = copy.deepcopy(s.ModelT.InitFromObj(s.Model.GetRootAs(data, 0)))
    edit, fragment = _tflite_cases()[name]
    edit(model)  # type: ignore[operator]
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(serialize(model))
    out = tmp_path / "out"
    assert_refused(["compile", path, "--target", "stm32h7", "-o", out], fragment, str(path), out=out)


# -- names hostile to C ----------------------------------------------------------------------------------------

HOSTILE = {
    "comment": "a*/ int evil_comment; /*",
    "include": "b\n#include <evil_include.h>\n",
    "trigraph": "c??/",
    "quotes": "d\"evil_quote'\\",
    "long": "e" * 3000,
    "pragma": "f_Pragma(\"evil_pragma\")",
}


def _strip_comments_and_strings(code: str) -> str:
    """C source without its comments, string and character literals (what the compiler reads as code)."""
    return re.sub(r'/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', " ", code, flags=re.S)


def _gcc_build(out: Path) -> None:
    for src in sorted(out.glob("*.c")):
        cmd = [GCC, "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", str(src), "-I", str(out), "-I", str(REPO / "runtime_c" / "include"), "-o", os.devnull]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def _assert_names_stay_inert(out: Path) -> None:
    for f in [*out.glob("*.c"), *out.glob("*.h")]:
        code = f.read_text()
        assert "??" not in code, f"{f.name}: a trigraph reaches the compiler"
        bare = _strip_comments_and_strings(code)
        for raw in ("int evil_comment", "<evil_include.h>", '"evil_quote', "_Pragma("):
            assert raw not in bare, f"{f.name}: model text {raw!r} escaped a comment or string"
        assert not re.search(r"^\s*#\s*include\s*<evil", code, flags=re.M), f.name


@pytest.mark.skipif(GCC is None, reason="gcc not installed")
def test_hostile_onnx_names_compile_to_clean_c(tmp_path: Path) -> None:
    n = HOSTILE
    nodes = [
        h.make_node("MatMul", [n["comment"], n["trigraph"]], [n["include"]], name=n["pragma"]),
        h.make_node("Add", [n["include"], n["quotes"]], [n["long"]], name=n["trigraph"] + "add"),
        h.make_node("Relu", [n["long"]], ["y" + n["comment"]], name=n["comment"]),
    ]
    inits = [nh.from_array(np.ones((8, 4), np.float32), n["trigraph"]), nh.from_array(np.zeros(4, np.float32), n["quotes"])]
    path = save(tmp_path, "hostile", nodes, [vi(n["comment"], [1, 8])], [vi("y" + n["comment"], [1, 4])], inits)
    out = tmp_path / "out"
    r = tinyc("compile", path, "--target", "stm32h7", "--calib", "random", "-o", out)
    assert r.returncode == 0, r.stderr
    _gcc_build(out)
    _assert_names_stay_inert(out)


@pytest.mark.skipif(GCC is None, reason="gcc not installed")
def test_hostile_tflite_names_compile_to_clean_c(tmp_path: Path) -> None:
    from tinyc.backends.tflite.schema import schema, serialize

    s = schema()
    model = s.ModelT.InitFromObj(s.Model.GetRootAs(shared_model("mlperf-tiny/kws_dscnn_int8.tflite").read_bytes(), 0))
    bad = list(HOSTILE.values())
    for i, t in enumerate(model.subgraphs[0].tensors):
        t.name = f"{bad[i % len(bad)]}{i}".encode()
    model.subgraphs[0].name = HOSTILE["include"].encode()
    path = tmp_path / "hostile.tflite"
    path.write_bytes(serialize(model))
    out = tmp_path / "out"
    r = tinyc("compile", path, "--target", "stm32h7", "-o", out)
    assert r.returncode == 0, r.stderr
    _gcc_build(out)
    _assert_names_stay_inert(out)
