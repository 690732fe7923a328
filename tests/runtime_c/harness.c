/*
 * Test harness for runtime_c: reads kernel calls from a binary file, runs them, writes the outputs.
 *
 * Input (little-endian int32 unless said otherwise), repeated until EOF:
 *   op, n_ints, ints[n_ints], n_arrays, then per array: kind (0 = int8, 1 = int32), count, data.
 * Output per call: status, n_bytes, bytes (int8 outputs, or int32 values for sizes / sums).
 * Scratch buffers are malloc'ed with exactly the size the kernel's *_get_buffer_size() asks
 * for (NULL when 0), so AddressSanitizer catches any overrun.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arm_nnfunctions.h"
#include "arm_nnsupportfunctions.h"

enum
{
    OP_CONV = 1,
    OP_DWCONV = 2,
    OP_FC = 3,
    OP_AVGPOOL = 4,
    OP_MAXPOOL = 5,
    OP_SOFTMAX = 6,
    OP_ADD = 7,
    OP_MUL = 8,
    OP_RELU6 = 9,
    OP_RELU = 10,
    OP_VECTOR_SUM = 11,
    OP_REQUANTIZE = 12
};

#define MAX_INTS 64
#define MAX_ARRAYS 8

typedef struct
{
    int32_t kind;
    int32_t count;
    void *data;
} array_t;

static int read_i32(FILE *f, int32_t *v)
{
    return fread(v, sizeof(*v), 1, f) == 1;
}

static void die(const char *msg)
{
    fprintf(stderr, "harness: %s\n", msg);
    exit(2);
}

static void write_result(FILE *out, int32_t status, const void *data, int32_t n_bytes)
{
    fwrite(&status, sizeof(status), 1, out);
    fwrite(&n_bytes, sizeof(n_bytes), 1, out);
    if (n_bytes > 0)
    {
        fwrite(data, 1, (size_t)n_bytes, out);
    }
}

static void *scratch(int32_t size, cmsis_nn_context *ctx)
{
    ctx->size = size;
    ctx->buf = size > 0 ? malloc((size_t)size) : NULL;
    if (size > 0 && ctx->buf == NULL)
    {
        die("out of memory");
    }
    return ctx->buf;
}

/* Exactly n bytes (1 when n is 0), so that AddressSanitizer flags any access past the end. */
static void *exact_alloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);
    if (p == NULL)
    {
        die("out of memory");
    }
    return p;
}

static int8_t *s8(array_t *a)
{
    return (int8_t *)a->data;
}

static int32_t *s32(array_t *a)
{
    return (int32_t *)a->data;
}

