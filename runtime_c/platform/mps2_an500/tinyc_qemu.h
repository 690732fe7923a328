/* tinyc_qemu.h: instruction counts for tinyc programs on QEMU's mps2-an500 (Cortex-M7).
 *
 * The helpers read the CMSDK APB timer 0, which QEMU clocks at 25 MHz: run
 * QEMU with -icount shift=0,sleep=off and each tick is exactly 40 guest
 * instructions (instructions, not Cortex-M7 cycles). startup.c next to this
 * file is the vector table and reset handler. Part of tinyc (Apache-2.0).
 */
#ifndef TINYC_QEMU_H
#define TINYC_QEMU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* guest instructions per timer tick under -icount shift=0 (1 ns per instruction, 25 MHz timer) */
#define TINYC_QEMU_INSNS_PER_TICK 40u

#define TINYC_QEMU_TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TINYC_QEMU_TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TINYC_QEMU_TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)

/* start timer 0 counting down from 0xFFFFFFFF (wraps after about 171 s of guest time) */
static inline void tinyc_qemu_timer_start(void)
{
    TINYC_QEMU_TIMER0_CTRL = 0u;
    TINYC_QEMU_TIMER0_RELOAD = 0xFFFFFFFFu;
    TINYC_QEMU_TIMER0_VALUE = 0xFFFFFFFFu;
    TINYC_QEMU_TIMER0_CTRL = 1u; /* enable, no interrupt */
}

/* ticks since tinyc_qemu_timer_start() */
static inline uint32_t tinyc_qemu_timer_ticks(void)
{
    return 0xFFFFFFFFu - TINYC_QEMU_TIMER0_VALUE;
}

/* guest instructions since tinyc_qemu_timer_start() (resolution 40) */
static inline uint64_t tinyc_qemu_instructions(void)
{
    return (uint64_t)tinyc_qemu_timer_ticks() * TINYC_QEMU_INSNS_PER_TICK;
}

#ifdef __cplusplus
}
#endif

#endif /* TINYC_QEMU_H */
