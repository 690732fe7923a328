"""The generated C: ``<name>.h`` (API), ``<name>.c`` (the calls), ``<name>_weights.c`` and ``<name>_data.h``.

``CodeGen`` walks the memory plan's order, asks ``layers.EMITTERS`` for each
node's call, and places every array where the plan says: weights and derived
tables as ``const`` arrays in their region's linker section, one static arena
per RAM region for activations and scratch. Output is deterministic: names,
order and number formatting depend only on the graph and the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinyc.backends.cmsis_nn.banding import Band, BandPlan
from tinyc.backends.cmsis_nn.emitter import Emitter, Names, c_array_body, c_float, c_ident, comment_text, fmt_int
from tinyc.backends.cmsis_nn.layers import HELPERS, Layer, describe, lower_node
from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Graph, Node, Value
from tinyc.ir.dtypes import DType
from tinyc.targets import MemoryKind, Target


@dataclass
class ConstArray:
    """A constant array in the weights file."""

    cname: str
    data: np.ndarray
    region: str
    section: str
    align: int
    comment: str
    ram: bool = False  # lives in a RAM region: a flash copy is copied there by <name>_init()

    @property
    def ctype(self) -> str:
        return DType.from_numpy(self.data.dtype).c_type

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)


@dataclass
class IOPort:
    """One model input or output as the C API sees it."""

    index: int
    value: Value
    name: str
    buf: str
    scale: float
    zero_point: int

    @property
    def size(self) -> int:
        return self.value.type.numel

    @property
    def ctype(self) -> str:
        """C element type: ``int8_t``, or ``int16_t`` for int16x8 models."""
        return self.value.type.dtype.c_type


@dataclass
class Arena:
    region: str
    section: str
    cname: str
    size: int
    align: int


@dataclass
class Generated:
    prefix: str
    files: dict[str, str]
    layers: list[Layer]
    arrays: list[ConstArray]
    arenas: list[Arena]
    inputs: list[IOPort]
    outputs: list[IOPort]
    helpers: list[str] = field(default_factory=list)

    @property
    def io_ctype(self) -> str:
        """The element type every input and output shares (``void`` when they differ)."""
        kinds = {port.ctype for port in (*self.inputs, *self.outputs)}
        return kinds.pop() if len(kinds) == 1 else "void"

    @property
    def has_s16_io(self) -> bool:
        return any(port.ctype == "int16_t" for port in (*self.inputs, *self.outputs))

    @property
    def scheme(self) -> str:
        return "int16x8" if self.has_s16_io else "int8"


IO_DTYPES = (DType.I8, DType.I16)


class CodeGen:
    """Builds the C sources for one graph and memory plan (implements ``layers.LowerCtx``)."""

    def __init__(
        self, graph: Graph, plan: object, target: Target, name: str, *, source: str = "", version: str = "", bands: BandPlan | None = None
    ) -> None:
        self.graph = graph
        self.bands = bands or BandPlan()
        self.plan = plan
        self.target = target
        self.prefix = c_ident(name, "model").lower()
        self.PREFIX = self.prefix.upper()
        self.source = source
        self.version = version
        self.names = Names(reserved=[f"{self.prefix}_{s}" for s in ("init", "run", "run_float", "invoke", "input", "output", "quantize", "dequantize", "quantize_s16", "dequantize_s16", "status")])
        self.macros = Names()
        self.arrays: list[ConstArray] = []
        self._array_of: dict[Value, ConstArray] = {}
        self._tables: dict[tuple[str, bytes], ConstArray] = {}
        self.arenas: dict[str, Arena] = {}
        self._buf_macros: dict[Value, str] = {}
        self._buf_lines: list[tuple[str, str, str]] = []  # (macro, expression, comment)
        self._scratch: dict[Node, tuple[str, int]] = {}
        self._flash = self._flash_region()

    # -- placement ---------------------------------------------------------------------

    def _flash_region(self) -> str:
        for name in self.target.weights:
            r = self.target.region(name)
            if r.kind is MemoryKind.FLASH:
                return name
        raise UnsupportedOpError(f"target {self.target.name} lists no flash region for weights", hint="add a flash region to the target's weights list")

    def _arena(self, region: str) -> Arena:
        if region not in self.arenas:
            rp = self.plan.regions[region]  # type: ignore[attr-defined]
            r = rp.region
            self.arenas[region] = Arena(region, r.section, f"{self.prefix}_arena_{c_ident(region).lower()}", rp.arena_bytes, r.align)
        return self.arenas[region]

    def _placed(self, region: str, offset: int) -> str:
        return f"({self._arena(region).cname} + {offset})"

    # -- LowerCtx ---------------------------------------------------------------------------

    def buf(self, v: Value) -> str:
        if v.is_const or v in getattr(self.plan, "const_alias", {}):
            return self.weight(v)
        if v in self._buf_macros:
            return self._buf_macros[v]
        place = self.plan.placement_of(v)  # type: ignore[attr-defined]
        if place is None:
            raise UnsupportedOpError(f"value %{v.name} has no planned buffer", hint="plan memory with io_in_arena=True for the cmsis_nn backend")
        macro = self.macros.ident(v, v.name[:40], prefix="BUF_")
        b = self.plan.buffer_of(v)  # type: ignore[attr-defined]
        live = f", live {b.first}-{b.last}" if b is not None else ""
        offset = place.offset + self.bands.shift.get(v, 0)
        self._buf_lines.append((macro, self._placed(place.region, offset), f"%{v.name} {v.type} {fmt_int(v.type.nbytes)} B at {place.region}+{offset}{live}"))
        self._buf_macros[v] = macro
        return macro

    def weight(self, v: Value, name: str | None = None) -> str:
        v = getattr(self.plan, "const_alias", {}).get(v, v)
        if v in self._array_of:
            return self._array_of[v].cname
        if v.const is None:
            raise UnsupportedOpError(f"%{v.name} is not a constant")
        wp = self.plan.weights.get(v)  # type: ignore[attr-defined]
        region = wp.region if wp is not None else self._flash
        r = self.target.region(region)
        cname = self.names.ident(v, name or v.name[:40], prefix=f"{self.prefix}_")
        q = v.type.quant
        qtext = ""
        if q is not None:
            qtext = ", per-tensor scale " + repr(q.scale[0]) if q.is_per_tensor else f", {len(q.scale)} scales along axis {q.axis}"
        where = f"{region}+{wp.offset}" if wp is not None else region
        arr = ConstArray(cname, np.ascontiguousarray(v.const), region, r.section, r.align, f"%{v.name} {v.type}{qtext}, {fmt_int(v.type.nbytes)} B at {where}", ram=r.kind is MemoryKind.RAM)
        self.arrays.append(arr)
        self._array_of[v] = arr
        return cname

    def table(self, layer: Layer, what: str, data: np.ndarray, note: str | None = None) -> str:
        """A derived table, in the region of the layer's weights (the planner counted it with them) or in flash.

        int32 unless ``data`` is int8 (a lookup table); ``note`` describes it (default: per-channel requantization).
        """
        w = layer.node.opt_input(1)
        wp = self.plan.weights.get(w) if w is not None else None  # type: ignore[attr-defined]
        region = wp.region if wp is not None else self._flash
        dtype = np.int8 if np.asarray(data).dtype == np.int8 else np.int32
        arr = np.ascontiguousarray(np.asarray(data, dtype=dtype).reshape(-1))
        key = (region, arr.tobytes())
        if key in self._tables:  # the same table again (layers with equal scales): share it
            shared = self._tables[key]
            shared.comment += f"; also layer {layer.index}"
            return shared.cname
        cname = self.names.ident((layer.index, what), f"l{layer.index}_{what}", prefix=f"{self.prefix}_")
        r = self.target.region(region)
        note = f"layer {layer.index} ({comment_text(layer.node.name)}): " + (note or f"requantization {what} per output channel")
        self._tables[key] = ConstArray(cname, arr, region, r.section, 4, note, ram=r.kind is MemoryKind.RAM)
        self.arrays.append(self._tables[key])
        return cname

    def scratch(self, node: Node) -> tuple[str, int]:
        if node in self._scratch:
            return self._scratch[node]
        for b in self.plan.buffers:  # type: ignore[attr-defined]
            if b.kind.value == "scratch" and b.node is node:
                place = self.plan.offsets[b.id]  # type: ignore[attr-defined]
                self._scratch[node] = (self._placed(place.region, place.offset), b.size)
                break
        else:
            self._scratch[node] = ("NULL", 0)
        return self._scratch[node]

    def same_place(self, a: Value, b: Value) -> bool:
        if a.is_const or b.is_const:
            return self.weight(a) == self.weight(b) if (a.is_const and b.is_const) else False
        pa, pb = self.plan.placement_of(a), self.plan.placement_of(b)  # type: ignore[attr-defined]
        return pa == pb and self.bands.shift.get(a, 0) == self.bands.shift.get(b, 0)

    def band(self, node: Node) -> Band | None:
        """The node's band layout when the plan runs it in place (its output shares its input's buffer)."""
        band = self.bands.bands.get(node)
        if band is None or not self.plan.same_buffer(node.input(0), node.output):  # type: ignore[attr-defined]
            return None
        return band

    # -- generation ----------------------------------------------------------------------------

    def generate(self) -> Generated:
        order = list(getattr(self.plan, "order", self.graph.nodes))
        inputs = [self._port(i, v) for i, v in enumerate(self.graph.inputs)]
        layers = [lower_node(self, node, i) for i, node in enumerate(order)]
        outputs = [self._port(i, v) for i, v in enumerate(self.graph.outputs)]
        for v in self.graph.inputs:
            self.buf(v)
        for region, rp in self.plan.regions.items():  # type: ignore[attr-defined]
            if rp.arena_bytes:
                self._arena(region)
        helpers = sorted({h for layer in layers for h in layer.helpers})
        gen = Generated(self.prefix, {}, layers, self.arrays, [self.arenas[k] for k in self._region_order(self.arenas)], inputs, outputs, helpers)
        p = self.prefix
        gen.files[f"{p}.h"] = self._header(gen)
        gen.files[f"{p}_data.h"] = self._data_header(gen)
        gen.files[f"{p}.c"] = self._source(gen)
        gen.files[f"{p}_weights.c"] = self._weights(gen)
        return gen

    def _region_order(self, names: object) -> list[str]:
        return [r.name for r in self.target.regions if r.name in names]  # type: ignore[operator]

    def _port(self, index: int, v: Value) -> IOPort:
        t = v.type
        if t.dtype not in IO_DTYPES or t.quant is None or not t.quant.is_per_tensor:
            raise UnsupportedOpError(f"model input/output {v.name!r} is {t}; the cmsis_nn backend takes and returns int8 (or int16, int16x8) per-tensor tensors", hint="quantize the model first")
        return IOPort(index, v, v.name, self.buf(v), t.quant.scale[0], t.quant.zero_point[0])

    def _banner_lines(self, what: str) -> list[str]:
        src = f" from {comment_text(self.source)}" if self.source else ""
        ver = f" {self.version}" if self.version else ""
        cpu = f" ({self.target.cpu})" if self.target.cpu else ""
        return [f"{what}", f"Model {self.prefix}{src}, compiled by tinyc{ver} for target {self.target.name}{cpu}.", "Generated file: do not edit; recompile the model instead."]

    # -- <name>.h ---------------------------------------------------------------------------------

    def _header(self, gen: Generated) -> str:
        p, P = self.prefix, self.PREFIX
        e = Emitter()
        e.comment(
            "\n".join(
                self._banner_lines(f"{p}.h: the C API of the {p} model ({gen.scheme}, CMSIS-NN kernels).")
                + [
                    "",
                    "Usage:",
                    f"    if ({p}_init() != {P}_OK) {{ ... }}        once, before the first inference",
                    f"    {p}_run(in, out);                           {gen.io_ctype if gen.io_ctype != 'void' else 'integer'} in and out (one pointer per input/output)",
                    f"    {p}_run_float(x, y);                        float in/out: quantizes and dequantizes for you",
                    f"    memcpy({p}_input(0), in, {P}_IN0_BYTES); {p}_invoke();  zero-copy alternative",
                    "",
                    "Reentrancy: there is one instance of the model. Activations and scratch live in",
                    f"static arenas ({p}_weights.c), so these functions are not reentrant: do not run",
                    "two inferences at once (threads, or an interrupt preempting an inference).",
                    "No malloc, no stdio; all memory is planned at compile time (see report.md).",
                ]
            )
        )
        guard = f"{P}_H"
        e.line(f"#ifndef {guard}").line(f"#define {guard}").blank()
        e.line("#include <stdint.h>").blank()
        e.line("#ifdef __cplusplus").line('extern "C" {').line("#endif")
        e.banner("Status codes")
        e.line(f"typedef int32_t {p}_status;")
        e.line(f"#define {P}_OK 0")
        e.line(f"#define {P}_ERR_ARG (-1)              /* a NULL pointer or a bad index */")
        e.line(f"#define {P}_ERR_SCRATCH (-2)          /* the linked CMSIS-NN needs more scratch than tinyc planned */")
        e.line(f"#define {P}_ERR_KERNEL_BASE (-100)    /* a kernel failed: {P}_ERR_KERNEL_BASE - layer index */")
        e.line(f"#define {P}_FAILED_LAYER(status) ((int32_t)({P}_ERR_KERNEL_BASE - (status)))")
        e.banner(f"Inputs and outputs ({'int16' if gen.io_ctype == 'int16_t' else 'int8' if gen.io_ctype == 'int8_t' else 'int8 / int16'}, per-tensor affine: real = scale * (q - zero_point))")
        e.line(f"#define {P}_NUM_INPUTS {len(gen.inputs)}")
        e.line(f"#define {P}_NUM_OUTPUTS {len(gen.outputs)}")
        for kind, ports in (("IN", gen.inputs), ("OUT", gen.outputs)):
            for port in ports:
                t = port.value.type
                m = f"{P}_{kind}{port.index}"
                e.blank()
                e.line(f"/* {'input' if kind == 'IN' else 'output'} {port.index}: {comment_text(port.name)} {t} */")
                e.line(f'#define {m}_NAME "{_c_string(port.name)}"')
                e.line(f"#define {m}_RANK {t.rank}")
                e.line(f"#define {m}_SHAPE {{{', '.join(str(d) for d in t.shape)}}}")
                e.line(f"#define {m}_SIZE {port.size}")
                e.line(f"#define {m}_TYPE {port.ctype}")
                e.line(f"#define {m}_BYTES {port.size * port.value.type.dtype.itemsize}")
                e.line(f"#define {m}_SCALE {c_float(port.scale)}")
                e.line(f"#define {m}_ZERO_POINT ({port.zero_point})")
        e.banner("Model figures")
        arena = sum(a.size for a in gen.arenas)
        e.line(f"#define {P}_NUM_LAYERS {len(gen.layers)}")
        e.line(f"#define {P}_ARENA_BYTES {arena}            /* all arenas: activations and scratch */")
        e.line(f"#define {P}_CONST_BYTES {sum(a.nbytes for a in gen.arrays)}            /* weights, biases, requantization tables */")
        e.line(f"#define {P}_MACS {sum(layer.macs for layer in gen.layers)}")
        e.banner("API")
        e.line(f"/* Check the linked kernels against the plan and copy RAM-resident weights. {P}_OK or {P}_ERR_SCRATCH. */")
        e.line(f"{p}_status {p}_init(void);")
        e.blank()
        args = ", ".join([f"const {i.ctype} *in{i.index}" for i in gen.inputs] + [f"{o.ctype} *out{o.index}" for o in gen.outputs])
        e.line(f"/* One inference on integer tensors ({P}_INn_TYPE / {P}_OUTn_TYPE, {P}_INn_SIZE / {P}_OUTn_SIZE values each). */")
        e.line(f"{p}_status {p}_run({args});")
        e.blank()
        fargs = ", ".join([f"const float *in{i.index}" for i in gen.inputs] + [f"float *out{o.index}" for o in gen.outputs])
        e.line("/* One inference on float tensors: quantizes the inputs, runs, dequantizes the outputs. */")
        e.line(f"{p}_status {p}_run_float({fargs});")
        e.blank()
        e.line("/* Zero-copy use: write the integer inputs in place, invoke, read the outputs in place. */")
        e.line(f"{gen.io_ctype} *{p}_input(int32_t index);")
        e.line(f"const {gen.io_ctype} *{p}_output(int32_t index);")
        e.line(f"{p}_status {p}_invoke(void);")
        e.blank()
        e.line("/* real -> int8 as ONNX QuantizeLinear (round half to even, saturate); int8 -> real. */")
        e.line(f"void {p}_quantize(const float *x, int8_t *q, int32_t n, float scale, int32_t zero_point);")
        e.line(f"void {p}_dequantize(const int8_t *q, float *x, int32_t n, float scale, int32_t zero_point);")
        if gen.has_s16_io:
            e.line(f"void {p}_quantize_s16(const float *x, int16_t *q, int32_t n, float scale, int32_t zero_point);")
            e.line(f"void {p}_dequantize_s16(const int16_t *q, float *x, int32_t n, float scale, int32_t zero_point);")
        e.blank()
        e.line("#ifdef __cplusplus").line("}").line("#endif").blank()
        e.line(f"#endif /* {guard} */")
        return str(e)

    # -- <name>_data.h ------------------------------------------------------------------------------

    def _data_header(self, gen: Generated) -> str:
        p, P = self.prefix, self.PREFIX
        e = Emitter()
        e.comment("\n".join(self._banner_lines(f"{p}_data.h: the arrays {p}_weights.c defines and {p}.c uses (private).")))
        guard = f"{P}_DATA_H"
        e.line(f"#ifndef {guard}").line(f"#define {guard}").blank()
        e.line("#include <stdint.h>")
        e.blank()
        e.comment("Placement attributes. Define TINYC_NO_SECTIONS to let the linker place everything by default.")
        e.line("#if defined(__GNUC__) && !defined(TINYC_NO_SECTIONS) && !defined(__APPLE__)")
        e.line("#define TINYC_SECTION(name) __attribute__((section(name)))")
        e.line("#else")
        e.line("#define TINYC_SECTION(name)")
        e.line("#endif")
        e.line("#if defined(__GNUC__)")
        e.line("#define TINYC_ALIGNED(n) __attribute__((aligned(n)))")
        e.line("#else")
        e.line("#define TINYC_ALIGNED(n)")
        e.line("#endif")
        e.banner("Constants")
        for a in gen.arrays:
            if a.ram:
                e.line(f"extern const {a.ctype} {a.cname}_init[{a.data.size}];")
                e.line(f"extern {a.ctype} {a.cname}[{a.data.size}];")
            else:
                e.line(f"extern const {a.ctype} {a.cname}[{a.data.size}];")
        e.banner("Arenas (activations and kernel scratch)")
        for ar in gen.arenas:
            e.line(f"extern int8_t {ar.cname}[{ar.size}];")
        e.blank()
        e.line(f"#endif /* {guard} */")
        return str(e)

    # -- <name>_weights.c -----------------------------------------------------------------------------

    def _weights(self, gen: Generated) -> str:
        p = self.prefix
        e = Emitter()
        e.comment(
            "\n".join(
                self._banner_lines(f"{p}_weights.c: constant data and arenas of the {p} model.")
                + ["", "Each array sits in the linker section of the memory region the planner chose", f"(see {p}_sections.ld and report.md)."]
            )
        )
        e.line(f'#include "{p}_data.h"')
        by_region: dict[str, list[ConstArray]] = {}
        for a in gen.arrays:
            by_region.setdefault(a.region, []).append(a)
        for region in self._region_order(by_region):
            arrs = by_region[region]
            r = self.target.region(region)
            total = sum(a.nbytes for a in arrs)
            e.banner(f"{region} ({r.kind.value}, section {r.section}): {fmt_int(total)} B of constants")
            for a in arrs:
                e.blank()
                e.comment(a.comment)
                if a.ram:
                    e.line(f"const {a.ctype} {a.cname}_init[{a.data.size}] TINYC_ALIGNED({a.align}) = {{")
                    e.lines(c_array_body(a.data, per_line=16 if a.data.itemsize == 1 else 8))
                    e.line("};")
                    e.line(f"{a.ctype} {a.cname}[{a.data.size}] TINYC_ALIGNED({a.align}) TINYC_SECTION(\"{a.section}\"); /* filled by {p}_init() */")
                else:
                    e.line(f"const {a.ctype} {a.cname}[{a.data.size}] TINYC_ALIGNED({a.align}) TINYC_SECTION(\"{a.section}\") = {{")
                    e.lines(c_array_body(a.data, per_line=16 if a.data.itemsize == 1 else 8))
                    e.line("};")
        for ar in gen.arenas:
            e.banner(f"{ar.region} (section {ar.section}): arena of {fmt_int(ar.size)} B")
            e.comment("Activations and kernel scratch at planned offsets; not zeroed at boot: every byte is written before it is read.")
            e.line(f"int8_t {ar.cname}[{ar.size}] TINYC_ALIGNED({ar.align}) TINYC_SECTION(\"{ar.section}\");")
        return str(e)

    # -- <name>.c ------------------------------------------------------------------------------------

    def _source(self, gen: Generated) -> str:
        p, P = self.prefix, self.PREFIX
        e = Emitter()
        e.comment(
            "\n".join(
                self._banner_lines(f"{p}.c: the {p} model as a straight sequence of CMSIS-NN calls.")
                + ["", "Every call has constant parameters; buffers are fixed offsets into the arenas."]
            )
        )
        e.line(f'#include "{p}.h"').line(f'#include "{p}_data.h"').blank()
        e.line("#include <stddef.h>").line("#include <string.h>").blank()
        e.line('#include "arm_nnfunctions.h"')
        if any(h.startswith("requantize") for h in gen.helpers):
            e.line('#include "arm_nnsupportfunctions.h"')
        if "nn_extra" in gen.helpers:  # kernels CMSIS-NN lacks (layers_extra)
            e.line('#include "tinyc_nn_extra.h"')
        e.blank()
        e.comment(
            "Per-layer hooks: build with -DTINYC_PROFILE and define tinyc_profile_begin/end(layer)\n"
            "to time each call (tinyc validate --on qemu does this to count instructions per layer)."
        )
        e.line("#if defined(TINYC_PROFILE)")
        e.line("void tinyc_profile_begin(int32_t layer);")
        e.line("void tinyc_profile_end(int32_t layer);")
        e.line("#define TINYC_LAYER_BEGIN(i) tinyc_profile_begin(i)")
        e.line("#define TINYC_LAYER_END(i) tinyc_profile_end(i)")
        e.line("#else")
        e.line("#define TINYC_LAYER_BEGIN(i) ((void)0)")
        e.line("#define TINYC_LAYER_END(i) ((void)0)")
        e.line("#endif")
        e.banner("Buffers: planned offsets in the arenas")
        width = max((len(m) for m, _, _ in self._buf_lines), default=0)
        for macro, expr, text in self._buf_lines:
            e.line(f"#define {macro.ljust(width)} {expr} /* {comment_text(text)} */")
        scratch = [(layer, self._scratch.get(layer.node)) for layer in gen.layers]
        for layer, s in scratch:
            if s is not None and s[1]:
                e.line(f"/* layer {layer.index} scratch: {fmt_int(s[1])} B at {s[0]} */")
        e.banner("Layer parameters (constant, in flash)")
        for layer in gen.layers:
            if layer.decls:
                e.blank()
                e.line(f"/* [{layer.index}] {layer.node.op.name} {comment_text(layer.node.name)} */")
                e.lines(layer.decls)
        for h in gen.helpers:
            e.blank()
            e.lines(HELPERS[h])
        self._api(e, gen)
        e.banner("The graph")
        with e.block(f"{p}_status {p}_invoke(void)"):
            if any("status =" in s for layer in gen.layers for s in layer.body):
                e.line("arm_cmsis_nn_status status = ARM_CMSIS_NN_SUCCESS;")
            for layer in gen.layers:
                e.blank()
                e.comment("\n".join(describe(layer, self.source)))
                if not layer.kernel:
                    e.lines(layer.body)
                    continue
                e.line(f"TINYC_LAYER_BEGIN({layer.index});")
                if len(layer.body) == 1:
                    e.line(layer.body[0])
                else:
                    with e.block(""):
                        e.lines(layer.body)
                e.line(f"TINYC_LAYER_END({layer.index});")
                if any(s.startswith("status =") for s in layer.body):
                    e.line(f"if (status != ARM_CMSIS_NN_SUCCESS) return {P}_ERR_KERNEL_BASE - {layer.index};")
            e.blank()
            e.line(f"return {P}_OK;")
        return str(e)

    def _api(self, e: Emitter, gen: Generated) -> None:
        p, P = self.prefix, self.PREFIX
        e.banner("API (see " + p + ".h)")
        with e.block(f"{p}_status {p}_init(void)"):
            ram = [a for a in gen.arrays if a.ram]
            for a in ram:
                e.line(f"memcpy({a.cname}, {a.cname}_init, sizeof({a.cname}));")
            checks = [(layer, c) for layer in gen.layers for c in layer.checks]
            for layer, c in checks:
                e.line(f"if ({c}) return {P}_ERR_SCRATCH; /* layer {layer.index} */")
            e.line(f"return {P}_OK;")
        e.blank()
        with e.block(f"{gen.io_ctype} *{p}_input(int32_t index)"):
            with e.block("switch (index)"):
                for port in gen.inputs:
                    e.line(f"case {port.index}: return {self._as(port, gen.io_ctype)};")
                e.line("default: return NULL;")
        e.blank()
        with e.block(f"const {gen.io_ctype} *{p}_output(int32_t index)"):
            with e.block("switch (index)"):
                for port in gen.outputs:
                    e.line(f"case {port.index}: return {self._as(port, gen.io_ctype)};")
                e.line("default: return NULL;")
        e.blank()
        args = ", ".join([f"const {i.ctype} *in{i.index}" for i in gen.inputs] + [f"{o.ctype} *out{o.index}" for o in gen.outputs])
        with e.block(f"{p}_status {p}_run({args})"):
            ptrs = [f"in{i.index} == NULL" for i in gen.inputs] + [f"out{o.index} == NULL" for o in gen.outputs]
            if ptrs:
                e.line(f"if ({' || '.join(ptrs)}) return {P}_ERR_ARG;")
            for port in gen.inputs:
                e.line(f"memcpy({port.buf}, in{port.index}, {P}_IN{port.index}_BYTES);")
            e.line(f"{p}_status status = {p}_invoke();")
            e.line(f"if (status != {P}_OK) return status;")
            for port in gen.outputs:
                e.line(f"memcpy(out{port.index}, {port.buf}, {P}_OUT{port.index}_BYTES);")
            e.line(f"return {P}_OK;")
        e.blank()
        fargs = ", ".join([f"const float *in{i.index}" for i in gen.inputs] + [f"float *out{o.index}" for o in gen.outputs])
        with e.block(f"{p}_status {p}_run_float({fargs})"):
            ptrs = [f"in{i.index} == NULL" for i in gen.inputs] + [f"out{o.index} == NULL" for o in gen.outputs]
            if ptrs:
                e.line(f"if ({' || '.join(ptrs)}) return {P}_ERR_ARG;")
            for port in gen.inputs:
                m = f"{P}_IN{port.index}"
                e.line(f"{p}_quantize{self._sfx(port)}(in{port.index}, {self._as(port, port.ctype)}, {m}_SIZE, {m}_SCALE, {m}_ZERO_POINT);")
            e.line(f"{p}_status status = {p}_invoke();")
            e.line(f"if (status != {P}_OK) return status;")
            for port in gen.outputs:
                m = f"{P}_OUT{port.index}"
                e.line(f"{p}_dequantize{self._sfx(port)}({self._as(port, port.ctype)}, out{port.index}, {m}_SIZE, {m}_SCALE, {m}_ZERO_POINT);")
            e.line(f"return {P}_OK;")
        e.blank()
        with e.block(f"void {p}_quantize(const float *x, int8_t *q, int32_t n, float scale, int32_t zero_point)"):
            with e.block("for (int32_t i = 0; i < n; ++i)"):
                e.line("float v = x[i] / scale;")
                e.line("if (!(v >= -512.0f)) v = -512.0f; /* also NaN */")
                e.line("if (v > 512.0f) v = 512.0f;")
                e.line("v = (v + 12582912.0f) - 12582912.0f; /* round half to even without libm (exact below 2^22) */")
                e.line("const int32_t r = (int32_t)v + zero_point;")
                e.line("q[i] = (int8_t)(r < -128 ? -128 : r > 127 ? 127 : r);")
        e.blank()
        with e.block(f"void {p}_dequantize(const int8_t *q, float *x, int32_t n, float scale, int32_t zero_point)"):
            with e.block("for (int32_t i = 0; i < n; ++i)"):
                e.line("x[i] = (float)((int32_t)q[i] - zero_point) * scale;")
        if gen.has_s16_io:
            e.blank()
            with e.block(f"void {p}_quantize_s16(const float *x, int16_t *q, int32_t n, float scale, int32_t zero_point)"):
                with e.block("for (int32_t i = 0; i < n; ++i)"):
                    e.line("float v = x[i] / scale;")
                    e.line("if (!(v >= -65536.0f)) v = -65536.0f; /* also NaN */")
                    e.line("if (v > 65536.0f) v = 65536.0f;")
                    e.line("v = (v + 12582912.0f) - 12582912.0f; /* round half to even without libm (exact below 2^22) */")
                    e.line("const int32_t r = (int32_t)v + zero_point;")
                    e.line("q[i] = (int16_t)(r < -32768 ? -32768 : r > 32767 ? 32767 : r);")
            e.blank()
            with e.block(f"void {p}_dequantize_s16(const int16_t *q, float *x, int32_t n, float scale, int32_t zero_point)"):
                with e.block("for (int32_t i = 0; i < n; ++i)"):
                    e.line("x[i] = (float)((int32_t)q[i] - zero_point) * scale;")

    @staticmethod
    def _sfx(port: IOPort) -> str:
        return "_s16" if port.ctype == "int16_t" else ""

    @staticmethod
    def _as(port: IOPort, ctype: str) -> str:
        """The port's arena bytes (``int8_t``) as a ``ctype`` pointer."""
        return port.buf if ctype == "int8_t" else f"({ctype} *){port.buf}"


def _c_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= ord(ch) < 127 and ch != "?":
            out.append(ch)
        else:
            out.extend(f"\\{b:03o}" for b in ch.encode("utf-8"))
    return "".join(out)
