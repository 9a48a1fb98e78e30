/* finetuned dataset inspect [OPTIONS] FILE...
 *
 * Parses and validates each dataset exactly as an upload would, and prints
 * its summary as JSON on stdout (one object per dataset), or the error with
 * its location on stderr. IDX files come in pairs: --images A --labels B, or
 * both files among the arguments, paired by their headers (rank 3 = images,
 * rank 1 = labels; several pairs are matched by item count and by name,
 * "train-images-idx3-ubyte" with "train-labels-idx1-ubyte"). Exit status 0
 * if every dataset is valid, 1 if any is not, 2 on a usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/dataset_store.h"
#include "core/data/ingest.h"
#include "server/cli.h"
#include "server/app/config.h"

#define PROG "finetuned dataset inspect"

static int usage(FILE *out)
{
    char formats[256];
    ft_format_names(formats, sizeof formats);
    fprintf(out,
            "usage: finetuned dataset inspect [OPTIONS] FILE...\n"
            "       finetuned dataset inspect [OPTIONS] --images IMAGES --labels LABELS\n"
            "\n"
            "Validate dataset files as an upload would and print their summaries as JSON.\n"
            "Formats: CSV (optionally .gz), .tar / .tar.gz / .zip of <class>/<name>.png|.jpg, IDX pairs,\n"
            "safetensors with x and y.\n"
            "\n"
            "options:\n"
            "  --label NAME            CSV label column (default: the last column)\n"
            "  --task T                auto, classification or regression (default auto)\n"
            "  --image-size HxW        resize images (default: the first image's size)\n"
            "  --color C               grayscale or rgb (default: the first image's)\n"
            "  --format F              %s (default auto)\n"
            "  --delimiter C           CSV field separator (default ','; 'tab' for tabs)\n"
            "  --no-header             the CSV has no header row\n"
            "  --images F --labels F   an IDX pair\n"
            "  --save PATH             also write the stored form (one dataset only)\n"
            "  --compact               one JSON object per line instead of indented JSON\n"
            "\n"
            "FINETUNED_MAX_DATASET_BYTES (e.g. 512M) sets the stored-size limit, as for the server\n"
            "(default 4G).\n",
            formats);
    return out == stdout ? 0 : 2;
}

/* The message already names the file and the place in it. */
static void print_error(const ft_error *err) { fprintf(stderr, "%s: %s\n", PROG, err->msg); }

typedef struct {
    ft_ingest_options opt;
    int compact;
    const char *save;
    int inspected; /* datasets seen so far (--save takes one) */
} inspect_cfg;

/* Ingest one dataset and print its summary; 0 if it is valid. */
static int inspect(const ft_ingest_source *src, inspect_cfg *cfg)
{
    if (cfg->save && cfg->inspected++ > 0) {
        fprintf(stderr, "%s: --save takes exactly one dataset\n", PROG);
        return 1;
    }
    ft_error err = {0};
    ft_dataset *ds;
    json_t *summary;
    if (ft_ingest(src, &cfg->opt, &ds, &summary, &err) != 0) {
        print_error(&err);
        return 1;
    }
    int rc = 0;
    if (cfg->save && ft_dataset_save(ds, summary, cfg->save, &err) != 0) {
        print_error(&err);
        rc = 1;
    }
    char *s = json_dumps(summary, cfg->compact ? JSON_COMPACT : JSON_INDENT(2));
    if (s)
        printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(summary);
    ft_dataset_free(ds);
    return rc;
}

/* The basename with "labels" for "images" and "idx1" for "idx3", to match
 * MNIST-style file names. */
static void partner_name(const char *path, char *out, size_t cap)
{
    const char *base = strrchr(path, '/');
    snprintf(out, cap, "%s", base ? base + 1 : path);
    char *p;
    if ((p = strstr(out, "images")))
        memcpy(p, "labels", 6);
    if ((p = strstr(out, "idx3")))
        memcpy(p, "idx1", 4);
}

static int same_base(const char *a, const char *b)
{
    const char *s = strrchr(b, '/');
    return strcmp(a, s ? s + 1 : b) == 0;
}

typedef struct {
    const char *path;
    ft_idx_header h;
    int is_idx, used;
} arg_file;

/* Pick the labels file for images file i: same count, preferring the
 * matching name; -1 if there is none or the choice is ambiguous. */
static int find_labels(arg_file *f, int n, int i)
{
    char want[4096];
    partner_name(f[i].path, want, sizeof want);
    int found = -1, candidates = 0;
    for (int j = 0; j < n; j++) {
        if (!f[j].is_idx || f[j].used || f[j].h.rank != 1 || f[j].h.dims[0] != f[i].h.dims[0])
            continue;
        if (same_base(want, f[j].path))
            return j;
        candidates++;
        found = j;
    }
    return candidates == 1 ? found : -1;
}

