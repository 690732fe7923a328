"""Maps the repository's top-level folders into the one ``tinyc`` namespace.

``compiler/`` is ``tinyc``, ``frontends/`` is ``tinyc.frontends``,
``backends/`` is ``tinyc.backends``; ``runtime_c/`` ships as package data
(``tinyc/runtime_c``). Everything else lives in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup

ROOTS = {"tinyc": "compiler", "tinyc.frontends": "frontends", "tinyc.backends": "backends"}


def packages() -> tuple[list[str], dict[str, str]]:
    pkgs: list[str] = []
    dirs: dict[str, str] = {}
    for pkg, folder in ROOTS.items():
        for init in sorted(Path(folder).rglob("__init__.py")):
            rel = init.parent.relative_to(folder)
            name = ".".join([pkg, *rel.parts]) if rel.parts else pkg
            pkgs.append(name)
            dirs[name] = init.parent.as_posix()
    dirs["tinyc.runtime_c"] = "runtime_c"
    return pkgs, dirs


PACKAGES, PACKAGE_DIR = packages()

setup(
    packages=PACKAGES + ["tinyc.runtime_c"],
    package_dir=PACKAGE_DIR,
    package_data={"tinyc": ["py.typed", "targets/*.toml", "ir/*.lark"], "tinyc.runtime_c": ["*.c", "*.h", "**/*.c", "**/*.h", "*.mk", "*.cmake", "**/*"]},
)
