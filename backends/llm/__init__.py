"""The ``llm`` backend: a decoder-only transformer lowered to a C decode loop.

Output folder: ``<name>.h/.c`` (forward, generate, tokenizer entry points),
``<name>_weights.h/.c`` (constant data in the target's linker sections),
``tinyc_llm.h/.c`` (kernels, sampler, BPE tokenizer) and ``report.json``.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyc.backends.llm.emit_model import emit_header, emit_source
from tinyc.backends.llm.emit_weights import emit_weights_header, emit_weights_source, weights_section
from tinyc.backends.llm.lowered import Lowered, lower
from tinyc.backends.llm.placement import Placement, place
from tinyc.errors import TinycError
from tinyc.llm.model import DecoderModel
from tinyc.llm.options import LlmOptions
from tinyc.llm.tokenizer import Tokenizer

log = logging.getLogger(__name__)

RUNTIME_FILES = ("tinyc_llm.h", "tinyc_llm.c")


def runtime_dir() -> Path:
    """The folder of tinyc's C runtime (installed package data or the repository's ``runtime_c``)."""
    import tinyc

    pkg = Path(tinyc.__file__).resolve().parent
    for cand in (pkg / "runtime_c", pkg.parent / "runtime_c"):
        if (cand / "llm" / "tinyc_llm.c").is_file():
            return cand
    raise TinycError("tinyc's C runtime (runtime_c/llm) is missing from this installation", hint="reinstall tinyc")


@dataclass
class Generated:
    """The emitted files (name -> text), the lowering and the placement."""

    lowered: Lowered
    plan: Placement
    files: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.lowered.name

    def report(self) -> dict[str, Any]:
        low = self.lowered
        c = low.config
        return {
            "model": low.model.source or low.model.name,
            "name": low.name,
            "config": {
                "dim": c.dim,
                "hidden_dim": c.hidden_dim,
                "n_layers": c.n_layers,
                "n_heads": c.n_heads,
                "n_kv_heads": c.n_kv_heads,
                "vocab_size": c.vocab_size,
                "seq_len": c.seq_len,
                "shared_classifier": c.shared_classifier,
            },  # fmt: skip
            "weights": "int8" if low.int8 else "float32",
            "group_sizes": dict(low.group_sizes),
            "kv_cache": "int8" if low.kv_int8 else "float32",
            "kv_group_size": low.kv_group if low.kv_int8 else None,
            "params": low.model.n_params,
            "bytes": {
                "weights": sum(a.data.nbytes for a in low.arrays if a.kind == "weights"),
                "tokenizer": sum(a.data.nbytes for a in low.arrays if a.kind == "tokenizer"),
                "activations": low.arena_bytes("act"),
                "kv_cache": low.arena_bytes("kv"),
                "sampler": low.arena_bytes("io"),
            },
            "regions": self.plan.to_json(),
            "sections": self.sections(),
        }

    def sections(self) -> dict[str, str]:
        """Linker section -> region name, for every section the C uses."""
        out: dict[str, str] = {}
        for a in self.lowered.arrays:
            r = self.plan.region_of[a.cname]
            out[weights_section(r)] = r.name
        for arena in self.lowered.arenas:
            r = self.plan.region_of[arena]
            out[r.section] = r.name
        return dict(sorted(out.items()))


def generate_c(
    model: DecoderModel, tokenizer: Tokenizer, target: Any, options: LlmOptions | None = None, name: str | None = None
) -> Generated:
    """Lower, place and emit; nothing is written to disk."""
    opts = options or LlmOptions()
    low = lower(model, tokenizer, opts, name)
    plan = place(target, low.items(), opts)
    gen = Generated(low, plan)
    n = low.name
    gen.files[f"{n}.h"] = emit_header(low)
    gen.files[f"{n}.c"] = emit_source(low, plan, opts.sections)
    gen.files[f"{n}_weights.h"] = emit_weights_header(low)
    gen.files[f"{n}_weights.c"] = emit_weights_source(low, plan, opts.sections)
    log.info("llm backend: %s\n%s", n, plan.text())
    return gen


def write_generated(gen: Generated, out_dir: Path) -> list[Path]:
    """Write the emitted files, the runtime and report.json into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fname, text in gen.files.items():
        p = out_dir / fname
        p.write_text(text, encoding="utf-8")
        paths.append(p)
    rt = runtime_dir() / "llm"
    for fname in RUNTIME_FILES:
        shutil.copyfile(rt / fname, out_dir / fname)
        paths.append(out_dir / fname)
    report = out_dir / "report.json"
    report.write_text(json.dumps(gen.report(), indent=2) + "\n", encoding="utf-8")
    paths.append(report)
    return paths


class LlmBackend:
    """Backend protocol: ``ctx.model`` is a DecoderModel, the tokenizer and options ride in ``ctx.options``."""

    name = "llm"

    def pipeline(self, target: Any, options: Any) -> list[Any]:
        return []  # the decoder is lowered from its model description, not by graph passes

    def write(self, ctx: Any) -> list[Path]:
        opts = ctx.options
        model = ctx.model
        tokenizer = getattr(opts, "tokenizer", None)
        llm_opts = getattr(opts, "llm", None) or LlmOptions()
        if not isinstance(model, DecoderModel) or tokenizer is None:
            raise TinycError(
                "the llm backend needs a decoder model and its tokenizer",
                hint="compile llama2.c checkpoints with `tinyc compile MODEL.bin --tokenizer tokenizer.bin`",
            )
        gen = generate_c(model, tokenizer, ctx.target, llm_opts)
        ctx.plan = gen.plan
        ctx.report.update(gen.report())
        return write_generated(gen, ctx.out_dir)


BACKEND = LlmBackend()
