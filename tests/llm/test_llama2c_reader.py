"""llama2.c checkpoint and tokenizer readers: real files, round trips, and every malformed-file error."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tinyc.errors import ModelLoadError
from tinyc.frontends.llama2c import (
    HEADER_V12,
    MAGIC,
    read_checkpoint,
    read_tokenizer,
    write_checkpoint_v0,
    write_checkpoint_v2,
    write_tokenizer,
)
from tinyc.llm.model import DecoderConfig, random_decoder
from tinyc.llm.quant import GroupQuantized

TINY = DecoderConfig(dim=32, hidden_dim=40, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=300, seq_len=16)


def test_stories260k_header(model260k) -> None:
    c = model260k.config
    assert (c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len) == (
        64,
        172,
        5,
        8,
        4,
        512,
        512,
    )
    assert c.shared_classifier and model260k.wcls is None
    assert c.head_size == 8 and c.kv_dim == 32 and c.kv_mul == 2
    assert model260k.name == "stories260k"
    assert model260k.layers[4].w2.shape == (64, 172)
    assert model260k.n_params == 260_032


def test_tokenizer_512(tokenizer512) -> None:
    assert tokenizer512.vocab_size == 512 and tokenizer512.max_token_length == 7
    assert tokenizer512.vocab[1] == b"\n<s>\n" and tokenizer512.vocab[3 + 0x41] == b"<0x41>"
    assert tokenizer512.byte_token(0x41) == 3 + 0x41


@pytest.mark.parametrize("shared", [True, False])
def test_v0_round_trip(tmp_path, shared: bool) -> None:
    cfg = DecoderConfig(**{**TINY.__dict__, "shared_classifier": shared})
    model = random_decoder(cfg, seed=3)
    path = tmp_path / "tiny.bin"
    write_checkpoint_v0(model, path)
    back = read_checkpoint(path)
    assert back.config == cfg
    np.testing.assert_array_equal(back.tok_embedding, model.tok_embedding)
    np.testing.assert_array_equal(back.layers[1].w2, model.layers[1].w2)
    np.testing.assert_array_equal(back.rms_final, model.rms_final)
    assert (back.wcls is None) == shared
    if not shared:
        np.testing.assert_array_equal(back.wcls, model.wcls)


def test_v2_round_trip(tmp_path) -> None:
    model = random_decoder(DecoderConfig(**{**TINY.__dict__, "shared_classifier": False}), seed=4)
    path = tmp_path / "tiny_q80.bin"
    write_checkpoint_v2(model, path, group_size=16)
    back = read_checkpoint(path)
    assert back.is_quantized and isinstance(back.layers[0].wq, GroupQuantized)
    assert back.layers[0].wq.group_size == 16
    # each value within half a step of the original
    w, q = model.layers[0].w1, back.layers[0].w1
    step = np.repeat(q.scales, 16, axis=1)[:, : w.shape[1]]
    assert np.all(np.abs(q.dequantize() - w) <= 0.5 * step + 1e-7)
    # the same scales as quantizing per row group directly
    assert back.quantized(16).layers[0].w1 is q


def test_v2_groups_across_rows_are_requantized(tmp_path, caplog) -> None:
    # hidden_dim 40 is not a multiple of 16: w2's rows of 40 values get groups 16, 16, 8
    model = random_decoder(TINY, seed=5)
    path = tmp_path / "tiny_q80.bin"
    write_checkpoint_v2(model, path, group_size=16)
    back = read_checkpoint(path)
    w2 = back.layers[0].w2
    assert w2.scales.shape == (32, 3)
    assert np.abs(w2.dequantize() - model.layers[0].w2).max() < 0.05
    assert "re-quantizing" in caplog.text


def test_v1_float_reads(tmp_path) -> None:
    model = random_decoder(TINY, seed=6)
    c = model.config
    head = struct.pack(
        "<Ii7iB", MAGIC, 1, c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len, 1
    )
    parts = [head + b"\0" * (HEADER_V12 - len(head))]
    parts += [
        np.stack([getattr(layer, n) for layer in model.layers]).astype("<f4").tobytes() for n in ("rms_att", "rms_ffn")
    ]
    parts.append(model.rms_final.astype("<f4").tobytes())
    parts.append(model.tok_embedding.astype("<f4").tobytes())
    for n in ("wq", "wk", "wv", "wo", "w1", "w2", "w3"):
        parts.append(np.stack([getattr(layer, n) for layer in model.layers]).astype("<f4").tobytes())
    path = tmp_path / "v1.bin"
    path.write_bytes(b"".join(parts))
    back = read_checkpoint(path)
    np.testing.assert_array_equal(back.layers[1].wv, model.layers[1].wv)


def _corrupt(tmp_path, data: bytes):  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.bin"
    path.write_bytes(data)
    return path


def test_truncated_file_names_sizes(tmp_path, stories260k) -> None:
    data = stories260k.read_bytes()
    with pytest.raises(ModelLoadError, match=r"1,056,000 bytes .* needs 1,056,540"):
        read_checkpoint(_corrupt(tmp_path, data[:1_056_000]))


def test_trailing_bytes_rejected(tmp_path, stories260k) -> None:
    with pytest.raises(ModelLoadError, match="trailing data"):
        read_checkpoint(_corrupt(tmp_path, stories260k.read_bytes() + b"\0\0\0\0"))


@pytest.mark.parametrize(
    "ints, message",
    [
        ((64, 172, 5, 8, 4, 512, 0), "seq_len = 0 is not positive"),
        ((64, 172, 5, 7, 7, 512, 512), "not a multiple of n_heads"),
        ((64, 172, 5, 8, 3, 512, 512), "not a multiple of n_kv_heads"),
        ((64, 172, 5000, 8, 4, 512, 512), "n_layers = 5000 is implausibly large"),
        ((1 << 30, 172, 5, 8, 4, 512, 512), "dim = 1073741824 is implausibly large"),
    ],
)
def test_bad_header_fields(tmp_path, ints, message: str) -> None:
    with pytest.raises(ModelLoadError, match=message):
        read_checkpoint(_corrupt(tmp_path, struct.pack("<7i", *ints) + b"\0" * 64))


def test_huge_header_never_allocates(tmp_path) -> None:
    # plausible-looking but enormous sizes are compared with the file length first
    with pytest.raises(ModelLoadError, match="needs"):
        read_checkpoint(_corrupt(tmp_path, struct.pack("<7i", 8192, 65536, 100, 64, 64, 1 << 20, 1 << 20)))


def test_bad_version_and_flags(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="version 7 is not supported"):
        read_checkpoint(_corrupt(tmp_path, struct.pack("<Ii", MAGIC, 7) + b"\0" * 300))
    head = struct.pack("<Ii7iB", MAGIC, 1, 64, 172, 5, 8, 4, 512, 512, 9)
    with pytest.raises(ModelLoadError, match="shared-classifier flag is 9"):
        read_checkpoint(_corrupt(tmp_path, head + b"\0" * 300))
    head = struct.pack("<Ii7iBi", MAGIC, 2, 64, 172, 5, 8, 4, 512, 512, 1, -4)
    with pytest.raises(ModelLoadError, match="group size -4"):
        read_checkpoint(_corrupt(tmp_path, head + b"\0" * 300))
    with pytest.raises(ModelLoadError, match="too short"):
        read_checkpoint(_corrupt(tmp_path, b"\1\2\3"))
    with pytest.raises(ModelLoadError, match="not found"):
        read_checkpoint(tmp_path / "missing.bin")


def test_tokenizer_errors(tmp_path, tok512, tokenizer512) -> None:
    data = tok512.read_bytes()
    with pytest.raises(ModelLoadError, match="ends after 512 tokens"):
        read_tokenizer(tok512, 600)
    with pytest.raises(ModelLoadError, match="bytes after its 500 tokens"):
        read_tokenizer(tok512, 500)
    bad = tmp_path / "tok.bin"
    bad.write_bytes(struct.pack("<i", -1) + data[4:])
    with pytest.raises(ModelLoadError, match="max_token_length -1"):
        read_tokenizer(bad, 512)
    bad.write_bytes(data[:4] + struct.pack("<fi", 0.0, 99) + b"x" * 99)
    with pytest.raises(ModelLoadError, match="token 0: length 99"):
        read_tokenizer(bad, 1)
    out = tmp_path / "round.bin"
    write_tokenizer(tokenizer512, out)
    assert out.read_bytes() == data
