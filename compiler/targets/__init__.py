"""Targets as data: one TOML file per board describes its CPU, memories and backend.

``load_target("stm32h7")`` reads a file shipped in this package;
``load_target(Path("my_board.toml"))`` (or any name ending in ``.toml``) reads
a user's file. The schema is documented in docs/targets.md; every mistake in a
file is a ``TargetError`` naming the file, the key and what is allowed.
"""

from __future__ import annotations

import enum
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tinyc.errors import TargetError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "Content",
    "Cpu",
    "MemoryKind",
    "MemoryRegion",
    "Target",
    "format_size",
    "list_targets",
    "load_target",
    "parse_size",
    "target_from_dict",
    "targets_dir",
]

_DIR = Path(__file__).resolve().parent
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TARGET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class MemoryKind(enum.Enum):
    """What a memory is made of: non-volatile (flash, ROM) or RAM."""

    FLASH = "flash"
    RAM = "ram"


class Content(enum.Enum):
    """What the planner may put in a region."""

    WEIGHTS = "weights"
    ACTIVATIONS = "activations"
    SCRATCH = "scratch"


@dataclass(frozen=True)
class MemoryRegion:
    """One memory of a board: where it is, how big, how fast, what it may hold.

    ``speed`` is a rank, 0 the fastest. ``reserved`` bytes are left to the
    application (stack, code, its own buffers); the planner uses ``capacity``.
    ``section`` is the linker section the generated C puts this region's
    arrays in. ``base`` is None for memories without a CPU address (an
    accelerator's on-chip cache).
    """

    name: str
    size: int
    kind: MemoryKind
    writable: bool
    speed: int
    section: str
    base: int | None = None
    align: int = 16
    reserved: int = 0
    holds: frozenset[Content] = frozenset()
    needs_init: bool = False
    notes: str = ""

    @property
    def capacity(self) -> int:
        """Bytes the planner may use."""
        return self.size - self.reserved

    @property
    def end(self) -> int | None:
        return None if self.base is None else self.base + self.size

    def can_hold(self, content: Content) -> bool:
        return content in self.holds

    def __str__(self) -> str:
        at = "" if self.base is None else f" at 0x{self.base:08X}"
        return f"{self.name} ({format_size(self.size)} {self.kind.value}{at})"


@dataclass(frozen=True)
class Cpu:
    """The processor: core name, floating point and SIMD extensions, clock."""

    core: str
    clock_mhz: float = 0.0
    fpu: str = "none"
    dsp: bool = False
    mve: bool = False
    cores: int = 1
    arch: str = ""

    def __str__(self) -> str:
        parts = [f"{self.cores}x {self.core}" if self.cores > 1 else self.core]
        if self.clock_mhz:
            parts.append(f"{self.clock_mhz:g} MHz")
        if self.fpu != "none":
            parts.append(f"FPU {self.fpu}")
        if self.dsp:
            parts.append("DSP")
        if self.mve:
            parts.append("MVE")
        return ", ".join(parts)


@dataclass(frozen=True)
class Target:
    """A board: CPU, memory regions, where weights and activations go, which backend."""

    name: str
    backend: str
    regions: tuple[MemoryRegion, ...]
    weights: tuple[str, ...]
    activations: tuple[str, ...]
    description: str = ""
    cpu: Cpu | None = None
    backend_options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    emulation: Mapping[str, Any] = field(default_factory=dict, hash=False)
    source: str = ""
    path: Path | None = None

    def region(self, name: str) -> MemoryRegion:
        for r in self.regions:
            if r.name == name:
                return r
        raise TargetError(
            f"target {self.name!r} has no memory region {name!r}",
            hint=f"its regions: {', '.join(r.name for r in self.regions) or 'none'}",
        )

    def has_region(self, name: str) -> bool:
        return any(r.name == name for r in self.regions)

    def weight_regions(self) -> list[MemoryRegion]:
        """Regions for weights, in the order the planner fills them."""
        return [self.region(n) for n in self.weights]

    def activation_regions(self) -> list[MemoryRegion]:
        """Regions for activations and scratch, fastest (preferred) first."""
        return [self.region(n) for n in self.activations]

    def with_region_sizes(self, sizes: Mapping[str, int | str]) -> Target:
        """A copy with some regions resized (the generic board is sized this way)."""
        regions = list(self.regions)
        for name, size in sizes.items():
            idx = next((i for i, r in enumerate(regions) if r.name == name), None)
            if idx is None:
                raise TargetError(
                    f"cannot resize region {name!r}: target {self.name!r} has no such region",
                    hint=f"its regions: {', '.join(r.name for r in regions)}",
                )
            nbytes = parse_size(size, f"size of region {name}")
            if nbytes <= regions[idx].reserved:
                raise TargetError(f"region {name} of {format_size(nbytes)} is not larger than its reserved {format_size(regions[idx].reserved)}")
            regions[idx] = replace(regions[idx], size=nbytes)
        _check_overlaps(regions, self.name)
        return replace(self, regions=tuple(regions))

    def describe(self) -> str:
        """A text description for ``tinyc targets NAME``."""
        from tinyc.targets.describe import describe_target

        return describe_target(self)


