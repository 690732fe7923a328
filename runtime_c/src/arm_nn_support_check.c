/*
 * tinyc runtime: compile-time checks of the implementation-defined behaviour the kernels rely on.
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>

#include "arm_nnsupportfunctions.h"

/* Right shifts of negative values must be arithmetic (floor), as on GCC, Clang and Arm Compiler. */
typedef char tinyc_requires_arithmetic_right_shift[((-7 >> 1) == -4) ? 1 : -1];
/* Two's complement int32 (conversions from uint32 wrap). */
typedef char tinyc_requires_twos_complement[((int32_t)(uint32_t)0xFFFFFFFFu == -1) ? 1 : -1];
