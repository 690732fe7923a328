"""A decoder description as tinyc IR: one decode step with past keys/values, in ordinary ONNX-style ops.

``decoder_graph(model, past_len)`` builds the graph a PyTorch export of the
same model would give: ``(token i64[1,1], pos i64[1], past_k, past_v
f32[L,1,n_kv,P,hs]) -> (logits f32[1,1,V], present_k, present_v)``, with
RMSNorm spelled out, interleaved RoPE from cos/sin tables gathered by the
position, grouped-query attention by Expand, SwiGLU and the classifier. This
is how llama2.c checkpoints enter the IR (``tinyc ir``, ``tinyc analyze``,
the reference interpreter); the matcher lifts the graph back to the same
description.
"""

from __future__ import annotations

import math

import numpy as np

from tinyc.ir import DType, Graph, Loc, TensorType, get_op
from tinyc.ir.core import Value
from tinyc.llm.model import DecoderModel
from tinyc.llm.quant import GroupQuantized


def _f(m) -> np.ndarray:  # type: ignore[no-untyped-def]
    return m.dequantize() if isinstance(m, GroupQuantized) else np.asarray(m, np.float32)


class _Builder:
    def __init__(self, g: Graph) -> None:
        self.g = g
        self.where = ""

    def op(self, name: str, inputs: list[Value], **attrs) -> Value:  # type: ignore[no-untyped-def]
        op = get_op(name)
        return self.g.add_node(
            op,
            inputs,
            op.Attrs(**attrs) if attrs else None,
            name=f"{self.where}/{name.lower()}",
            loc=Loc.of(self.where),
        ).output

    def const(self, name: str, arr: np.ndarray) -> Value:
        return self.g.add_const(f"{self.where}.{name}" if self.where else name, arr)

    def rmsnorm(self, x: Value, w: np.ndarray, eps: float) -> Value:
        sq = self.op("Mul", [x, x])
        ms = self.op("ReduceMean", [sq], axes=(2,), keepdims=True)
        inv = self.op(
            "Reciprocal", [self.op("Sqrt", [self.op("Add", [ms, self.const("eps", np.array(eps, np.float32))])])]
        )
        return self.op("Mul", [self.op("Mul", [x, inv]), self.const("weight", w.astype(np.float32))])

    def linear(self, x: Value, w: np.ndarray, name: str) -> Value:
        return self.op("MatMul", [x, self.const(name, np.ascontiguousarray(w.T.astype(np.float32)))])

    def heads(self, x: Value, n: int, hs: int) -> Value:
        return self.op("Transpose", [self.op("Reshape", [x], shape=(1, 1, n, hs))], perm=(0, 2, 1, 3))

    def rope(self, x: Value, cos: Value, sin: Value, hs: int) -> Value:
        swap = self.const("rope_swap", np.array([i + 1 if i % 2 == 0 else i - 1 for i in range(hs)], np.int64))
        sign = self.const("rope_sign", np.array([-1.0 if i % 2 == 0 else 1.0 for i in range(hs)], np.float32))
        rotated = self.op("Mul", [self.op("Gather", [x, swap], axis=3), sign])
        return self.op("Add", [self.op("Mul", [x, cos]), self.op("Mul", [rotated, sin])])


def decoder_graph(model: DecoderModel, past_len: int = 1, name: str | None = None) -> Graph:
    """The IR of one decode step of ``model`` after ``past_len`` positions."""
    c = model.config
    model.validate()
    hs, nh, nkv, L = c.head_size, c.n_heads, c.n_kv_heads, c.n_layers
    g = Graph(name or model.name)
    b = _Builder(g)
    token = g.add_input("token", TensorType(DType.I64, (1, 1)))
    pos = g.add_input("pos", TensorType(DType.I64, (1,)))
    cache = (L, 1, nkv, past_len, hs)
    past_k = g.add_input("past_key", TensorType(DType.F32, cache))
    past_v = g.add_input("past_value", TensorType(DType.F32, cache))
    freqs = (1.0 / c.rope_theta ** (np.arange(0, hs, 2, dtype=np.float64) / hs)).repeat(2)
    ang = np.arange(c.seq_len, dtype=np.float64)[:, None] * freqs[None, :]
    b.where = "rope"
    cos = b.op("Gather", [b.const("cos_table", np.cos(ang).astype(np.float32)), pos], axis=0)
    sin = b.op("Gather", [b.const("sin_table", np.sin(ang).astype(np.float32)), pos], axis=0)
    b.where = "tok_embeddings"
    x = b.op("Gather", [b.const("weight", _f(model.tok_embedding)), token], axis=0)
    presents: dict[str, list[Value]] = {"k": [], "v": []}
    rep = c.kv_mul
    for i, lw in enumerate(model.layers):
        b.where = f"layers.{i}.attention"
        h = b.rmsnorm(x, lw.rms_att, c.norm_eps)
        q = b.rope(b.heads(b.linear(h, _f(lw.wq), "wq"), nh, hs), cos, sin, hs)
        k = b.rope(b.heads(b.linear(h, _f(lw.wk), "wk"), nkv, hs), cos, sin, hs)
        v = b.heads(b.linear(h, _f(lw.wv), "wv"), nkv, hs)
        layer = b.const("layer", np.array(i, np.int64))
        k_all = b.op("Concat", [b.op("Gather", [past_k, layer], axis=0), k], axis=2)
        v_all = b.op("Concat", [b.op("Gather", [past_v, layer], axis=0), v], axis=2)
        presents["k"].append(b.op("Unsqueeze", [k_all], axes=(0,)))
        presents["v"].append(b.op("Unsqueeze", [v_all], axes=(0,)))
        if rep > 1:
            full = (1, nkv, rep, past_len + 1, hs)
            k_all = b.op(
                "Reshape",
                [b.op("Expand", [b.op("Unsqueeze", [k_all], axes=(2,))], shape=full)],
                shape=(1, nh, past_len + 1, hs),
            )
            v_all = b.op(
                "Reshape",
                [b.op("Expand", [b.op("Unsqueeze", [v_all], axes=(2,))], shape=full)],
                shape=(1, nh, past_len + 1, hs),
            )
        scores = b.op("MatMul", [q, b.op("Transpose", [k_all], perm=(0, 1, 3, 2))])
        att = b.op("Softmax", [b.op("Div", [scores, b.const("scale", np.array(math.sqrt(hs), np.float32))])], axis=3)
        out = b.op(
            "Reshape", [b.op("Transpose", [b.op("MatMul", [att, v_all])], perm=(0, 2, 1, 3))], shape=(1, 1, c.q_dim)
        )
        x = b.op("Add", [x, b.linear(out, _f(lw.wo), "wo")])
        b.where = f"layers.{i}.feed_forward"
        h = b.rmsnorm(x, lw.rms_ffn, c.norm_eps)
        gate = b.linear(h, _f(lw.w1), "w1")
        up = b.linear(h, _f(lw.w3), "w3")
        act = b.op("Mul", [b.op("Mul", [gate, b.op("Sigmoid", [gate])]), up])
        x = b.op("Add", [x, b.linear(act, _f(lw.w2), "w2")])
    b.where = "norm"
    x = b.rmsnorm(x, model.rms_final, c.norm_eps)
    b.where = "output"
    logits = b.linear(x, _f(model.classifier), "weight")
    present_k = b.op("Concat", presents["k"], axis=0)
    present_v = b.op("Concat", presents["v"], axis=0)
    for v, nm in ((logits, "logits"), (present_k, "present_key"), (present_v, "present_value")):
        g.rename_value(v, nm)
        g.outputs.append(v)
    return g
