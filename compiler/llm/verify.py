"""Stage 2 of the decoder matcher: lift the matched parts into a DecoderModel and check its numbers.

The IR graph and the NumPy reference decoder both run one decode step at
position P after the same P tokens (the reference's cache is written into the
graph's past key/value inputs wherever the graph reads them), and the residual
stream is compared block by block, so a difference is reported at the first
block that disagrees.
"""

from __future__ import annotations

import numpy as np

from tinyc.ir.core import Node
from tinyc.llm.match import Match, _cache_concat, _fail, _op
from tinyc.llm.model import DecoderModel, LayerWeights


def _pair_perm(hs: int) -> np.ndarray:
    """Rows of a rotate-half head in interleaved order: (0, hs/2), (1, hs/2 + 1), ..."""
    half = hs // 2
    return np.array([(r // 2) + (r % 2) * half for r in range(hs)])


def build_model(m: Match, rope: str = "interleaved", gqa: str = "interleave", name: str = "decoder") -> DecoderModel:
    c = m.config
    hs, nh, nkv = c.head_size, c.n_heads, c.n_kv_heads
    rows_q = np.arange(c.q_dim).reshape(nh, hs)
    rows_k = np.arange(c.kv_dim).reshape(nkv, hs)
    if rope == "half":
        rows_q, rows_k = rows_q[:, _pair_perm(hs)], rows_k[:, _pair_perm(hs)]
    heads = np.arange(nh)
    if gqa == "tile" and nkv != nh:
        # the graph's query head h reads kv head h % nkv; ours reads h // kv_mul
        heads = np.array([(h % c.kv_mul) * nkv + h // c.kv_mul for h in range(nh)])
    q_order = rows_q[heads].reshape(-1)
    layers = []
    for b in m.blocks:
        wq = b.q.weight[q_order]
        wo = b.o.weight[:, np.arange(c.q_dim).reshape(nh, hs)[heads].reshape(-1)]
        layers.append(LayerWeights(b.att_norm.weight, wq, b.k.weight[rows_k.reshape(-1)], b.v.weight, np.ascontiguousarray(wo),
                                   b.ffn_norm.weight, b.gate.weight, b.down.weight, b.up.weight))  # fmt: skip
    wcls = None if c.shared_classifier else m.classifier.weight
    model = DecoderModel(c, m.embedding, layers, m.final_norm.weight, wcls, name=name, source=m.graph.name)
    model.validate()
    return model


def _feeds(m: Match, token: int, past: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    feeds = {}
    for x in m.graph.inputs:
        if x is m.token:
            feeds[x.name] = np.full(x.shape, token, x.dtype.numpy)
        elif x.dtype.is_int:
            feeds[x.name] = np.full(x.shape, 1 if "mask" in x.name.lower() else m.past_len, x.dtype.numpy)
        else:
            feeds[x.name] = past[x.name] if past is not None else np.zeros(x.shape, x.dtype.numpy)
    return feeds


def _past_feeds(m: Match, model: DecoderModel, rope: str, dec) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """Float inputs holding the reference decoder's cache (positions 0..P-1) where the graph reads its past.

    A probe run feeds each float input with its own element indices; the
    values reaching each cache Concat's past operand then say which input
    element lands where, whatever Gather/Slice/Transpose chain is in between.
    """
    from tinyc.interpreter import run_graph

    c = m.config
    floats = [x for x in m.graph.inputs if x.dtype.is_float]
    base, probe = 0, {}
    for x in floats:
        n = int(np.prod(x.shape))
        if base + n >= 1 << 24:
            raise _fail("the past key/value inputs are too large to verify (use a short past when exporting)")
        probe[x.name] = (base + np.arange(n, dtype=np.float64)).astype(x.dtype.numpy).reshape(x.shape)
        base += n
    targets: dict[int, tuple[int, str]] = {}  # id(past operand) -> (layer, "k" | "v")
    for b in m.blocks:
        for kind, lin in (("k", b.k), ("v", b.v)):
            found = _cache_concat(lin, b.o.node, m.token)
            if found is None:
                raise _fail(f"block {b.index}: the {kind} projection {lin} never meets the past (no cache Concat)")
            targets[id(found[1])] = (b.index, kind)
    seen: dict[tuple[int, str], tuple[np.ndarray, int]] = {}

    def observe(node: Node, outs: list[np.ndarray]) -> None:
        for v, arr in zip(node.outputs, outs):
            if id(v) in targets:
                concat = next(u for u in v.users if _op(u) == "Concat")
                seen[targets[id(v)]] = (np.array(arr), int(concat.attrs.axis) % arr.ndim)

    feeds = _feeds(m, 0, probe)
    for x in floats:
        if id(x) in targets:  # the Concat reads an input directly
            concat = next(u for u in x.users if _op(u) == "Concat")
            seen[targets[id(x)]] = (probe[x.name], int(concat.attrs.axis) % len(x.shape))
    run_graph(m.graph, feeds, observer=observe)
    flat_in = np.concatenate([np.zeros(int(np.prod(x.shape)), np.float64) for x in floats]) if floats else np.zeros(0)
    hs, perm = c.head_size, _pair_perm(c.head_size) if rope == "half" else np.arange(c.head_size)
    P = m.past_len
    for (layer, kind), (idx, axis) in seen.items():
        if not np.all(idx == np.round(idx)):
            raise _fail(
                f"block {layer}: the past {kind} values are not a plain view of an input (no dequantization or arithmetic is supported there)"
            )
        cache = (dec.kc if kind == "k" else dec.vc)[layer, :P].reshape(P, c.n_kv_heads, hs)
        if kind == "k":
            cache = cache[:, :, np.argsort(perm)]
        # operand axes: positions on the concat axis, head dim last, kv heads on the remaining axis of that size
        rest = [a for a in range(idx.ndim) if a not in (axis, idx.ndim - 1) and idx.shape[a] > 1]
        if (
            idx.shape[axis] != P
            or idx.shape[-1] != hs
            or len(rest) > 1
            or (rest and idx.shape[rest[0]] != c.n_kv_heads)
        ):
            raise _fail(
                f"block {layer}: past {kind} of shape {list(idx.shape)}; expected positions on the concat axis, {c.n_kv_heads} heads and {hs} values per head"
            )
        order = [axis] + rest + [idx.ndim - 1]
        others = [a for a in range(idx.ndim) if a not in order]
        arranged = np.transpose(idx, order + others).reshape(P, c.n_kv_heads, hs)
        flat_in[arranged.astype(np.int64).reshape(-1)] = cache.reshape(-1)
    out, off = {}, 0
    for x in floats:
        n = int(np.prod(x.shape))
        out[x.name] = flat_in[off : off + n].astype(x.dtype.numpy).reshape(x.shape)
        off += n
    return out


def verify(m: Match, model: DecoderModel, rope: str = "interleaved", token: int = 7) -> tuple[int, str, float]:
    """One decode step at position P in the graph and in the reference, after the same P tokens in the cache.

    Returns (stages that agree, first differing stage or "", its max |difference|).
    """
    from tinyc.interpreter import run_graph
    from tinyc.llm.reference import Decoder

    c = m.config
    if m.past_len >= c.seq_len:
        raise _fail(f"the graph's past length {m.past_len} is not below the context length {c.seq_len}")
    dec = Decoder(model)
    rng = np.random.default_rng(0)
    for p in range(m.past_len):
        dec.forward(int(rng.integers(c.vocab_size)), p)
    past = _past_feeds(m, model, rope, dec) if m.past_len else None
    stages = [
        (f"block {b.index} {part}", v) for b in m.blocks for part, v in (("attention", b.mid), ("feed-forward", b.out))
    ]
    stages.append(("classifier (logits)", m.classifier.output))
    want = {id(v) for _, v in stages}
    got: dict[int, np.ndarray] = {}

    def observe(node: Node, outs: list[np.ndarray]) -> None:
        for v, arr in zip(node.outputs, outs):
            if id(v) in want:
                got[id(v)] = np.asarray(arr, np.float32).reshape(-1)

    token %= c.vocab_size
    run_graph(m.graph, _feeds(m, token, past), observer=observe)
    trace: list[np.ndarray] = []
    logits = dec.forward(token, m.past_len, trace=trace)
    refs = [*trace, logits]
    for i, ((what, v), ref) in enumerate(zip(stages, refs)):
        g = got[id(v)]
        err = float(np.abs(g - ref).max()) if g.shape == ref.shape else float("inf")
        if err > 1e-4 * max(1.0, float(np.abs(ref).max())):
            return i, what, err
    return len(stages), "", 0.0
