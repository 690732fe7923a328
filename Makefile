# The two commands a new user runs (see README.md):
#   make demo   compile the magnet-locator example for stm32h7 and run it
#   make test   run the test suite
# Both install what they need first (`make setup`); CI (.ci/run) runs `make test`.

PYTHON ?= python3
PIP    := $(PYTHON) -m pip
PYTEST_ARGS ?=

.PHONY: setup setup-python setup-toolchain demo test lint docs

setup: setup-toolchain setup-python

# gcc-arm-none-eabi and QEMU for the emulated Cortex-M7; skipped when present or when not root.
setup-toolchain:
	@if command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null; then \
	  echo "toolchain: arm-none-eabi-gcc and qemu-system-arm present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm; \
	else \
	  echo "toolchain: not root; install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm with apt (QEMU tests will skip)"; \
	fi

# torch is pinned to 2.13.0: that version has a CPU build here, others pull GBs of CUDA wheels.
setup-python:
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,torch,tflite]'

demo: setup
	$(PYTHON) -m examples.demo

test: setup
	$(PYTHON) -m pytest -q -n 2 $(PYTEST_ARGS)

lint:
	ruff check compiler frontends backends tests tools bench examples

docs:
	$(PYTHON) tools/gen_docs.py
