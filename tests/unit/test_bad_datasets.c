/* The corpus of malformed datasets (tests/data/datasets/bad/): every file
 * must fail with exactly the error listed in bad/EXPECTED -- code and message,
 * including the line, column, entry or tensor it names. One PASS/FAIL line
 * per file. Runs from the repository root. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/ingest.h"
#include "tests/unit/test.h"

#define DIR "tests/data/datasets/bad/"

static char c_file[512], c_opts[512], c_code[64], c_msg[1024];

static int set_option(ft_ingest_options *o, char *kv)
{
    char *eq = strchr(kv, '=');
    if (!eq)
        return -1;
    *eq = '\0';
    const char *k = kv, *v = eq + 1;
    unsigned long long n = strtoull(v, NULL, 10);
    if (strcmp(k, "max_columns") == 0)
        o->max_columns = n;
    else if (strcmp(k, "max_classes") == 0)
        o->max_classes = n;
    else if (strcmp(k, "max_line_bytes") == 0)
        o->max_line_bytes = n;
    else if (strcmp(k, "max_decompressed_bytes") == 0)
        o->max_decompressed_bytes = n;
    else if (strcmp(k, "max_entry_bytes") == 0)
        o->max_entry_bytes = n;
    else if (strcmp(k, "max_image_pixels") == 0)
        o->max_image_pixels = n;
    else if (strcmp(k, "max_dataset_bytes") == 0)
        o->max_dataset_bytes = n;
    else {
        static char keep[16][256]; /* option strings are borrowed for the call */
        static int used;
        snprintf(keep[used % 16], sizeof keep[0], "%s", v);
        ft_error err = {0};
        return ft_ingest_option_set(o, k, keep[used++ % 16], &err);
    }
    return 0;
}

static void one_case(void)
{
    ft_ingest_options opt = {0};
    if (strcmp(c_opts, "-") != 0) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", c_opts);
        for (char *kv = strtok(buf, ","); kv; kv = strtok(NULL, ","))
            CHECKF(set_option(&opt, kv) == 0, "bad option %s", kv);
    }
    char a[1024], b[1024];
    ft_ingest_source src = {0};
    char *plus = strchr(c_file, '+');
    if (plus) {
        *plus = '\0';
        snprintf(a, sizeof a, DIR "%s", c_file);
        snprintf(b, sizeof b, DIR "%s", plus + 1);
        src = (ft_ingest_source){.images_path = a, .images_name = c_file, .labels_path = b, .labels_name = plus + 1};
    } else {
        snprintf(a, sizeof a, DIR "%s", c_file);
        src = (ft_ingest_source){.path = a, .name = c_file};
    }
    ft_dataset *ds = (ft_dataset *)1;
    json_t *summary = (json_t *)1;
    ft_error err = {0};
    int rc = ft_ingest(&src, &opt, &ds, &summary, &err);
    CHECKF(rc == -1, "ingest succeeded");
    CHECK(ds == NULL && summary == NULL);
    CHECKF(strcmp(ft_errcode_name(err.code), c_code) == 0, "code %s, expected %s", ft_errcode_name(err.code), c_code);
    CHECKF(strcmp(err.msg, c_msg) == 0, "\n   got: %s\nwanted: %s", err.msg, c_msg);
    if (rc == 0) {
        ft_dataset_free(ds);
        json_decref(summary);
    }
}

int main(void)
{
    FILE *f = fopen(DIR "EXPECTED", "r");
    if (!f) {
        printf("FAIL bad_datasets (cannot open " DIR "EXPECTED)\n");
        return 1;
    }
    char line[4096];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *file = strtok(line, "\t"), *opts = strtok(NULL, "\t"), *code = strtok(NULL, "\t"),
             *msg = strtok(NULL, "");
        if (!file || !opts || !code || !msg) {
            printf("FAIL bad_datasets (malformed EXPECTED line)\n");
            return 1;
        }
        snprintf(c_file, sizeof c_file, "%s", file);
        snprintf(c_opts, sizeof c_opts, "%s", opts);
        snprintf(c_code, sizeof c_code, "%s", code);
        snprintf(c_msg, sizeof c_msg, "%s", msg);
        char name[600];
        snprintf(name, sizeof name, "bad_dataset %s", file);
        t_run(name, one_case);
        cases++;
    }
    fclose(f);
    if (cases < 70) {
        printf("FAIL bad_datasets (only %d cases in EXPECTED)\n", cases);
        return 1;
    }
    return TEST_SUMMARY();
}
