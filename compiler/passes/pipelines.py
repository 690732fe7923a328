"""Pass pipelines as plain lists, one function per use, readable top to bottom."""

from __future__ import annotations

from tinyc.passes.manager import Pass


def default_pipeline() -> list[Pass]:
    """Target-independent clean-up run before analysis and by every backend."""
    return []
