/*
 * A firmware-style application: the magnet locator, compiled by tinyc at build
 * time, runs on a few recorded board readings and prints where it thinks the
 * magnet is. The same file builds for the host and for a Cortex-M7 (QEMU
 * mps2-an500, printf through semihosting).
 */
#include <stdio.h>

#include "magnet_locator.h"
#include "samples.h" /* SAMPLE_COUNT, sample_inputs[][MAGNET_LOCATOR_IN0_SIZE], sample_truth[][3] */

int main(void)
{
    if (magnet_locator_init() != MAGNET_LOCATOR_OK) {
        printf("magnet_locator_init failed\n");
        return 1;
    }
    printf("magnet position (mm): predicted vs true, %d samples\n", SAMPLE_COUNT);
    for (int i = 0; i < SAMPLE_COUNT; ++i) {
        float pos[MAGNET_LOCATOR_OUT0_SIZE];
        const magnet_locator_status st = magnet_locator_run_float(sample_inputs[i], pos);
        if (st != MAGNET_LOCATOR_OK) {
            printf("inference failed: status %ld\n", (long)st);
            return 2;
        }
        printf("%2d  predicted %7.2f %7.2f %7.2f   true %7.2f %7.2f %7.2f\n", i, (double)pos[0], (double)pos[1], (double)pos[2],
               (double)sample_truth[i][0], (double)sample_truth[i][1], (double)sample_truth[i][2]);
    }
    printf("arena %d B, %d MACs per inference\n", MAGNET_LOCATOR_ARENA_BYTES, MAGNET_LOCATOR_MACS);
    return 0;
}