static int inspect_files(char **paths, int n, inspect_cfg *cfg)
{
    if (n <= 0)
        return 0;
    arg_file *f = calloc((size_t)n, sizeof *f);
    if (!f) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return 1;
    }
    int status = 0;
    for (int i = 0; i < n; i++) {
        f[i].path = paths[i];
        ft_format fmt = cfg->opt.format;
        bool gz;
        ft_error err = {0};
        if (fmt == FT_FORMAT_AUTO && ft_ingest_sniff(paths[i], &fmt, &gz, &err) != 0)
            continue; /* reported below, by ft_ingest */
        if (fmt == FT_FORMAT_IDX && ft_idx_probe(paths[i], &f[i].h, &err) == 0)
            f[i].is_idx = 1;
    }
    /* Pair images with labels first, so the pairs are known before output. */
    int *partner = calloc((size_t)n, sizeof *partner);
    for (int i = 0; partner && i < n; i++)
        partner[i] = -1;
    for (int i = 0; partner && i < n; i++)
        if (f[i].is_idx && f[i].h.rank == 3) {
            int j = find_labels(f, n, i);
            if (j >= 0) {
                partner[i] = j;
                f[i].used = f[j].used = 1;
            }
        }
    for (int i = 0; i < n; i++) {
        if (partner && partner[i] >= 0) {
            ft_ingest_source src = {.images_path = f[i].path, .labels_path = f[partner[i]].path};
            status |= inspect(&src, cfg);
        } else if (f[i].is_idx && !f[i].used) {
            fprintf(stderr, "%s: %s: an IDX %s file needs its %s file (give both, or --images and --labels)\n",
                    PROG, f[i].path, f[i].h.rank == 1 ? "labels" : "images", f[i].h.rank == 1 ? "images" : "labels");
            status = 1;
        } else if (!f[i].is_idx) {
            ft_ingest_source src = {.path = f[i].path};
            status |= inspect(&src, cfg);
        }
    }
    free(partner);
    free(f);
    return status;
}

int ft_cmd_dataset(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return usage(argc < 2 ? stderr : stdout);
    if (strcmp(argv[1], "inspect") != 0) {
        fprintf(stderr, "finetuned dataset: unknown subcommand '%s'\n", argv[1]);
        return usage(stderr);
    }
    static const struct {
        const char *flag, *key;
    } value_flags[] = {
        {"--label", "label"},   {"--task", "task"},           {"--image-size", "image_size"},
        {"--color", "color"},   {"--format", "format"},       {"--delimiter", "delimiter"},
    };
    inspect_cfg cfg = {0};
    /* The server's dataset budget, so that inspect answers as an upload would. */
    const char *budget = getenv("FINETUNED_MAX_DATASET_BYTES");
    size_t limit;
    if (budget && *budget) {
        if (ft_config_parse_size(budget, &limit) != 0 || limit == 0) {
            fprintf(stderr, "%s: FINETUNED_MAX_DATASET_BYTES must be a size such as 512M or 4G\n", PROG);
            return 2;
        }
        cfg.opt.max_dataset_bytes = limit;
    }
    const char *images = NULL, *labels = NULL;
    char **files = calloc((size_t)argc, sizeof *files);
    int nfiles = 0, status;
    if (!files)
        return 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        size_t k, nflags = sizeof value_flags / sizeof value_flags[0];
        for (k = 0; k < nflags && strcmp(a, value_flags[k].flag) != 0; k++)
            ;
        ft_error err = {0};
        if (k < nflags) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value\n", PROG, a);
                status = 2;
                goto done;
            }
            if (ft_ingest_option_set(&cfg.opt, value_flags[k].key, argv[++i], &err) != 0) {
                fprintf(stderr, "%s: %s: %s\n", PROG, a, err.msg);
                status = 2;
                goto done;
            }
        } else if ((strcmp(a, "--images") == 0 || strcmp(a, "--labels") == 0 || strcmp(a, "--save") == 0) &&
                   i + 1 < argc) {
            const char **slot = a[2] == 'i' ? &images : a[2] == 'l' ? &labels : &cfg.save;
            *slot = argv[++i];
        } else if (strcmp(a, "--no-header") == 0) {
            cfg.opt.no_header = true;
        } else if (strcmp(a, "--compact") == 0) {
            cfg.compact = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            status = usage(stdout);
            goto done;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "%s: unknown option '%s'\n", PROG, a);
            status = usage(stderr);
            goto done;
        } else {
            files[nfiles++] = argv[i];
        }
    }
    if ((images != NULL) != (labels != NULL)) {
        fprintf(stderr, "%s: --images and --labels go together\n", PROG);
        status = 2;
        goto done;
    }
    if (!images && nfiles == 0) {
        status = usage(stderr);
        goto done;
    }
    status = 0;
    if (images) {
        ft_ingest_source src = {.images_path = images, .labels_path = labels};
        status |= inspect(&src, &cfg);
    }
    if (nfiles)
        status |= inspect_files(files, nfiles, &cfg);
done:
    free(files);
    return status;
}
