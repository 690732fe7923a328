"""llama2.c checkpoints through the IR: checkpoint -> decode-step graph -> matcher -> the same decoder."""

from __future__ import annotations

import numpy as np

from tinyc.frontends.llama2c import load_llama2c, read_checkpoint, write_checkpoint_v2
from tinyc.interpreter import run_graph
from tinyc.ir import print_graph, verify
from tinyc.llm.generate import generate
from tinyc.llm.graph import decoder_graph
from tinyc.llm.match import match_decoder
from tinyc.llm.model import DecoderConfig, random_decoder
from tinyc.llm.reference import Decoder


def test_stories260k_graph_lifts_back(stories260k, model260k, tokenizer512, greedy_ids) -> None:
    graph = load_llama2c(stories260k, past_len=2)
    verify(graph, where="llama2c import")
    assert "Softmax" in print_graph(graph, elide_constants_over=64)
    lifted = match_decoder(graph, name="stories260k")
    assert lifted.config == model260k.config and lifted.wcls is None
    for a, b in zip(lifted.layers, model260k.layers):
        for name in ("wq", "wk", "wv", "wo", "w1", "w2", "w3", "rms_att", "rms_ffn"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    prompt, ids = next(iter(greedy_ids.items()))
    assert generate(Decoder(lifted), tokenizer512, prompt, 256).ids == ids


def test_graph_runs_like_the_decode_step(model260k) -> None:
    graph = decoder_graph(model260k, past_len=1)
    dec = Decoder(model260k)
    dec.forward(1, 0)
    k, v = dec.kc[:, :1], dec.vc[:, :1]  # [L, 1, kv_dim] -> [L, 1, n_kv, 1, hs]
    shape = (5, 1, 4, 1, 8)
    out = run_graph(graph, {"token": np.array([[403]]), "pos": np.array([1]),
                            "past_key": k.reshape(5, 1, 4, 8).transpose(0, 2, 1, 3).reshape(shape),
                            "past_value": v.reshape(5, 1, 4, 8).transpose(0, 2, 1, 3).reshape(shape)})  # fmt: skip
    np.testing.assert_allclose(out["logits"].reshape(-1), dec.forward(403, 1), atol=1e-4, rtol=0)
    assert out["present_key"].shape == (5, 1, 4, 2, 8)


def test_v2_through_the_ir_keeps_its_int8_values(tmp_path) -> None:
    cfg = DecoderConfig(
        dim=32, hidden_dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=300, seq_len=16, shared_classifier=False
    )
    path = tmp_path / "q80.bin"
    write_checkpoint_v2(random_decoder(cfg, seed=2), path, group_size=16)
    direct = read_checkpoint(path)
    lifted = match_decoder(load_llama2c(path), name="q80").quantized(16)
    np.testing.assert_array_equal(lifted.layers[1].w2.q, direct.layers[1].w2.q)
    np.testing.assert_allclose(lifted.layers[1].w2.scales, direct.layers[1].w2.scales, rtol=1e-6)
    assert lifted.wcls is not None
