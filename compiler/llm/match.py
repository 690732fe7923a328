"""Recognise a Llama-style decoder in tinyc's IR and lift it into a :class:`DecoderModel`.

The input is one decode step as PyTorch or an ONNX exporter writes it: token
and position inputs, past keys/values (static length P), logits out. The
matcher works in two stages:

1. Structure. The embedding is a Gather from a constant table indexed by the
   token input. The linear layers (MatMul/Gemm with constant weights, in graph
   order) come 7 per block plus the classifier; inside a block the three that
   read one value are q/k/v (v is the one that does not reach the Softmax; k
   meets the past in a Concat or leaves as a present output), the two reading
   another value are the feed-forward gate (it reaches a Sigmoid) and up
   projection, and the other two are the attention output and down
   projections. Each projection's input must come out of an RMSNorm (mean of
   squares, epsilon, reciprocal square root, weight) of the residual stream,
   and each block must add its two outputs back to the stream. The head size
   comes from the first Reshape of q; the context length and RoPE base from
   the cos/sin tables gathered by the position input.
2. Semantics. The IR graph is run by the reference interpreter for one token
   at position P with a zero past, and so is the NumPy reference decoder; the
   residual stream is compared block by block. RoPE pair conventions
   (interleaved as in Meta's Llama and llama2.c, or rotate-half as in Hugging
   Face) and grouped-query head mappings (repeat_interleave or tile) are
   tried in turn; rotate-half and tiled heads are converted by permuting
   weight rows, so the C stays one decode step.

Anything that does not fit says which block, which part and which node.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from tinyc.errors import TinycError
from tinyc.ir import Graph
from tinyc.ir.core import Node, Value
from tinyc.llm.model import DecoderConfig, DecoderModel

log = logging.getLogger(__name__)

SHAPE_OPS = {"Reshape", "Squeeze", "Unsqueeze", "Identity", "Flatten", "Cast", "Transpose", "Expand"}
NORM_OPS = {"Pow", "Mul", "ReduceMean", "Add", "Sqrt", "Reciprocal", "Div", "Cast", "Identity"}


class DecoderMatchError(TinycError):
    """The graph is not a Llama-style decode step; the message names the part that differs."""


@dataclass
class Linear:
    node: Node
    weight: np.ndarray  # [out, in]

    @property
    def input(self) -> Value:
        return self.node.input(0)

    @property
    def output(self) -> Value:
        return self.node.output

    def __str__(self) -> str:
        return f"{self.node.op.name} {self.node.name!r} ({self.node.loc})"


@dataclass
class Norm:
    stream: Value  # the normalised value (the residual stream)
    weight: np.ndarray
    eps: float


@dataclass
class Block:
    index: int
    q: Linear
    k: Linear
    v: Linear
    o: Linear
    gate: Linear
    up: Linear
    down: Linear
    att_norm: Norm
    ffn_norm: Norm
    mid: Value = field(default=None)  # type: ignore[assignment]  # stream after the attention residual
    out: Value = field(default=None)  # type: ignore[assignment]  # stream after the feed-forward residual


def _fail(what: str, where: str | None = None, hint: str | None = None) -> DecoderMatchError:
    return DecoderMatchError(
        what,
        where=where,
        hint=hint
        or "tinyc lowers Llama-style decoders: RMSNorm, RoPE, (grouped-query) attention with a KV cache, SwiGLU",
    )


def _op(node: Node | None) -> str:
    return "" if node is None else node.op.name


def _linears(graph: Graph) -> list[Linear]:
    out = []
    for node in graph.nodes:
        name = _op(node)
        if name == "MatMul" and node.input(1).is_const and node.input(1).const.ndim == 2 and not node.input(0).is_const:
            out.append(Linear(node, np.ascontiguousarray(node.input(1).const.T.astype(np.float32))))
        elif name == "Gemm" and node.input(1).is_const and not node.input(0).is_const:
            a = node.attrs
            if getattr(a, "transA", 0):
                raise _fail(f"Gemm {node.name!r} transposes its input", where=str(node.loc))
            bias = node.opt_input(2)
            if bias is not None and (not bias.is_const or np.any(bias.const != 0)):
                raise _fail(f"linear layer {node.name!r} has a bias; Llama projections have none", where=str(node.loc))
            w = node.input(1).const.astype(np.float32) * np.float32(getattr(a, "alpha", 1.0))
            out.append(Linear(node, np.ascontiguousarray(w if getattr(a, "transB", 0) else w.T)))
    return out


def _forward(start: Iterable[Value], stop: set[int] | None = None) -> set[int]:
    """ids of the nodes reachable from ``start`` (not entering nodes in ``stop``)."""
    seen: set[int] = set()
    todo = [u for v in start for u in v.users]
    while todo:
        n = todo.pop()
        if id(n) in seen or (stop and id(n) in stop):
            continue
        seen.add(id(n))
        for out in n.outputs:
            todo.extend(out.users)
    return seen


def _reaches(v: Value, pred: Callable[[Node], bool], stop: set[int], graph: Graph) -> bool:
    ids = _forward([v], stop)
    return any(id(n) in ids and pred(n) for n in graph.nodes)


def _through_shape_ops(v: Value) -> Value:
    while v.producer is not None and _op(v.producer) in SHAPE_OPS and not v.producer.input(0).is_const:
        v = v.producer.input(0)
    return v


def _norm(x: Value, what: str) -> Norm:
    """The RMSNorm producing ``x``: its input (the stream), weight and epsilon."""
    nodes: list[Node] = []
    consts: list[np.ndarray] = []
    sources: list[Value] = []
    todo = [x]
    seen: set[int] = set()
    while todo:
        v = todo.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        p = v.producer
        if v.is_const:
            consts.append(np.asarray(v.const))
            continue
        residual = _op(p) == "Add" and not any(i is not None and i.is_const for i in p.inputs)
        if p is None or _op(p) not in NORM_OPS or residual:
            if _op(p) in ("Sub", "LayerNormalization"):
                raise _fail(
                    f"{what}: a layer normalisation (it subtracts the mean) where RMSNorm was expected",
                    where=str(p.loc),
                )
            sources.append(v)
            continue
        nodes.append(p)
        todo.extend(i for i in p.inputs if i is not None)
    ops = {_op(n) for n in nodes}
    if "ReduceMean" not in ops or not (ops & {"Sqrt", "Reciprocal", "Div"}):
        raise _fail(f"{what}: expected an RMSNorm (x * 1/sqrt(mean(x^2) + eps) * weight), found {sorted(ops) or 'no normalisation'}",
                    where=str(x.producer.loc) if x.producer else x.name)  # fmt: skip
    if len(sources) != 1:
        raise _fail(
            f"{what}: the RMSNorm reads {len(sources)} values ({', '.join(s.name for s in sources)}), expected the residual stream alone"
        )
    stream = sources[0]
    dim = stream.shape[-1]
    weights = [c for c in consts if c.ndim >= 1 and c.size == dim and c.shape[-1] == dim]
    scalars = [float(c.reshape(-1)[0]) for c in consts if c.size == 1]
    eps_cands = [s for s in scalars if 0 < s < 1e-2]
    if len(weights) > 1:
        raise _fail(f"{what}: {len(weights)} constant vectors of size {dim} in the RMSNorm, expected one weight")
    weight = weights[0].reshape(dim).astype(np.float32) if weights else np.ones(dim, np.float32)
    eps = (
        float(np.format_float_positional(np.float32(eps_cands[0]))) if eps_cands else 1e-5
    )  # the shortest decimal of the float32
    return Norm(stream, weight, eps)


def _head_size(q: Linear, q_dim: int) -> int:
    todo = list(q.output.users)
    seen: set[int] = set()
    while todo:
        n = todo.pop(0)
        if id(n) in seen:
            continue
        seen.add(id(n))
        if _op(n) == "Reshape":
            last = n.output.shape[-1]
            if 1 < last < q_dim and q_dim % last == 0:
                return int(last)
        if _op(n) in SHAPE_OPS:
            todo.extend(n.output.users)
    raise _fail(f"q projection {q}: no Reshape splitting its {q_dim} outputs into heads", where=str(q.node.loc))


def _rope_tables(graph: Graph, pos: Value | None, head_size: int) -> tuple[int | None, float]:
    """(context length, RoPE base) from cos/sin tables gathered by the position input."""
    if pos is None:
        return None, 10000.0
    from_pos = _forward([pos])
    tables = [
        n.input(0).const
        for n in graph.nodes
        if _op(n) == "Gather" and id(n) in from_pos and n.input(0).is_const and n.input(0).const.ndim == 2
    ]
    cos = next((t for t in tables if np.allclose(t[0], 1.0)), None)
    sin = next((t for t in tables if np.allclose(t[0], 0.0) and t.shape[0] > 1), None)
    if cos is None or sin is None or cos.shape != sin.shape:
        return None, 10000.0
    seq_len, cols = cos.shape
    half = head_size // 2
    if cols == head_size:
        if np.allclose(cos[:, :half], cos[:, half:]):
            cos, sin = cos[:, :half], sin[:, :half]
        else:
            cos, sin = cos[:, 0::2], sin[:, 0::2]
    if cos.shape[1] != half or seq_len < 2:
        raise _fail(f"RoPE tables of shape {list(cos.shape)} do not fit the head size {head_size}")
    freqs = np.arctan2(sin[1].astype(np.float64), cos[1].astype(np.float64))
    theta = float(freqs[1] ** (-head_size / 2)) if half > 1 else 10000.0
    if abs(theta - round(theta)) <= 1e-4 * theta:  # float32 tables blur the base a little
        theta = float(round(theta))
    want = theta ** (-np.arange(0, head_size, 2) / head_size)
    ang = np.arange(seq_len)[:, None] * want[None, :]
    if not (np.allclose(cos, np.cos(ang), atol=2e-5) and np.allclose(sin, np.sin(ang), atol=2e-5)):
        raise _fail(
            f"the RoPE tables are not cos/sin(pos * {theta:g}^(-2j/{head_size})) (scaled or extended RoPE is not supported)"
        )
    return int(seq_len), float(np.float32(theta))


@dataclass
class Match:
    graph: Graph
    token: Value
    pos: Value | None
    embedding: np.ndarray
    blocks: list[Block]
    final_norm: Norm
    classifier: Linear
    config: DecoderConfig
    past_len: int


def match_structure(graph: Graph, seq_len: int | None = None) -> Match:
    """Stage 1: find the embedding, the blocks and their parts; shapes give the config."""
    emb_nodes = [n for n in graph.nodes if _op(n) == "Gather" and n.input(0).is_const and n.input(0).const.ndim == 2
                 and n.input(0).const.dtype.kind == "f" and _through_shape_ops(n.input(1)) in graph.inputs]  # fmt: skip
    if not emb_nodes:
        raise _fail(
            "no token embedding: expected a Gather from a constant [vocab, dim] table indexed by an integer input"
        )
    emb_node = max(emb_nodes, key=lambda n: n.input(0).const.size)
    token = _through_shape_ops(emb_node.input(1))
    emb = emb_node.input(0).const.astype(np.float32)
    vocab, dim = emb.shape
    ints = [v for v in graph.inputs if v.dtype.is_int and v is not token and "mask" not in v.name.lower()]
    pos = ints[0] if ints else None
    lin = _linears(graph)
    if len(lin) < 8 or (len(lin) - 1) % 7:
        raise _fail(f"found {len(lin)} linear layers with constant weights; a Llama decoder of L blocks has 7 L + 1 "
                    "(q, k, v, o, gate, up, down per block, then the classifier)")  # fmt: skip
    for g in lin:
        if any(_op(u) == "Add" and any(x is not None and x.is_const for x in u.inputs) for u in g.output.users):
            raise _fail(f"linear layer {g} adds a bias; Llama projections have none", where=str(g.node.loc))
    n_layers = (len(lin) - 1) // 7
    blocks: list[Block] = []
    for i in range(n_layers):
        group = lin[7 * i : 7 * i + 7]
        where = f"block {i}"
        a1 = group[0].input
        att = [g for g in group if g.input is a1]
        if len(att) != 3:
            raise _fail(f"{where}: expected q, k, v projections reading the attention norm's output, found {len(att)}: "
                        + ", ".join(map(str, att)))  # fmt: skip
        rest = [g for g in group if g.input is not a1]
        o = rest[0]
        a2 = rest[1].input
        ffn = [g for g in rest[1:] if g.input is a2]
        down = [g for g in rest[1:] if g.input is not a2]
        if len(ffn) != 2 or len(down) != 1:
            raise _fail(
                f"{where}: expected the feed-forward gate and up projections to read one normalised value and the down projection after them; found {', '.join(map(str, rest))}"
            )
        stop = {id(o.node)}
        v_cands = [g for g in att if not _reaches(g.output, lambda n: _op(n) == "Softmax", stop, graph)]
        if len(v_cands) != 1:
            raise _fail(
                f"{where}: expected exactly one of q, k, v ({', '.join(map(str, att))}) to bypass the attention Softmax (the values), found {len(v_cands)}"
            )
        v = v_cands[0]
        qk = [g for g in att if g is not v]
        if qk[0].weight.shape[0] != qk[1].weight.shape[0]:
            q, k = sorted(qk, key=lambda g: -g.weight.shape[0])
        else:
            ks = [g for g in qk if _meets_past(g, o.node, token, graph)]
            if len(ks) != 1:
                raise _fail(
                    f"{where}: cannot tell q from k: expected only k to meet the past keys (Concat) or leave as a present output"
                )
            k = ks[0]
            q = qk[0] if qk[1] is k else qk[1]
        gates = [g for g in ffn if any(_op(u) == "Sigmoid" for u in g.output.users)
                 or any(_op(u) == "Sigmoid" for w in g.output.users for x in w.outputs for u in x.users)]  # fmt: skip
        if len(gates) != 1:
            raise _fail(f"{where}: expected one of the feed-forward projections ({ffn[0]}; {ffn[1]}) to go through SiLU (x * sigmoid(x)), found {len(gates)}",
                        hint="SwiGLU: w2(silu(w1 x) * w3 x); GELU or ReLU feed-forwards are not Llama's")  # fmt: skip
        gate = gates[0]
        up = ffn[0] if ffn[1] is gate else ffn[1]
        blk = Block(
            i,
            q,
            k,
            v,
            o,
            gate,
            up,
            down[0],
            _norm(a1, f"{where} attention norm"),
            _norm(a2, f"{where} feed-forward norm"),
        )
        blocks.append(blk)
    final = _norm(lin[-1].input, "final norm")
    _check_residuals(blocks, final, emb_node)
    cls = lin[-1]
    if cls.weight.shape != (vocab, dim):
        raise _fail(f"classifier {cls} has weights {list(cls.weight.shape)}, expected [{vocab}, {dim}]")
    b0 = blocks[0]
    q_dim, kv_dim, hidden = b0.q.weight.shape[0], b0.k.weight.shape[0], b0.gate.weight.shape[0]
    hs = _head_size(b0.q, q_dim)
    if kv_dim % hs:
        raise _fail(f"k projection {b0.k}: {kv_dim} outputs are not whole heads of {hs}")
    table_len, theta = _rope_tables(graph, pos, hs)
    context = seq_len or table_len
    if context is None:
        raise _fail(
            "cannot tell the context length: no RoPE table gathered by the position input",
            hint="give seq_len (the context length) explicitly",
        )
    eps = b0.att_norm.eps
    cfg = DecoderConfig(dim, hidden, n_layers, q_dim // hs, kv_dim // hs, vocab, context, shared_classifier=bool(np.array_equal(cls.weight, emb)),
                        norm_eps=eps, rope_theta=theta, head_size=hs)  # fmt: skip
    cfg.check(graph.name)
    past_len = _past_length(blocks[0], token)
    return Match(graph, token, pos, emb, blocks, final, cls, cfg, past_len)


def _cache_concat(lin: Linear, stop: Node, token: Value) -> tuple[Node, Value] | None:
    """The Concat appending this projection's new key/value to the past, and its past operand."""
    graph = lin.node.graph
    ids = _forward([lin.output], {id(stop)})
    from_token = _forward([token])
    for n in graph.nodes if graph else []:
        if id(n) in ids and _op(n) == "Concat":
            past = [x for x in n.inputs if x is not None and (x.producer is None or id(x.producer) not in from_token)]
            if len(past) == 1:
                return n, past[0]
    return None