static void run(FILE *out, int32_t op, const int32_t *p, array_t *arr)
{
    cmsis_nn_context ctx = {NULL, 0};
    int32_t status = 0;
    int8_t *result = NULL;
    int32_t n_out = 0;

    switch (op)
    {
    case OP_CONV: {
        /* n h w c_in | c_out kh kw kc | stride h,w | pad h,w | dil h,w | in_off out_off act_min act_max
           | out_h out_w | has_bias use_wrapper up_h up_w ; arrays: input filter bias mult shift */
        const cmsis_nn_dims in = {p[0], p[1], p[2], p[3]};
        const cmsis_nn_dims filt = {p[4], p[5], p[6], p[7]};
        const cmsis_nn_dims bias = {1, 1, 1, p[4]};
        const cmsis_nn_dims outd = {p[0], p[18], p[19], p[4]};
        const cmsis_nn_dims up = {1, p[22], p[23], 1};
        cmsis_nn_conv_params cp;
        cp.stride.h = p[8];
        cp.stride.w = p[9];
        cp.padding.h = p[10];
        cp.padding.w = p[11];
        cp.dilation.h = p[12];
        cp.dilation.w = p[13];
        cp.input_offset = p[14];
        cp.output_offset = p[15];
        cp.activation.min = p[16];
        cp.activation.max = p[17];
        const cmsis_nn_per_channel_quant_params qp = {s32(&arr[3]), s32(&arr[4])};
        n_out = outd.n * outd.h * outd.w * outd.c;
        result = exact_alloc((size_t)n_out);
        if (p[21])
        {
            scratch(arm_convolve_wrapper_s8_get_buffer_size(&cp, &in, &filt, &outd), &ctx);
            status = arm_convolve_wrapper_s8(&ctx, &cp, &qp, &in, s8(&arr[0]), &filt, s8(&arr[1]), &bias, p[20] ? s32(&arr[2]) : NULL, &outd, result);
        }
        else
        {
            scratch(arm_convolve_s8_get_buffer_size(&in, &filt), &ctx);
            status = arm_convolve_s8(&ctx, &cp, &qp, &in, s8(&arr[0]), &filt, s8(&arr[1]), &bias, p[20] ? s32(&arr[2]) : NULL,
                                     (p[22] == 1 && p[23] == 1) ? NULL : &up, &outd, result);
        }
        break;
    }
    case OP_DWCONV: {
        /* n h w c_in | ch_mult kh kw | stride h,w | pad h,w | dil h,w | in_off out_off act_min act_max
           | out_h out_w | has_bias ; arrays: input filter bias mult shift */
        const int32_t c_out = p[3] * p[4];
        const cmsis_nn_dims in = {p[0], p[1], p[2], p[3]};
        const cmsis_nn_dims filt = {1, p[5], p[6], c_out};
        const cmsis_nn_dims bias = {1, 1, 1, c_out};
        const cmsis_nn_dims outd = {p[0], p[17], p[18], c_out};
        cmsis_nn_dw_conv_params dp;
        dp.ch_mult = p[4];
        dp.stride.h = p[7];
        dp.stride.w = p[8];
        dp.padding.h = p[9];
        dp.padding.w = p[10];
        dp.dilation.h = p[11];
        dp.dilation.w = p[12];
        dp.input_offset = p[13];
        dp.output_offset = p[14];
        dp.activation.min = p[15];
        dp.activation.max = p[16];
        const cmsis_nn_per_channel_quant_params qp = {s32(&arr[3]), s32(&arr[4])};
        n_out = outd.n * outd.h * outd.w * outd.c;
        result = exact_alloc((size_t)n_out);
        scratch(arm_depthwise_conv_wrapper_s8_get_buffer_size(&dp, &in, &filt, &outd), &ctx);
        status = arm_depthwise_conv_wrapper_s8(&ctx, &dp, &qp, &in, s8(&arr[0]), &filt, s8(&arr[1]), &bias, p[19] ? s32(&arr[2]) : NULL, &outd, result);
        break;
    }
    case OP_FC: {
        /* batches n c_out | in_off filt_off out_off act_min act_max | per_channel has_bias ;
           arrays: input filter bias mult shift */
        const cmsis_nn_dims in = {p[0], 1, 1, p[1]};
        const cmsis_nn_dims filt = {p[1], 1, 1, p[2]};
        const cmsis_nn_dims bias = {1, 1, 1, p[2]};
        const cmsis_nn_dims outd = {p[0], 1, 1, p[2]};
        cmsis_nn_fc_params fp;
        fp.input_offset = p[3];
        fp.filter_offset = p[4];
        fp.output_offset = p[5];
        fp.activation.min = p[6];
        fp.activation.max = p[7];
        n_out = p[0] * p[2];
        result = exact_alloc((size_t)n_out);
        scratch(arm_fully_connected_s8_get_buffer_size(&filt), &ctx);
        if (p[8])
        {
            const cmsis_nn_per_channel_quant_params qp = {s32(&arr[3]), s32(&arr[4])};
            status = arm_fully_connected_per_channel_s8(&ctx, &fp, &qp, &in, s8(&arr[0]), &filt, s8(&arr[1]), &bias, p[9] ? s32(&arr[2]) : NULL, &outd, result);
        }
        else
        {
            const cmsis_nn_per_tensor_quant_params qp = {s32(&arr[3])[0], s32(&arr[4])[0]};
            status = arm_fully_connected_s8(&ctx, &fp, &qp, &in, s8(&arr[0]), &filt, s8(&arr[1]), &bias, p[9] ? s32(&arr[2]) : NULL, &outd, result);
        }
        break;
    }
    case OP_AVGPOOL:
    case OP_MAXPOOL: {
        /* n h w c | fh fw | stride h,w | pad h,w | out_h out_w | act_min act_max ; arrays: input */
        const cmsis_nn_dims in = {p[0], p[1], p[2], p[3]};
        const cmsis_nn_dims filt = {1, p[4], p[5], 1};
        const cmsis_nn_dims outd = {p[0], p[10], p[11], p[3]};
        cmsis_nn_pool_params pp;
        pp.stride.h = p[6];
        pp.stride.w = p[7];
        pp.padding.h = p[8];
        pp.padding.w = p[9];
        pp.activation.min = p[12];
        pp.activation.max = p[13];
        n_out = outd.n * outd.h * outd.w * outd.c;
        result = exact_alloc((size_t)n_out);
        if (op == OP_AVGPOOL)
        {
            scratch(arm_avgpool_s8_get_buffer_size(outd.w, in.c), &ctx);
            status = arm_avgpool_s8(&ctx, &pp, &in, s8(&arr[0]), &filt, &outd, result);
        }
        else
        {
            status = arm_max_pool_s8(&ctx, &pp, &in, s8(&arr[0]), &filt, &outd, result);
        }
        break;
    }
    case OP_SOFTMAX:
        /* rows row_size mult shift diff_min ; arrays: input */
        n_out = p[0] * p[1];
        result = exact_alloc((size_t)n_out);
        arm_softmax_s8(s8(&arr[0]), p[0], p[1], p[2], p[3], p[4], result);
        break;
    case OP_ADD:
        /* in1_off in1_mult in1_shift in2_off in2_mult in2_shift left_shift out_off out_mult out_shift
           act_min act_max block ; arrays: in1 in2 */
        n_out = p[12];
        result = exact_alloc((size_t)n_out);
        status = arm_elementwise_add_s8(s8(&arr[0]), s8(&arr[1]), p[0], p[1], p[2], p[3], p[4], p[5], p[6], result, p[7], p[8], p[9], p[10], p[11], p[12]);
        break;
    case OP_MUL:
        /* in1_off in2_off out_off out_mult out_shift act_min act_max block ; arrays: in1 in2 */
        n_out = p[7];
        result = exact_alloc((size_t)n_out);
        status = arm_elementwise_mul_s8(s8(&arr[0]), s8(&arr[1]), p[0], p[1], result, p[2], p[3], p[4], p[5], p[6], p[7]);
        break;
    case OP_RELU6:
    case OP_RELU:
        /* size ; arrays: data (modified in place and returned) */
        n_out = p[0];
        result = exact_alloc((size_t)n_out);
        memcpy(result, arr[0].data, (size_t)n_out);
        if (op == OP_RELU6)
        {
            arm_relu6_s8(result, (uint16_t)n_out);
        }
        else
        {
            arm_relu_q7(result, (uint16_t)n_out);
        }
        break;
    case OP_VECTOR_SUM: {
        /* cols rows lhs_off rhs_off has_bias ; arrays: data bias ; output int32[rows] */
        int32_t *sums = exact_alloc(sizeof(int32_t) * (size_t)p[1]);
        status = arm_vector_sum_s8(sums, p[0], p[1], s8(&arr[0]), p[2], p[3], p[4] ? s32(&arr[1]) : NULL);
        write_result(out, status, sums, p[1] * (int32_t)sizeof(int32_t));
        free(sums);
        return;
    }
    case OP_REQUANTIZE: {
        /* count ; arrays: val mult shift ; output int32[count] = arm_nn_requantize(...) */
        int32_t *vals = exact_alloc(sizeof(int32_t) * (size_t)p[0]);
        for (int32_t i = 0; i < p[0]; ++i)
        {
            vals[i] = arm_nn_requantize(s32(&arr[0])[i], s32(&arr[1])[i], s32(&arr[2])[i]);
        }
        write_result(out, 0, vals, p[0] * (int32_t)sizeof(int32_t));
        free(vals);
        return;
    }
    default:
        die("unknown op");
    }
    write_result(out, status, result, n_out);
    free(result);
    free(ctx.buf);
}

