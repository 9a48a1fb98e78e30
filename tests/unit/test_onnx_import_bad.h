/* Bad files for the importer (tests/fixtures/onnx/bad/, written by
 * tools/gen_onnx_fixtures.py), each refused with FT_EINVAL-style errors that
 * name what is wrong, and no model. Included once by test_onnx_ops.c. */

static void expect_refused(const char *file, ft_errcode code, const char *const *want)
{
    char path[256];
    snprintf(path, sizeof path, FIXTURES "bad/%s.onnx", file);
    unsigned char *buf = NULL;
    size_t len = 0;
    ft_error err = {0};
    CHECKF(ft_read_file(path, 1 << 20, &buf, &len, &err) == 0, "%s", err.msg);
    ft_model *m = ft_onnx_import_bytes(buf, len, NULL, NULL, &err);
    CHECKF(!m, "%s: imported", file);
    CHECKF(err.code == code, "%s: code %s (%s)", file, ft_errcode_name(err.code), err.msg);
    for (; *want; want++)
        CHECKF(strstr(err.msg, *want), "%s: message \"%s\" lacks \"%s\"", file, err.msg, *want);
    ft_model_free(m);
    free(buf);
}

static void test_bad_unsupported_op(void)
{
    static const char *const want[] = {"node '/act/Sin' (Sin)", "op type 'Sin' is not supported",
                                       "supported: Conv, BatchNormalization, Relu", "Identity", NULL};
    expect_refused("unsupported_op", FT_EINVAL, want);
}

static void test_bad_unsupported_attribute(void)
{
    static const char *const want[] = {"node '/pool/MaxPool' (MaxPool): storage_order 1 is not supported", NULL};
    expect_refused("unsupported_attr", FT_EINVAL, want);
}

static void test_bad_two_inputs(void)
{
    static const char *const want[] = {"more than one input ('x', 'x2')", NULL};
    expect_refused("two_inputs", FT_EINVAL, want);
}

static void test_bad_kernel_too_big(void)
{
    static const char *const want[] = {"node '/conv1/Conv' (Conv): kernel 3x3", "does not fit the input 2x2", NULL};
    expect_refused("kernel_too_big", FT_EINVAL, want);
}

static void test_bad_cycle(void)
{
    static const char *const want[] = {"cycle", NULL};
    expect_refused("cycle", FT_EFORMAT, want);
}

static void test_bad_huge_tensor(void)
{
    static const char *const want[] = {"tensor 'huge' declares", "budget", NULL};
    expect_refused("huge_tensor", FT_ETOOBIG, want);
}

static void run_import_bad_tests(void)
{
    RUN(test_bad_unsupported_op);
    RUN(test_bad_unsupported_attribute);
    RUN(test_bad_two_inputs);
    RUN(test_bad_kernel_too_big);
    RUN(test_bad_cycle);
    RUN(test_bad_huge_tensor);
}