# -- sizes --------------------------------------------------------------------

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2, "g": 1024**3, "gb": 1024**3, "gib": 1024**3}


def parse_size(value: Any, what: str = "size") -> int:
    """An int, or a string like ``"512K"``, ``"32 MiB"``, ``"0x80000"`` (K = 1024)."""
    if isinstance(value, bool):
        raise TargetError(f"{what}: expected a byte count, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
            return int(text, 16)
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)", text)
        if m and m.group(2).lower() in _UNITS:
            n = float(m.group(1)) * _UNITS[m.group(2).lower()]
            if n.is_integer():
                return int(n)
    raise TargetError(f"{what}: cannot read {value!r} as a byte count", hint='write an integer (524288, 0x80000) or a string like "512K", "32 MiB"')


def format_size(n: int) -> str:
    """512 KiB, 32 MiB, 1,000 B: exact binary units when they divide, bytes otherwise."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n:,} B"


# -- loading ------------------------------------------------------------------


def targets_dir() -> Path:
    """The folder of the shipped target files."""
    return _DIR


def list_targets() -> list[str]:
    """Names of the shipped targets, sorted."""
    return sorted(p.stem for p in _DIR.glob("*.toml"))


def load_target(name_or_path: str | Path, *, region_sizes: Mapping[str, int | str] | None = None) -> Target:
    """A shipped target by name, or a TOML file by path; optionally resize regions."""
    if isinstance(name_or_path, Path) or str(name_or_path).endswith(".toml") or "/" in str(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise TargetError(f"target file {path} not found", hint="check the path given to --target-file")
        target = _load_file(path)
    else:
        name = str(name_or_path)
        path = _DIR / f"{name}.toml"
        if not path.is_file():
            import difflib

            known = list_targets()
            close = difflib.get_close_matches(name, known, n=1)
            hint = (f"did you mean {close[0]!r}? " if close else "") + f"known targets: {', '.join(known)}; or give --target-file my_board.toml"
            raise TargetError(f"unknown target {name!r}", hint=hint)
        target = _load_file(path)
    if region_sizes:
        target = target.with_region_sizes(region_sizes)
    return target


def _load_file(path: Path) -> Target:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"not a valid TOML file: {exc}", where=str(path), hint="see docs/targets.md for the format") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetError(f"cannot read the target file: {exc}", where=str(path)) from None
    return target_from_dict(data, where=str(path), path=path)


_TOP_KEYS = {"name", "description", "source", "cpu", "backend", "memory", "defaults", "emulation"}
_CPU_KEYS = {"core", "clock_mhz", "fpu", "dsp", "mve", "cores", "arch"}
_REGION_KEYS = {"name", "base", "size", "kind", "access", "speed", "section", "align", "reserved", "holds", "needs_init", "notes"}
_BACKEND_KEYS = {"name", "options"}
_DEFAULT_KEYS = {"weights", "activations"}


def target_from_dict(data: Mapping[str, Any], *, where: str = "<dict>", path: Path | None = None) -> Target:
    """Build and validate a Target from parsed TOML."""

    def fail(msg: str, hint: str | None = None) -> TargetError:
        return TargetError(msg, where=where, hint=hint or "see docs/targets.md for the format")

    _check_keys(data, _TOP_KEYS, "top level", fail)
    name = _get(data, "name", str, fail, "top level")
    if not _TARGET_NAME_RE.match(name):
        raise fail(f"target name {name!r} must be lower case letters, digits, '-', '_' or '.'")

    backend_tbl = data.get("backend")
    if isinstance(backend_tbl, str):
        backend, options = backend_tbl, {}
    elif isinstance(backend_tbl, Mapping):
        _check_keys(backend_tbl, _BACKEND_KEYS, "[backend]", fail)
        backend = _get(backend_tbl, "name", str, fail, "[backend]")
        options = dict(backend_tbl.get("options", {}))
    else:
        raise fail("missing [backend] table with a name", hint='add\n[backend]\nname = "cmsis_nn"')
    if not backend:
        raise fail("the backend name is empty")

    cpu = None
    if "cpu" in data:
        c = data["cpu"]
        if not isinstance(c, Mapping):
            raise fail("[cpu] must be a table")
        _check_keys(c, _CPU_KEYS, "[cpu]", fail)
        cpu = Cpu(
            core=_get(c, "core", str, fail, "[cpu]"),
            clock_mhz=float(_get(c, "clock_mhz", (int, float), fail, "[cpu]", 0.0)),
            fpu=_get(c, "fpu", str, fail, "[cpu]", "none"),
            dsp=_get(c, "dsp", bool, fail, "[cpu]", False),
            mve=_get(c, "mve", bool, fail, "[cpu]", False),
            cores=_get(c, "cores", int, fail, "[cpu]", 1),
            arch=_get(c, "arch", str, fail, "[cpu]", ""),
        )

    raw_regions = data.get("memory", [])
    if not isinstance(raw_regions, list):
        raise fail("memory regions are an array of tables: [[memory]]")
    regions = [_region_from_dict(r, i, fail) for i, r in enumerate(raw_regions)]
    names = [r.name for r in regions]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise fail(f"memory region names must be unique; repeated: {', '.join(dups)}")
    _check_overlaps(regions, name, where)

    defaults = data.get("defaults", {})
    if not isinstance(defaults, Mapping):
        raise fail("[defaults] must be a table")
    _check_keys(defaults, _DEFAULT_KEYS, "[defaults]", fail)
    by_name = {r.name: r for r in regions}
    weights = _region_list(defaults, "weights", by_name, Content.WEIGHTS, fail)
    if weights is None:
        weights = _default_weight_regions(regions)
    activations = _region_list(defaults, "activations", by_name, Content.ACTIVATIONS, fail)
    if activations is None:
        activations = _default_activation_regions(regions)
    for n in activations:
        if not by_name[n].writable:
            raise fail(f"activations cannot go to read-only region {n}")

    emulation = data.get("emulation", {})
    if not isinstance(emulation, Mapping):
        raise fail("[emulation] must be a table")
    for rname, spec in dict(emulation.get("regions", {})).items():
        if rname not in by_name:
            raise fail(f"[emulation.regions] names unknown region {rname!r}")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("address"), int):
            raise fail(f"[emulation.regions] {rname} must be a table with an integer address, e.g. {{ address = 0x20000000 }}")

    return Target(
        name=name,
        backend=backend,
        regions=tuple(regions),
        weights=tuple(weights),
        activations=tuple(activations),
        description=_get(data, "description", str, fail, "top level", ""),
        cpu=cpu,
        backend_options=options,
        emulation=dict(emulation),
        source=_get(data, "source", str, fail, "top level", ""),
        path=path,
    )


def _region_from_dict(r: Any, i: int, fail: Any) -> MemoryRegion:
    ctx = f"[[memory]] #{i + 1}"
    if not isinstance(r, Mapping):
        raise fail(f"{ctx} must be a table")
    _check_keys(r, _REGION_KEYS, ctx, fail)
    name = _get(r, "name", str, fail, ctx)
    ctx = f"memory region {name!r}"
    if not _NAME_RE.match(name):
        raise fail(f"{ctx}: names are C identifiers (letters, digits, '_'), they name arrays in the generated C")
    try:
        kind = MemoryKind(_get(r, "kind", str, fail, ctx))
    except ValueError:
        raise fail(f"{ctx}: kind must be 'flash' or 'ram', not {r['kind']!r}") from None
    access = _get(r, "access", str, fail, ctx, "ro" if kind is MemoryKind.FLASH else "rw")
    if access not in ("ro", "rw"):
        raise fail(f"{ctx}: access must be 'ro' (read-only) or 'rw' (read-write), not {access!r}")
    writable = access == "rw"
    size = parse_size(r.get("size"), f"{ctx} size") if "size" in r else None
    if size is None or size <= 0:
        raise fail(f"{ctx}: needs a positive size")
    base = r.get("base")
    if base is not None and (not isinstance(base, int) or isinstance(base, bool) or base < 0):
        raise fail(f"{ctx}: base must be a non-negative integer address (e.g. 0x20000000)")
    align = _get(r, "align", int, fail, ctx, 16)
    if align <= 0 or align & (align - 1):
        raise fail(f"{ctx}: align must be a power of two, not {align}")
    reserved = parse_size(r.get("reserved", 0), f"{ctx} reserved")
    if not 0 <= reserved < size:
        raise fail(f"{ctx}: reserved ({reserved:,} B) must be at least 0 and less than the size ({size:,} B)")
    if "holds" in r:
        raw = r["holds"]
        if not isinstance(raw, list):
            raise fail(f"{ctx}: holds is a list, e.g. holds = [\"activations\", \"scratch\"]")
        try:
            holds = frozenset(Content(h) for h in raw)
        except ValueError:
            raise fail(f"{ctx}: holds takes {', '.join(c.value for c in Content)}; got {raw}") from None
    else:
        holds = frozenset(Content) if writable else frozenset({Content.WEIGHTS})
    if not writable and holds - {Content.WEIGHTS}:
        raise fail(f"{ctx}: a read-only region can only hold weights")
    section = _get(r, "section", str, fail, ctx, "")
    if not section and holds:
        raise fail(f"{ctx}: needs the linker section its arrays go to (section = \".{name.lower()}\")")
    return MemoryRegion(
        name=name,
        size=size,
        kind=kind,
        writable=writable,
        speed=_get(r, "speed", int, fail, ctx, 0),
        section=section,
        base=base,
        align=align,
        reserved=reserved,
        holds=holds,
        needs_init=_get(r, "needs_init", bool, fail, ctx, False),
        notes=_get(r, "notes", str, fail, ctx, ""),
    )


def _check_keys(tbl: Mapping[str, Any], allowed: set[str], ctx: str, fail: Any) -> None:
    unknown = sorted(set(tbl) - allowed)
    if unknown:
        import difflib

        guesses = [g for u in unknown for g in difflib.get_close_matches(u, allowed, n=1)]
        hint = (f"did you mean {', '.join(guesses)}? " if guesses else "") + f"{ctx} takes: {', '.join(sorted(allowed))}"
        raise fail(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} in {ctx}", hint)


_MISSING = object()


def _get(tbl: Mapping[str, Any], key: str, tp: Any, fail: Any, ctx: str, default: Any = _MISSING) -> Any:
    if key not in tbl:
        if default is _MISSING:
            raise fail(f"{ctx}: missing {key!r}")
        return default
    val = tbl[key]
    types = tp if isinstance(tp, tuple) else (tp,)
    if (bool not in types and isinstance(val, bool)) or not isinstance(val, types):
        names = " or ".join(t.__name__ for t in types)
        raise fail(f"{ctx}: {key!r} must be {names}, not {val!r}")
    return val


def _region_list(tbl: Mapping[str, Any], key: str, by_name: Mapping[str, MemoryRegion], content: Content, fail: Any) -> list[str] | None:
    raw = tbl.get(key)
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise fail(f"[defaults] {key} is a list of region names, e.g. {key} = [\"FLASH\"]")
    for n in raw:
        if n not in by_name:
            raise fail(f"[defaults] {key} names unknown region {n!r}", hint=f"regions: {', '.join(by_name)}")
        if not by_name[n].can_hold(content):
            raise fail(f"[defaults] {key} lists region {n}, whose holds does not include {content.value!r}")
    if len(set(raw)) != len(raw):
        raise fail(f"[defaults] {key} lists a region twice")
    return list(raw)


def _default_weight_regions(regions: Iterable[MemoryRegion]) -> list[str]:
    rs = [r for r in regions if r.can_hold(Content.WEIGHTS)]
    ro = sorted((r for r in rs if not r.writable), key=lambda r: r.speed)
    rw = sorted((r for r in rs if r.writable), key=lambda r: -r.size)
    return [r.name for r in ro] + [r.name for r in rw[:1]]


def _default_activation_regions(regions: Iterable[MemoryRegion]) -> list[str]:
    rs = [r for r in regions if r.writable and r.can_hold(Content.ACTIVATIONS)]
    return [r.name for r in sorted(rs, key=lambda r: (r.speed, -r.size))]


def _check_overlaps(regions: Iterable[MemoryRegion], name: str, where: str | None = None) -> None:
    placed = sorted((r for r in regions if r.base is not None), key=lambda r: r.base or 0)
    for a, b in zip(placed, placed[1:]):
        assert a.end is not None and b.base is not None
        if b.base < a.end:
            raise TargetError(
                f"memory regions {a.name} (0x{a.base or 0:08X}..0x{a.end:08X}) and {b.name} (from 0x{b.base:08X}) overlap",
                where=where or f"target {name!r}",
                hint="fix the base addresses or sizes",
            )
