"""PyTorch and ONNX decode steps -> IR -> matched decoder -> C: the same greedy tokens as PyTorch."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_llama import TinyLlama  # noqa: E402

from tinyc.llm.match import DecoderMatchError  # noqa: E402
from tinyc.llm.runner import build_host_program, load_decoder  # noqa: E402
from tinyc.llm.tokenizer import synthetic_tokenizer  # noqa: E402

PAST = 3


def example_inputs(m: TinyLlama):  # type: ignore[no-untyped-def]
    pk, pv = m.empty_cache(PAST)
    return (torch.tensor([[5]]), torch.tensor([PAST]), pk, pv)


def make(seed: int = 0, **kw) -> TinyLlama:  # type: ignore[no-untyped-def]
    torch.manual_seed(seed)
    return TinyLlama(**kw).eval()


@pytest.fixture(scope="module")
def gqa_model() -> TinyLlama:
    """Grouped-query attention (6 query heads over 2 key/value heads) and a separate classifier."""
    return make(1, n_kv_heads=2, tied=False)


@pytest.fixture(scope="module")
def tok300():  # type: ignore[no-untyped-def]
    return synthetic_tokenizer(300)


def test_torch_greedy_equals_generated_c(gqa_model, tok300, tmp_path) -> None:
    decoder = load_decoder(gqa_model, example_inputs=example_inputs(gqa_model))
    c = decoder.config
    assert (c.n_heads, c.n_kv_heads, c.head_size, c.seq_len, c.shared_classifier) == (6, 2, 8, 64, False)
    prompt = "the cat sat"
    want = gqa_model.greedy(tok300.encode(prompt), 60)
    prog = build_host_program(decoder, tok300, workdir=tmp_path, sanitize=True)
    got = [int(x) for x in prog.generate(prompt, 60, ids=True).split()]
    assert got == want


def test_torch_logits_equal_c_logits(gqa_model, tok300, tmp_path) -> None:
    decoder = load_decoder(gqa_model, example_inputs=example_inputs(gqa_model))
    prog = build_host_program(decoder, tok300, workdir=tmp_path)
    ids = [17, 250, 3, 99, 42, 7]
    c_logits = prog.logits(ids)
    pk, pv = gqa_model.empty_cache(0)
    token = 1
    with torch.no_grad():
        for pos, nxt in enumerate(ids):
            logits, pk, pv = gqa_model(torch.tensor([[token]]), torch.tensor([pos]), pk, pv)
            np.testing.assert_allclose(c_logits[pos], logits.numpy().reshape(-1), atol=2e-4, rtol=0)
            token = nxt


@pytest.mark.parametrize("opset", [18, 20])
def test_onnx_export_equals_torch(gqa_model, tok300, tmp_path, opset: int) -> None:
    path = tmp_path / f"tiny_llama_{opset}.onnx"
    torch.onnx.export(gqa_model, example_inputs(gqa_model), str(path), dynamo=True, opset_version=opset,
                      input_names=["token", "pos", "past_key", "past_value"], output_names=["logits", "present_key", "present_value"])  # fmt: skip
    decoder = load_decoder(path)
    assert decoder.name == f"tiny_llama_{opset}" and decoder.source == str(path)
    prompt = "a dog"
    want = gqa_model.greedy(tok300.encode(prompt), 40)
    prog = build_host_program(decoder, tok300, workdir=tmp_path / "build")
    assert [int(x) for x in prog.generate(prompt, 40, ids=True).split()] == want


@pytest.mark.parametrize(
    "kw",
    [
        dict(rope="half"),
        dict(gqa="tile", n_kv_heads=3),
        dict(tied=True, n_kv_heads=6),
        dict(rope="half", gqa="tile", theta=500.0),
    ],
    ids=["rotate-half", "tiled-gqa", "tied-mha", "half-tiled-theta500"],
)
def test_variants_match_torch(kw, tok300, tmp_path) -> None:
    m = make(2, **kw)
    decoder = load_decoder(m, example_inputs=example_inputs(m))
    if "theta" in kw:
        assert decoder.config.rope_theta == 500.0
    want = m.greedy(tok300.encode("hello"), 24)
    from tinyc.llm.generate import generate
    from tinyc.llm.reference import Decoder

    assert generate(Decoder(decoder), tok300, "hello", 24).ids == want


# -- models that are not Llama decoders say which part differs ---------------------------------------


class GeluFFN(torch.nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = torch.nn.Linear(dim, hidden, bias=False)
        self.w2 = torch.nn.Linear(hidden, dim, bias=False)
        self.w3 = torch.nn.Linear(dim, hidden, bias=False)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.w2(torch.nn.functional.gelu(self.w1(x)) * self.w3(x))


def _mismatch(m: TinyLlama) -> str:
    with pytest.raises(DecoderMatchError) as err:
        load_decoder(m, example_inputs=example_inputs(m))
    return str(err.value)


def test_gelu_feed_forward_is_named() -> None:
    m = make(3)
    m.layers[1].feed_forward = GeluFFN(48, 96)
    msg = _mismatch(m)
    assert "block 1" in msg and "SiLU" in msg


def test_layer_norm_is_named() -> None:
    m = make(4)
    m.layers[0].ffn_norm = torch.nn.LayerNorm(48)
    msg = _mismatch(m)
    assert "block 0 feed-forward norm" in msg and "layer normalisation" in msg


def test_wrong_attention_scale_is_localised() -> None:
    m = make(5)
    m.layers[1].attention.scale = 0.2  # not 1/sqrt(head size)
    msg = _mismatch(m)
    assert "numbers differ" in msg and "from the block 1 attention on" in msg


def test_extra_op_on_the_residual_path_is_named() -> None:
    m = make(5)

    class Scaled(torch.nn.Module):
        def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
            super().__init__()
            self.inner = inner

        def forward(self, x, cos, sin, pk, pv):  # type: ignore[no-untyped-def]
            h, k, v = self.inner(x, cos, sin, pk, pv)
            return h * 1.5, k, v

    m.layers[1].attention = Scaled(m.layers[1].attention)
    msg = _mismatch(m)
    assert "block 1: the residual Add adds" in msg and "layers.1.attention" in msg


def test_bias_is_refused() -> None:
    m = make(6)
    m.layers[0].attention.wv = torch.nn.Linear(48, 16, bias=True)
    assert "adds a bias" in _mismatch(m)
