"""The README's supported-ops table and docs/ops.md are generated from the op definitions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tinyc.ir import OPS

REPO = Path(__file__).resolve().parent.parent


def test_ops_tables_are_up_to_date() -> None:
    r = subprocess.run([sys.executable, str(REPO / "tools" / "gen_docs.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_every_op_has_a_doc_line_and_category() -> None:
    for name, op in OPS.items():
        assert op.doc, f"{name} has no one-line doc"
        assert op.category != "misc", f"{name} has no category"


def test_readme_names_the_two_setup_commands() -> None:
    text = (REPO / "README.md").read_text()
    assert "make demo" in text and "make test" in text
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci
