/* tinyc_qemu.h: bare-metal glue for running tinyc's C on QEMU's mps2-an500 (Cortex-M7).
 *
 * startup.c provides the vector table and the reset handler (FPU on, .data
 * copied, .bss cleared, semihosting stdio, exit(main())). The timer helpers
 * read the CMSDK APB timer 0, which QEMU clocks at 25 MHz: run QEMU with
 * -icount shift=0,sleep=off and each tick is exactly 40 guest instructions
 * (instructions, not Cortex-M7 cycles). Part of tinyc (Apache-2.0).
 */
#ifndef TINYC_QEMU_H
#define TINYC_QEMU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* guest instructions per timer tick under -icount shift=0 (1 ns per instruction, 25 MHz timer) */
#define TINYC_QEMU_INSNS_PER_TICK 40u

/* start timer 0 counting down from 0xFFFFFFFF (wraps after about 171 s of guest time) */
void tinyc_qemu_timer_start(void);
/* ticks since tinyc_qemu_timer_start() */
uint32_t tinyc_qemu_timer_ticks(void);
/* guest instructions since tinyc_qemu_timer_start() (resolution 40) */
uint64_t tinyc_qemu_instructions(void);

#ifdef __cplusplus
}
#endif

#endif /* TINYC_QEMU_H */