def _meets_past(lin: Linear, stop: Node, token: Value, graph: Graph) -> bool:
    """The key projection meets the past keys in a Concat or leaves the graph as a present output."""
    if _cache_concat(lin, stop, token) is not None:
        return True
    ids = _forward([lin.output], {id(stop)})
    outs = {id(v) for v in graph.outputs}
    return any(id(n) in ids and any(id(x) in outs for x in n.outputs) for n in graph.nodes)


def _past_length(b: Block, token: Value) -> int:
    """P: the past keys' length along the axis the cache Concat appends the new key on."""
    found = _cache_concat(b.k, b.o.node, token)
    return 0 if found is None else int(found[1].shape[found[0].attrs.axis])


def _check_residuals(blocks: list[Block], final: Norm, emb_node: Node) -> None:
    stream = _through_shape_ops(blocks[0].att_norm.stream)
    if stream is not emb_node.output and _through_shape_ops(stream) is not emb_node.output:
        raise _fail(f"block 0: the attention norm does not read the token embedding (it reads {stream.name!r})")
    for i, b in enumerate(blocks):
        nxt = blocks[i + 1].att_norm.stream if i + 1 < len(blocks) else final.stream
        for what, before, after, proj in (
            ("attention", b.att_norm.stream, b.ffn_norm.stream, b.o),
            ("feed-forward", b.ffn_norm.stream, nxt, b.down),
        ):
            add = after.producer
            if _op(add) != "Add" or before not in add.inputs:
                raise _fail(f"block {i}: the {what} output is not added to the residual stream (expected Add(x, {what}(x)) before the next norm)",
                            where=str(add.loc) if add else after.name)  # fmt: skip
            other = add.input(1) if add.input(0) is before else add.input(0)
            if _through_shape_ops(other) is not proj.output:
                raise _fail(f"block {i}: the residual Add adds {other.name!r}, not the {what}'s projection {proj}")
        b.mid, b.out = b.ffn_norm.stream, nxt


