"""Text for people: one target in detail (``tinyc targets NAME``) or all of them in a table."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinyc.targets import Target


def _table(rows: list[list[str]], header: list[str], align: str) -> str:
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(cells, widths, align)).rstrip()

    return "\n".join([fmt(header), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)])


def describe_target(t: Target) -> str:
    from tinyc.targets import format_size

    lines = [f"{t.name}: {t.description}" if t.description else t.name]
    if t.cpu is not None:
        lines.append(f"  cpu      {t.cpu}")
    opts = ", ".join(f"{k}={v}" for k, v in t.backend_options.items())
    lines.append(f"  backend  {t.backend}" + (f" ({opts})" if opts else ""))
    lines.append(f"  weights      -> {' then '.join(t.weights) or '-'}")
    lines.append(f"  activations  -> {' then '.join(t.activations) or '-'}")
    if t.source:
        lines.append(f"  source   {t.source}")
    if t.path is not None:
        lines.append(f"  file     {t.path}")
    rows = []
    for r in t.regions:
        rows.append(
            [
                r.name,
                r.kind.value,
                "rw" if r.writable else "ro",
                "-" if r.base is None else f"0x{r.base:08X}",
                format_size(r.size),
                format_size(r.reserved) if r.reserved else "-",
                str(r.speed),
                r.section or "-",
                ",".join(sorted(c.value for c in r.holds)) or "-",
                r.notes,
            ]
        )
    if rows:
        lines.append("")
        lines.append(_table(rows, ["memory", "kind", "access", "base", "size", "reserved", "speed", "section", "holds", "notes"], "lllrrrrlll"))
    return "\n".join(lines)


def targets_table(targets: list[Target]) -> str:
    """One line per target: name, backend, CPU, memories."""
    from tinyc.targets import format_size

    rows = []
    for t in targets:
        mems = ", ".join(f"{r.name} {format_size(r.size)}" for r in t.regions)
        rows.append([t.name, t.backend, str(t.cpu) if t.cpu else "-", mems])
    return _table(rows, ["target", "backend", "cpu", "memories"], "llll")