int main(int argc, char **argv)
{
    /* Without arguments (bare-metal runs under QEMU semihosting) the files are
       calls.bin and results.bin in the emulator's working directory. */
    const char *in_path = argc == 3 ? argv[1] : "calls.bin";
    const char *out_path = argc == 3 ? argv[2] : "results.bin";
    if (argc != 3 && argc > 1)
    {
        die("usage: harness [IN OUT]");
    }
    FILE *in = fopen(in_path, "rb");
    FILE *out = fopen(out_path, "wb");
    if (in == NULL || out == NULL)
    {
        die("cannot open files");
    }
    int32_t op;
    while (read_i32(in, &op))
    {
        int32_t n_ints, n_arrays;
        int32_t ints[MAX_INTS];
        array_t arrays[MAX_ARRAYS];
        memset(arrays, 0, sizeof(arrays));
        if (!read_i32(in, &n_ints) || n_ints < 0 || n_ints > MAX_INTS || fread(ints, sizeof(int32_t), (size_t)n_ints, in) != (size_t)n_ints)
        {
            die("bad ints");
        }
        if (!read_i32(in, &n_arrays) || n_arrays < 0 || n_arrays > MAX_ARRAYS)
        {
            die("bad array count");
        }
        for (int32_t i = 0; i < n_arrays; ++i)
        {
            if (!read_i32(in, &arrays[i].kind) || !read_i32(in, &arrays[i].count) || arrays[i].count < 0)
            {
                die("bad array header");
            }
            const size_t item = arrays[i].kind == 0 ? 1 : 4;
            /* exact-size allocations so that ASan sees any overread */
            arrays[i].data = malloc(item * (size_t)arrays[i].count + (arrays[i].count == 0 ? 1 : 0));
            if (fread(arrays[i].data, item, (size_t)arrays[i].count, in) != (size_t)arrays[i].count)
            {
                die("short array");
            }
        }
        run(out, op, ints, arrays);
        for (int32_t i = 0; i < n_arrays; ++i)
        {
            free(arrays[i].data);
        }
    }
    fclose(in);
    fclose(out);
    return 0;
}