def match_decoder(graph: Graph, *, seq_len: int | None = None, name: str = "decoder") -> DecoderModel:
    """Structure, then semantics: the DecoderModel whose decode step computes what the graph computes."""
    from tinyc.llm.verify import build_model, verify

    m = match_structure(graph, seq_len)
    variants = [("interleaved", "interleave"), ("half", "interleave")]
    if m.config.n_kv_heads != m.config.n_heads:
        variants += [("interleaved", "tile"), ("half", "tile")]
    best = (-1, "", 0.0, "")
    for rope, gqa in variants:
        model = build_model(m, rope, gqa, name)
        ok, what, err = verify(m, model, rope)
        if not what:
            model.notes.append(
                f"matched from IR graph {graph.name!r}: RoPE {rope} pairs, query heads {gqa}d over key/value heads"
            )
            log.info("decoder matched: %s, RoPE %s, GQA %s", m.config, rope, gqa)
            return model
        if ok > best[0]:
            best = (ok, what, err, f"RoPE {rope}, GQA {gqa}")
    raise _fail(
        f"the graph's structure is a Llama decoder ({m.config.n_layers} blocks) but its numbers differ from the decode step "
        f"from the {best[1]} on (max |difference| {best[2]:.3g}; best of the variants tried: {best[3]})",
        where=graph.name,
        hint="check that block's RoPE (pairs, base), attention scaling (1/sqrt(head size)), SiLU gate and norm epsilon",
    )
