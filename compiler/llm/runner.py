"""Entry points the CLI wires in: compile a decoder for a target, build and run it on the host.

compile_llm("stories260K.bin", "tok512.bin", "stm32h7", "build/", {"weights": "int8"})
text = run_llm("stories260K.bin", "tok512.bin", "Once upon a time", 256, 0.0, 42, False, False)
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyc.errors import ModelLoadError, TinycError, ToolchainError
from tinyc.llm.model import DecoderModel
from tinyc.llm.options import LlmOptions, NumFormat
from tinyc.llm.tokenizer import Tokenizer

log = logging.getLogger(__name__)

HOST_TIMEOUT = 600


def load_decoder(source: Any, *, seq_len: int | None = None, example_inputs: Any = None) -> DecoderModel:
    """A decoder description from a llama2.c checkpoint (.bin), an ONNX decode step (.onnx),
    a tinyc Model or Graph, or a PyTorch module with ``example_inputs`` (token, pos, past keys, past values)."""
    from tinyc.ir import Graph

    if isinstance(source, DecoderModel):
        return source
    if isinstance(source, Graph):
        from tinyc.llm.match import match_decoder

        return match_decoder(source, seq_len=seq_len, name=_c_name(source.name))
    if hasattr(source, "graph") and isinstance(getattr(source, "graph", None), Graph):
        from tinyc.llm.match import match_decoder

        return match_decoder(source.graph, seq_len=seq_len, name=_c_name(getattr(source, "name", "decoder")))
    if not isinstance(source, (str, Path)):
        from tinyc.api import load

        model = load(source, example_inputs=example_inputs)
        return load_decoder(model, seq_len=seq_len)
    p = Path(source)
    if p.suffix.lower() == ".onnx":
        from tinyc.frontends.onnx import load_onnx
        from tinyc.llm.match import match_decoder

        graph = load_onnx(p, input_shapes=_static_input_shapes(p))
        model = match_decoder(graph, seq_len=seq_len, name=_c_name(p.stem))
        model.source = str(p)
        return model
    if p.suffix.lower() in (".bin", ".ckpt2", ".q80") or not p.suffix:
        from tinyc.frontends.llama2c import read_checkpoint

        return read_checkpoint(p)
    raise ModelLoadError(
        f"cannot read {p.suffix!r} files as a decoder",
        where=str(p),
        hint="give a llama2.c checkpoint (.bin, versions 0/1/2) or an ONNX decode step (.onnx with past key/value inputs)",
    )


def _c_name(name: str) -> str:
    from tinyc.backends.llm.cdata import c_identifier

    return c_identifier(name or "decoder", "decoder")


def _static_input_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Every symbolic input dimension of an ONNX decode step set to 1 (batch 1, one token, a past of 1)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ModelLoadError(f"not a valid ONNX file ({type(exc).__name__}: {exc})", where=str(path)) from None
    init = {t.name for t in proto.graph.initializer}
    shapes = {}
    for inp in proto.graph.input:
        if inp.name in init or not inp.type.HasField("tensor_type"):
            continue
        dims = inp.type.tensor_type.shape.dim
        if any(not (d.HasField("dim_value") and d.dim_value > 0) for d in dims):
            shapes[inp.name] = tuple(
                int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in dims
            )
    return shapes


def load_tokenizer(path: str | Path, vocab_size: int) -> Tokenizer:
    from tinyc.frontends.llama2c import read_tokenizer

    return read_tokenizer(path, vocab_size)


def llm_options(options: LlmOptions | dict[str, Any] | None, int8: bool = False) -> LlmOptions:
    """Options from a dict or LlmOptions; ``int8`` sets int8 weights (the KV cache format is its own option)."""
    if isinstance(options, LlmOptions):
        return options
    values = dict(options or {})
    if int8:
        values.setdefault("weights", NumFormat.INT8)
    opts = LlmOptions.from_mapping(values)
    opts.check()
    return opts


def host_target() -> Any:
    """A pseudo-target for host runs: memory without limits, no linker sections."""
    from tinyc.targets import MemoryKind, MemoryRegion, Target

    big = 1 << 40
    return Target(
        name="host",
        backend="llm",
        regions=(
            MemoryRegion("HOST_CONST", big, MemoryKind.FLASH, False, 1, ".rodata", base=0),
            MemoryRegion("HOST_RAM", big, MemoryKind.RAM, True, 0, ".bss", base=big),
        ),
        weights=("HOST_CONST",),
        activations=("HOST_RAM",),
        description="the machine tinyc runs on",
    )


def compile_llm(
    model_path: Any,
    tokenizer_path: str | Path | Tokenizer,
    target: Any = "stm32h7",
    out_dir: str | Path = "build",
    options: LlmOptions | dict[str, Any] | None = None,
) -> Any:
    """Compile a decoder and its tokenizer into ``out_dir`` (atomically); returns ``tinyc.driver.Artifacts``."""
    import json
    import shutil

    from tinyc.backends.llm import generate_c, write_generated
    from tinyc.driver import OUTPUT_MARKER, Artifacts, _check_destination, _replace_dir, resolve_target

    model = load_decoder(model_path)
    tok = (
        tokenizer_path
        if isinstance(tokenizer_path, Tokenizer)
        else load_tokenizer(tokenizer_path, model.config.vocab_size)
    )
    t = host_target() if target == "host" else resolve_target(target)
    opts = llm_options(options)
    gen = generate_c(model, tok, t, opts)
    dest = Path(out_dir)
    _check_destination(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tinyc-", dir=dest.parent))
    try:
        files = write_generated(gen, staging)
        (staging / OUTPUT_MARKER).write_text(json.dumps({"model": model.source, "target": t.name}) + "\n")
        _replace_dir(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Artifacts(dest, [dest / f.relative_to(staging) for f in files], gen.report())


@dataclass
class HostProgram:
    """A generated decoder built for the host: run it as often as needed."""

    exe: Path
    workdir: Path
    report: dict[str, Any]

    def run_args(self, args: list[Any], timeout: float = HOST_TIMEOUT) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run([str(self.exe), *args], capture_output=True, timeout=timeout)
        if proc.returncode != 0:
            raise ToolchainError(
                f"the generated program failed (exit {proc.returncode}):\n{proc.stderr.decode(errors='replace')[-3000:]}"
            )
        return proc

    def generate(
        self, prompt: str, steps: int, temperature: float = 0.0, topp: float = 0.9, seed: int = 42, ids: bool = False
    ) -> str:
        proc = self.run_args(
            [prompt, str(steps), repr(float(temperature)), repr(float(topp)), str(int(seed)), "ids" if ids else "text"]
        )
        self.last_stderr = proc.stderr.decode(errors="replace")
        return proc.stdout.decode("utf-8", errors="replace")

    def encode(self, text: str | bytes) -> tuple[list[int], list[bytes]]:
        """The C tokenizer's ids for ``text`` (BOS first) and the decoded piece of each token after BOS."""
        out = self.run_args(["encode", text]).stdout
        line, _, rest = out.partition(b"\n")
        ids = [int(x) for x in line.split()]
        pieces = rest.split(b"\0")[:-1]
        return ids, pieces

    def logits(self, ids: list[int]) -> Any:
        """Teacher-forced logits, one row per position: BOS then ``ids[:-1]`` are fed."""
        import numpy as np

        ids_file = self.workdir / "ids.bin"
        out_file = self.workdir / "logits.bin"
        np.asarray(ids, dtype="<i4").tofile(ids_file)
        self.run_args(["logits", str(ids_file), str(out_file)])
        vocab = self.report["config"]["vocab_size"]
        return np.fromfile(out_file, dtype="<f4").reshape(-1, vocab)


