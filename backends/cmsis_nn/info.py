"""``python -m tinyc.backends.cmsis_nn.info MODEL``: what a build system needs before tinyc compiles a model.

Prints ``prefix=<C prefix and file stem of the generated files>`` and
``runtime=<tinyc's runtime_c folder>``, one per line; the CMake function
``tinyc_add_model()`` and the example Makefile read them at configure time.
"""

from __future__ import annotations

import sys

from tinyc.backends.cmsis_nn.glue import model_prefix, runtime_dir


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m tinyc.backends.cmsis_nn.info MODEL\n")
        return 2
    sys.stdout.write(f"prefix={model_prefix(args[0])}\nruntime={runtime_dir().as_posix()}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
