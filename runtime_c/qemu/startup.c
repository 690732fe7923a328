/* startup.c: vector table and reset handler for tinyc programs on QEMU mps2-an500 (Cortex-M7).
 *
 * Link with the linker script tinyc writes (it defines __stack_top, __data_load,
 * __data_start, __data_end, __bss_start__, __bss_end__, end) and
 * --specs=rdimon.specs -nostartfiles for semihosting stdio and exit().
 * Part of tinyc (Apache-2.0).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyc_qemu.h"

extern uint32_t __stack_top;
extern uint32_t __data_load;
extern uint32_t __data_start;
extern uint32_t __data_end;
extern uint32_t __bss_start__;
extern uint32_t __bss_end__;

extern int main(void);
extern void initialise_monitor_handles(void);

void Reset_Handler(void);
void Fault_Handler(void);

/* newlib calls these around static constructors; C programs have none */
void _init(void) {}
void _fini(void) {}

#define CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)

#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)

void Reset_Handler(void)
{
    uint32_t *src, *dst;
    /* full access to CP10 and CP11 (the FPU) before any float instruction runs */
    CPACR |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
    for (src = &__data_load, dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start__; dst < &__bss_end__;) {
        *dst++ = 0u;
    }
    initialise_monitor_handles();
    exit(main());
}

void Fault_Handler(void)
{
    /* a fault in the program: say which and stop QEMU with a distinctive status */
    fprintf(stderr, "tinyc-qemu: fault (CFSR=0x%08lx HFSR=0x%08lx)\n", (unsigned long)SCB_CFSR, (unsigned long)SCB_HFSR);
    exit(70);
}

__attribute__((section(".vectors"), used)) void (*const tinyc_vectors[16])(void) = {
    (void (*)(void))(&__stack_top), /* initial stack pointer */
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0, 0, 0, 0,
    Fault_Handler, /* SVCall */
    Fault_Handler, /* DebugMonitor */
    0,
    Fault_Handler, /* PendSV */
    Fault_Handler, /* SysTick */
};

void tinyc_qemu_timer_start(void)
{
    TIMER0_CTRL = 0u;
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1u; /* enable, no interrupt */
}

uint32_t tinyc_qemu_timer_ticks(void)
{
    return 0xFFFFFFFFu - TIMER0_VALUE;
}

uint64_t tinyc_qemu_instructions(void)
{
    return (uint64_t)tinyc_qemu_timer_ticks() * TINYC_QEMU_INSNS_PER_TICK;
}
