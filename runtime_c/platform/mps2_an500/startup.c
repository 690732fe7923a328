/*
 * tinyc runtime: minimal bare-metal start-up for QEMU's mps2-an500 (Cortex-M7) with semihosting I/O.
 *
 * Link with mps2_an500.ld, -nostartfiles and --specs=rdimon.specs; the
 * program's main(0, NULL) runs with stdio routed to the host through
 * semihosting, and its return value becomes QEMU's exit status. Run with
 *   qemu-system-arm -M mps2-an500 -nographic -semihosting-config enable=on,target=native \
 *       -monitor none -serial none -kernel prog.elf
 * A fault prints the fault status registers to stderr and ends the run with
 * exit status 3. Instruction counts: tinyc_qemu.h. SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern int main(int argc, char **argv);
extern void initialise_monitor_handles(void);

extern uint32_t __data_load__;
extern uint32_t __data_start__;
extern uint32_t __data_end__;
extern uint32_t __bss_start__;
extern uint32_t __bss_end__;
extern uint32_t __stack_top__;

void tinyc_reset_handler(void);
void tinyc_fault_handler(void);
void _init(void);
void _fini(void);

__attribute__((section(".vectors"), used)) static void (*const vector_table[16])(void) = {
    (void (*)(void))(uintptr_t)&__stack_top__, /* initial stack pointer */
    tinyc_reset_handler,
    tinyc_fault_handler, /* NMI */
    tinyc_fault_handler, /* HardFault */
    tinyc_fault_handler, /* MemManage */
    tinyc_fault_handler, /* BusFault */
    tinyc_fault_handler, /* UsageFault */
    0, 0, 0, 0,
    tinyc_fault_handler, /* SVCall */
    tinyc_fault_handler, /* DebugMonitor */
    0,
    tinyc_fault_handler, /* PendSV */
    tinyc_fault_handler, /* SysTick */
};

void tinyc_reset_handler(void)
{
    /* Full access to the FPU (CP10, CP11) before any floating-point instruction. */
    volatile uint32_t *const cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");

    const uint32_t *src = &__data_load__;
    for (uint32_t *dst = &__data_start__; dst < &__data_end__;)
    {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;)
    {
        *dst++ = 0;
    }
    initialise_monitor_handles();
    exit(main(0, NULL));
}

void tinyc_fault_handler(void)
{
    const uint32_t cfsr = *(volatile uint32_t *)0xE000ED28u;
    const uint32_t hfsr = *(volatile uint32_t *)0xE000ED2Cu;
    fprintf(stderr, "tinyc-qemu: fault (CFSR=0x%08lx HFSR=0x%08lx)\n", (unsigned long)cfsr, (unsigned long)hfsr);
    _Exit(3);
}

void _init(void)
{
}

void _fini(void)
{
}
