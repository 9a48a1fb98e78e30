/* The dataset format table: every row is complete and consistent, the
 * lists built from it (format names, upload option keys, the "unrecognised"
 * message) read as before, and each format's sniffer knows its own magic. */
#include <stdio.h>
#include <string.h>

#include "core/data/format.h"
#include "tests/unit/test.h"

#define ALL_OPTS (FT_OPT_LABEL | FT_OPT_TASK | FT_OPT_DELIMITER | FT_OPT_HEADER | FT_OPT_IMAGE_SIZE | FT_OPT_COLOR | FT_OPT_FIT)

/* Every row of format_list.h, by its enum value. */
#define AS_ID(ID, name) FT_FORMAT_##ID,
static const ft_format ids[] = {FT_FORMAT_LIST(AS_ID)};
#undef AS_ID
#define NIDS (sizeof ids / sizeof ids[0])

static void test_rows_are_complete(void)
{
    for (size_t i = 0; i < NIDS; i++) {
        const ft_format_desc *d = ft_format_find(ids[i]);
        CHECKF(d && d->id == ids[i], "row %zu", i);
        if (!d)
            continue;
        CHECK(d->name && d->name[0] && d->what && d->what[0] && d->parse);
        CHECK(d->files == 1 || d->files == 2);
        CHECK((d->options & ~(unsigned)ALL_OPTS) == 0);
        CHECK(d->suffixes && d->suffixes[0]);
        CHECK(ft_format_by_name(d->name) == d && strcmp(ft_format_name(d->id), d->name) == 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(ft_format_find(ids[j])->name, d->name) != 0);
    }
    CHECK(ft_format_find(FT_FORMAT_AUTO) == NULL && strcmp(ft_format_name(FT_FORMAT_AUTO), "auto") == 0);
    CHECK(ft_format_by_name("npy") == NULL);
    CHECK(ft_format_pair() == ft_format_find(FT_FORMAT_IDX));
}

static void test_lists_from_the_table(void)
{
    char names[256];
    ft_format_names(names, sizeof names);
    CHECKF(strcmp(names, "auto, csv, tar, zip, idx or safetensors") == 0, "%s", names);
    static const char *const keys[] = {"format", "label", "task", "delimiter", "header", "image_size", "color", "fit", NULL};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        CHECKF(keys[i] ? ft_ingest_option_key(i) && strcmp(ft_ingest_option_key(i), keys[i]) == 0
                       : ft_ingest_option_key(i) == NULL,
               "key %zu", i);
    /* Every option some format reads, every format's options known. */
    CHECK(ft_format_options_read() == ALL_OPTS);
    ft_ingest_options o = {0};
    ft_error err = {0};
    CHECK(ft_ingest_option_set(&o, "format", "IDX", &err) == 0 && o.format == FT_FORMAT_IDX);
    CHECK(ft_ingest_option_set(&o, "format", "npy", &err) != 0 && strcmp(err.param, "format") == 0 &&
          strcmp(err.msg, "format must be auto, csv, tar, zip, idx or safetensors, not 'npy'") == 0);
    CHECK(ft_ingest_option_set(&o, "fit", "squash", &err) == 0 && o.fit == FT_FIT_SQUASH);
    CHECK(ft_ingest_option_set(&o, "fit", "stretch", &err) != 0 && strcmp(err.param, "fit") == 0 &&
          strcmp(err.msg, "fit must be crop or squash, not 'stretch'") == 0);
}

static void test_sniffers(void)
{
    unsigned char tar[512] = "cat/1.png";
    memcpy(tar + 257, "ustar", 5);
    static const unsigned char idx[] = {0, 0, 8, 3, 0, 0, 0, 1};
    static const unsigned char st[] = {2, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    static const unsigned char csv[] = "a,b\n1,2\n";
    static const unsigned char zip[] = "PK\x03\x04\x14\0";
    const ft_format_desc *c = ft_format_find(FT_FORMAT_CSV), *t = ft_format_find(FT_FORMAT_TAR),
                         *x = ft_format_find(FT_FORMAT_IDX), *s = ft_format_find(FT_FORMAT_SAFETENSORS);
    CHECK(t->sniff(tar, sizeof tar, false) == FT_SNIFF_SURE && t->sniff(csv, sizeof csv - 1, false) == FT_SNIFF_NO);
    const ft_format_desc *z = ft_format_find(FT_FORMAT_ZIP);
    CHECK(z->sniff(zip, sizeof zip - 1, false) == FT_SNIFF_SURE && z->sniff(tar, sizeof tar, false) == FT_SNIFF_NO);
    CHECK(x->sniff(idx, sizeof idx, true) == FT_SNIFF_SURE && x->sniff(st, sizeof st, false) == FT_SNIFF_NO);
    CHECK(s->sniff(st, sizeof st, false) == FT_SNIFF_SURE && s->sniff(st, sizeof st, true) == FT_SNIFF_NO);
    CHECK(c->sniff(csv, sizeof csv - 1, false) == FT_SNIFF_WEAK && c->sniff(idx, sizeof idx, false) == FT_SNIFF_NO);
}

/* Text named .tar is a broken tar (the name beats the weak text sniff);
 * bytes no format claims are refused with the table's list. */
static void test_sniff_order(void)
{
    static const char text[] = "not,a\ntar,file\n";
    ft_ingest_source src = {.data = text, .len = sizeof text - 1, .name = "x.tar"};
    ft_dataset *ds;
    ft_error err = {0};
    CHECK(ft_ingest(&src, NULL, &ds, NULL, &err) != 0 && strstr(err.msg, "x.tar: ") == err.msg);
    CHECKF(!strstr(err.msg, "column"), "%s", err.msg);
    static const unsigned char bin[] = {1, 0, 2, 3};
    src = (ft_ingest_source){.data = bin, .len = sizeof bin, .name = "x.bin"};
    CHECK(ft_ingest(&src, NULL, &ds, NULL, &err) != 0);
    CHECKF(strcmp(err.msg, "x.bin: unrecognised file format (not CSV text, a tar archive, a zip archive, IDX or safetensors)") == 0,
           "%s", err.msg);
}

int main(void)
{
    RUN(test_rows_are_complete);
    RUN(test_lists_from_the_table);
    RUN(test_sniffers);
    RUN(test_sniff_order);
    return TEST_SUMMARY();
}
