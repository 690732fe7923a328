# tinyc runtime: Makefile fragment.
#
# Include it from a project Makefile:
#
#     TINYC_RUNTIME_DIR := path/to/runtime_c        # optional: defaults to this file's folder
#     include $(TINYC_RUNTIME_DIR)/tinyc_runtime.mk
#     CFLAGS += $(TINYC_RUNTIME_CFLAGS)
#     OBJS   += $(TINYC_RUNTIME_OBJS)               # objects are built into $(TINYC_RUNTIME_BUILD_DIR)
#
# or link the static library target $(TINYC_RUNTIME_LIB).
#
# To use Arm's CMSIS-NN instead of tinyc's portable kernels, point
# TINYC_CMSIS_NN_DIR at a CMSIS-NN (v7) checkout, e.g.
#     make TINYC_CMSIS_NN_DIR=$HOME/src/CMSIS-NN
# Its Source/*/*.c and Include/ then replace src/arm_*.c and include/arm_*.h here
# (tinyc's extra kernels, src/tinyc_*.c, are still built); the generated code is
# the same either way.
#
# Variables read: CC, AR, CFLAGS (target flags such as -mcpu=cortex-m7 ...),
# TINYC_RUNTIME_BUILD_DIR (default: build/tinyc_runtime).

TINYC_RUNTIME_DIR ?= $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
TINYC_RUNTIME_BUILD_DIR ?= build/tinyc_runtime

ifneq ($(strip $(TINYC_CMSIS_NN_DIR)),)
TINYC_CMSIS_NN_SRCS := $(sort $(wildcard $(TINYC_CMSIS_NN_DIR)/Source/*/*.c))
ifeq ($(TINYC_CMSIS_NN_SRCS),)
$(error TINYC_CMSIS_NN_DIR=$(TINYC_CMSIS_NN_DIR) has no Source/*/*.c: point it at the root of a CMSIS-NN checkout)
endif
# tinyc's extra kernels (src/tinyc_*.c, tinyc_nn_extra.h: ops CMSIS-NN lacks) are built
# alongside; CMSIS-NN's Include/ comes first so its arm_*.h headers win.
TINYC_EXTRA_SRCS := $(filter-out $(addprefix $(TINYC_RUNTIME_DIR)/src/,$(notdir $(TINYC_CMSIS_NN_SRCS))),$(sort $(wildcard $(TINYC_RUNTIME_DIR)/src/tinyc_*.c)))
TINYC_RUNTIME_SRCS := $(TINYC_CMSIS_NN_SRCS) $(TINYC_EXTRA_SRCS)
TINYC_RUNTIME_INCLUDE_DIRS := $(TINYC_CMSIS_NN_DIR)/Include $(TINYC_RUNTIME_DIR)/include
TINYC_RUNTIME_BACKEND := cmsis-nn
else
TINYC_RUNTIME_SRCS := $(sort $(wildcard $(TINYC_RUNTIME_DIR)/src/*.c))
TINYC_RUNTIME_INCLUDE_DIRS := $(TINYC_RUNTIME_DIR)/include
TINYC_RUNTIME_BACKEND := tinyc
endif

TINYC_RUNTIME_CFLAGS := $(addprefix -I,$(TINYC_RUNTIME_INCLUDE_DIRS))
TINYC_RUNTIME_OBJS := $(addprefix $(TINYC_RUNTIME_BUILD_DIR)/,$(notdir $(TINYC_RUNTIME_SRCS:.c=.o)))
TINYC_RUNTIME_LIB := $(TINYC_RUNTIME_BUILD_DIR)/libtinyc_runtime.a

vpath %.c $(sort $(dir $(TINYC_RUNTIME_SRCS)))

$(TINYC_RUNTIME_BUILD_DIR)/%.o: %.c | $(TINYC_RUNTIME_BUILD_DIR)
	$(CC) -std=c99 $(CFLAGS) $(TINYC_RUNTIME_CFLAGS) -c $< -o $@

$(TINYC_RUNTIME_LIB): $(TINYC_RUNTIME_OBJS)
	$(AR) rcs $@ $^

$(TINYC_RUNTIME_BUILD_DIR):
	mkdir -p $@

.PHONY: tinyc-runtime-info
tinyc-runtime-info:
	@echo "backend: $(TINYC_RUNTIME_BACKEND)"
	@echo "include: $(TINYC_RUNTIME_INCLUDE_DIRS)"
	@echo "sources: $(TINYC_RUNTIME_SRCS)"
