"""The error hierarchy: every failure a user can cause is a TinycError.

Each message says what went wrong, where (file, node, op) and what to do.
The CLI prints ``str(err)`` without a traceback and exits with ``err.exit_code``.
"""

from __future__ import annotations


class TinycError(Exception):
    """Base class of all user-facing tinyc errors."""

    exit_code = 1

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.what = what
        self.where = where
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        text = self.what
        if self.where:
            text = f"{self.where}: {text}"
        if self.hint:
            text = f"{text}\n  hint: {self.hint}"
        return text


class ModelLoadError(TinycError):
    """The model file is missing, malformed or unsafe."""


class UnsupportedOpError(TinycError):
    """An operator (or an attribute value of one) that tinyc cannot handle."""


class ShapeError(TinycError):
    """Shapes or types that do not agree, or dimensions that cannot be resolved."""


class IRParseError(TinycError):
    """Textual IR that does not parse."""


class VerificationError(TinycError):
    """A graph breaks an IR invariant (a bug in a pass, or bad hand-written IR)."""


class PassError(TinycError):
    """A pass failed; the message names the pass and the ones before it."""


class TargetError(TinycError):
    """An unknown target, a malformed target file, or a backend not available."""


class MemoryPlanError(TinycError):
    """The model does not fit the target's memories."""


class QuantizationError(TinycError):
    """Missing or bad calibration data, or a graph that cannot be quantized."""


class InputError(TinycError):
    """Input data (npy/npz) that does not match the model."""


class ToolchainError(TinycError):
    """A compiler, emulator or external tool is missing or failed."""