def build_host_program(
    model: str | Path | DecoderModel,
    tokenizer: str | Path | Tokenizer,
    options: LlmOptions | dict[str, Any] | None = None,
    *,
    workdir: str | Path | None = None,
    sanitize: bool = False,
    int8: bool = False,
) -> HostProgram:
    """Generate the C for the host and build it with gcc in ``workdir`` (a new temporary folder by default)."""
    from tinyc.backends.llm import generate_c, write_generated
    from tinyc.backends.llm.harness import build_host

    m = load_decoder(model)
    tok = tokenizer if isinstance(tokenizer, Tokenizer) else load_tokenizer(tokenizer, m.config.vocab_size)
    opts = llm_options(options, int8)
    from dataclasses import replace

    gen = generate_c(m, tok, host_target(), replace(opts, sections=False))
    wd = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="tinyc-llm-"))
    src = wd / "src"
    write_generated(gen, src)
    exe = build_host(src, gen.name, wd / gen.name, sanitize=sanitize)
    return HostProgram(exe, wd, gen.report())


def run_llm(
    model_path: str | Path,
    tokenizer_path: str | Path,
    prompt: str,
    steps: int = 256,
    temperature: float = 0.0,
    seed: int = 42,
    int8: bool = False,
    ids: bool = False,
    topp: float = 0.9,
    options: LlmOptions | dict[str, Any] | None = None,
) -> str:
    """Generate C for the model, build it with the host gcc in a temporary folder, run it; returns its stdout."""
    import shutil

    if temperature < 0:
        raise TinycError(f"temperature {temperature} must be >= 0 (0: greedy)")
    wd = Path(tempfile.mkdtemp(prefix="tinyc-run-llm-"))
    try:
        prog = build_host_program(model_path, tokenizer_path, options, workdir=wd, int8=int8)
        return prog.generate(prompt, steps, temperature, topp, seed, ids)
    finally:
        shutil.rmtree(wd, ignore_errors=True)


def run_llm_qemu(
    model_path: str | Path | DecoderModel,
    tokenizer_path: str | Path | Tokenizer,
    prompt: str,
    steps: int = 256,
    temperature: float = 0.0,
    seed: int = 42,
    int8: bool = True,
    ids: bool = False,
    topp: float = 0.9,
    target: Any = "stm32h7",  # the int8 build of stories260K keeps its int8 KV cache in SRAM: options={"kv_cache": "int8"}
    options: LlmOptions | dict[str, Any] | None = None,
    workdir: str | Path | None = None,
) -> Any:
    """Build the decoder for ``target`` as mps2-an500 firmware, run it under QEMU; returns a QemuRun
    (stdout: the story or ids; ``instructions``: tokens, instructions, per_token)."""
    import shutil

    from tinyc.backends.llm import generate_c
    from tinyc.backends.llm.harness import build_qemu
    from tinyc.backends.qemu import run_firmware
    from tinyc.driver import resolve_target

    m = load_decoder(model_path)
    tok = (
        tokenizer_path if isinstance(tokenizer_path, Tokenizer) else load_tokenizer(tokenizer_path, m.config.vocab_size)
    )
    t = resolve_target(target)
    gen = generate_c(m, tok, t, llm_options(options, int8))
    wd = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="tinyc-qemu-llm-"))
    try:
        elf = build_qemu(gen, t, wd, prompt, steps, temperature, topp, seed, ids)
        run = run_firmware(elf)
        run.instructions.setdefault("tokens", 0)
        return run
    finally:
        if workdir is None:
            shutil.rmtree(wd, ignore_errors=True)
