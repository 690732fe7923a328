"""A tiny C emitter: lines with indentation, C identifiers from model names, C literals.

Every name that comes from a model (values, nodes, inputs) passes through
``Names.ident`` before it reaches the C files, so odd ONNX names
(``StatefulPartitionedCall:0``, ``conv/1``, ``1x``) become valid, unique,
stable identifiers. Comments quote model text through ``comment_text`` so a
``*/`` inside a name cannot end a comment early.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

C_KEYWORDS = frozenset(
    """auto break case char const continue default do double else enum extern float for goto if inline int long
    register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
    _Bool _Complex _Imaginary bool true false NULL main""".split()
)

_IDENT_BAD = re.compile(r"[^0-9A-Za-z_]+")


def c_ident(text: str, fallback: str = "v") -> str:
    """``text`` as a C identifier: runs of other characters become ``_``; never a keyword or leading digit."""
    name = _IDENT_BAD.sub("_", text).strip("_") or fallback
    name = re.sub(r"__+", "_", name)
    if name[0].isdigit():
        name = f"{fallback}_{name}"
    if name in C_KEYWORDS:
        name = f"{name}_"
    return name


def comment_text(text: str) -> str:
    """Model text made safe inside a ``/* */`` comment (and on one line).

    ``??`` is split too: C99 replaces trigraphs (``??/`` is a backslash) before
    comments are recognised, and GCC warns about them with -Wall.
    """
    return _comment_row(" ".join(str(text).split()))


def _comment_row(row: str) -> str:
    row = row.replace("*/", "* /").replace("/*", "/ *")
    while "??" in row:
        row = row.replace("??", "? ?")
    return row


class Names:
    """Unique, stable C identifiers for model objects (the same key always gets the same name)."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self._taken: set[str] = set(reserved)
        self._by_key: dict[object, str] = {}

    def ident(self, key: object, text: str, *, prefix: str = "", fallback: str = "v") -> str:
        """The identifier for ``key``: ``prefix`` + sanitised ``text``, made unique with a numeric suffix."""
        if key in self._by_key:
            return self._by_key[key]
        base = prefix + c_ident(text, fallback)
        name, k = base, 2
        while name in self._taken or name in C_KEYWORDS:
            name, k = f"{base}_{k}", k + 1
        self._taken.add(name)
        self._by_key[key] = name
        return name

    def reserve(self, name: str) -> str:
        if name in self._taken:
            raise ValueError(f"C name {name!r} reserved twice")
        self._taken.add(name)
        return name


class Emitter:
    """Lines of C with indentation; ``str(e)`` is the file text (always ends with one newline)."""

    def __init__(self, indent: str = "    ") -> None:
        self._lines: list[str] = []
        self._level = 0
        self._indent = indent

    def line(self, text: str = "") -> Emitter:
        self._lines.append(f"{self._indent * self._level}{text}" if text else "")
        return self

    def lines(self, texts: Iterable[str]) -> Emitter:
        for t in texts:
            self.line(t)
        return self

    def blank(self) -> Emitter:
        if self._lines and self._lines[-1] != "":
            self._lines.append("")
        return self

    @contextmanager
    def indented(self) -> Iterator[None]:
        self._level += 1
        try:
            yield
        finally:
            self._level -= 1

    @contextmanager
    def block(self, head: str, tail: str = "}") -> Iterator[None]:
        """``head {`` ... ``}`` with the body indented."""
        self.line(f"{head} {{" if head else "{")
        with self.indented():
            yield
        self.line(tail)

    def comment(self, text: str) -> Emitter:
        """A block comment; one line per line of ``text``."""
        rows = [_comment_row(r).rstrip() for r in text.splitlines()] or [""]
        if len(rows) == 1:
            return self.line(f"/* {rows[0]} */")
        self.line(f"/* {rows[0]}")
        for r in rows[1:]:
            self.line(f" * {r}" if r else " *")
        return self.line(" */")

    def banner(self, title: str) -> Emitter:
        """A section banner, llama2.c style."""
        self.blank()
        self.line("/* " + "-" * 72)
        self.line(f" * {comment_text(title)}")
        self.line(" * " + "-" * 72 + " */")
        return self

    def __str__(self) -> str:
        text = "\n".join(self._lines).rstrip("\n")
        return text + "\n"


# -- literals ------------------------------------------------------------------------


def c_float(x: float) -> str:
    """A float32 literal that reads back as exactly the same float32 value."""
    f = np.float32(x)
    if not np.isfinite(f):
        raise ValueError(f"cannot write non-finite float {x!r} as a C literal")
    text = np.format_float_positional(f, unique=True, trim="-") if 1e-4 <= abs(f) < 1e7 or f == 0 else np.format_float_scientific(f, unique=True, trim="-")
    if "." not in text and "e" not in text:
        text += ".0"
    return f"{text}f"


def c_int(v: int, ctype: str = "int32_t") -> str:
    """An integer literal; INT32_MIN is written as an expression (``-2147483648`` is not an int literal)."""
    v = int(v)
    if ctype == "int32_t" and v == -(2**31):
        return "(-2147483647 - 1)"
    if ctype == "int64_t" and v == -(2**63):
        return "(-9223372036854775807LL - 1)"
    return str(v)


def c_array_body(values: np.ndarray, per_line: int = 16, indent: str = "    ") -> list[str]:
    """The lines between the braces of an integer array initialiser, ``per_line`` values each."""
    flat = np.asarray(values).reshape(-1)
    ctype = {4: "int32_t", 8: "int64_t"}.get(flat.dtype.itemsize, "")
    items = [c_int(int(v), ctype) for v in flat.tolist()]
    if not items:
        return [f"{indent}0"]
    width = max(len(s) for s in items)
    out = []
    for i in range(0, len(items), per_line):
        row = items[i : i + per_line]
        out.append(indent + ", ".join(s.rjust(width) for s in row) + ("," if i + per_line < len(items) else ""))
    return out


def c_dims(shape: Sequence[int]) -> str:
    """``{n, h, w, c}`` for a cmsis_nn_dims initialiser."""
    return "{" + ", ".join(str(int(d)) for d in shape) + "}"


def fmt_int(n: int) -> str:
    """1234567 -> ``1,234,567`` for comments and reports."""
    return f"{int(n):,}"
