"""C literals for constant data: exact float literals, byte-string blobs, C identifiers.

Large arrays become string literals inside a union with the element type
(``{ unsigned char bytes[N + 1]; T values[M]; }``): compilers parse string
literals much faster than long initializer lists, and the bytes are exactly
the little-endian image (the generated file refuses big-endian targets).
Everything is deterministic: the same arrays give the same text.
"""

from __future__ import annotations

import re

import numpy as np

C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int long register "
    "restrict return short signed sizeof static struct switch typedef union unsigned void volatile while _Bool _Complex "
    "_Imaginary main".split()
)

BLOB_THRESHOLD = 1024  # arrays with more elements than this are emitted as byte strings
BYTES_PER_LINE = 48


def c_identifier(name: str, fallback: str = "model") -> str:
    """A safe, lower-case C identifier for a user-supplied name."""
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_").lower()
    ident = re.sub(r"_+", "_", ident) or fallback
    if ident[0].isdigit():
        ident = "m_" + ident
    if ident in C_KEYWORDS or ident.startswith("tinyc_"):
        ident = "m_" + ident
    return ident[:48]


def c_string_literal(data: bytes) -> str:
    """One C string literal (no line breaks): printable ASCII kept, the rest as 3-digit octal."""
    return '"' + "".join(_ESCAPE[b] for b in data) + '"'


def _escape_table() -> list[str]:
    table = []
    for b in range(256):
        ch = chr(b)
        if 0x20 <= b <= 0x7E and ch not in '\\"?':  # '?' would risk trigraphs in C99
            table.append(ch)
        else:
            table.append(f"\\{b:03o}")
    return table


_ESCAPE = _escape_table()


def c_string_lines(data: bytes, indent: str = "    ", per_line: int = BYTES_PER_LINE) -> str:
    """The bytes as adjacent string literals, one line per ``per_line`` bytes."""
    if not data:
        return indent + '""'
    lines = []
    for i in range(0, len(data), per_line):
        lines.append(indent + c_string_literal(data[i : i + per_line]))
    return "\n".join(lines)


def c_float(v: float) -> str:
    """An exact float32 literal (hexadecimal), e.g. ``0x1.99999ap-4f``."""
    f = float(np.float32(v))
    if not np.isfinite(f):
        raise ValueError(f"non-finite constant {f}")
    if f == 0.0:
        return "-0.0f" if np.signbit(f) else "0.0f"
    text = f.hex()  # e.g. 0x1.99999a0000000p-4
    mant, exp = text.split("p")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    return f"{mant}p{exp}f"


def c_list(values: np.ndarray, fmt, per_line: int = 8, indent: str = "    ") -> str:  # type: ignore[no-untyped-def]
    items = [fmt(v) for v in np.asarray(values).reshape(-1)]
    lines = [indent + ", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n".join(lines)


C_TYPES = {
    np.dtype(np.float32): "float",
    np.dtype(np.int8): "int8_t",
    np.dtype(np.int32): "int32_t",
    np.dtype(np.uint32): "uint32_t",
}


def _fmt(dtype: np.dtype):  # type: ignore[no-untyped-def]
    if dtype == np.float32:
        return c_float
    if dtype == np.uint32:
        return lambda v: f"{int(v)}u"
    return lambda v: str(int(v))


def const_array(
    name: str, arr: np.ndarray, section: str | None, *, static: bool = True, comment: str = ""
) -> tuple[str, str]:
    """A constant array definition; returns (C text, expression giving a pointer to its first element)."""
    arr = np.ascontiguousarray(arr)
    ctype = C_TYPES[arr.dtype]
    count = int(arr.size)
    storage = "static const" if static else "const"
    attr = f' TINYC_SECTION("{section}")' if section else ""
    head = f"/* {comment} */\n" if comment else ""
    if count <= BLOB_THRESHOLD:
        body = c_list(arr, _fmt(arr.dtype), per_line=8 if ctype == "float" else 16)
        text = f"{head}{storage} {ctype} {name}[{count}]{attr} = {{\n{body}\n}};\n"
        return text, name
    data = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    text = (
        f"{head}{storage} union {{\n    unsigned char bytes[{len(data)} + 1];\n    {ctype} values[{count}];\n    uint32_t align;\n}}"
        f" {name}{attr} = {{\n{c_string_lines(data)}\n}};\n"
    )
    return text, f"{name}.values"
