/* Image-folder datasets, from a tar (or tar.gz) or a zip of
 * <class>/<name>.png|.jpg, the layout of Keras' image_dataset_from_directory.
 *
 * Entry names are only ever labels: nothing is written to disk. Absolute
 * names, ".." components, links, devices, FIFOs and encrypted files are
 * refused; hidden files (".DS_Store", "._x.png") and files that are not
 * images are skipped and listed in the summary. If every image sits under
 * one common directory ("mydata/cat/1.png"), that directory is the root; the
 * first component below the root is the class, and images deeper inside a
 * class directory belong to it (as in Keras).
 *
 * Geometry: image_size if given, else the images' own size when they all
 * have one, else 256x256. Each image is resized to cover it keeping its
 * aspect ratio, then center-cropped (fit=crop, the default), or resized to
 * it whatever its aspect ratio (fit=squash). 256x256 because it is what
 * ImageNet models' Resize(256) + CenterCrop(224) sees: a model of that
 * family then crops exactly, with no second resize. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/data/archive.h"
#include "core/data/image.h"
#include "core/data/image_folder.h"
#include "core/data/parse_helpers.h"

#define MAX_SKIPPED_LISTED 20
#define MIXED_SIZE 256 /* the side of the geometry of mixed sizes (see above) */

typedef struct {
    const ft_ingest_options *opt;
    json_t *info;
    ft_archive *ar;
    unsigned char *buf;     /* one entry's bytes */
    size_t buf_cap;
    int out_h, out_w, ch;   /* row geometry, fixed before the first image is decoded (and ch by it) */
    int seen_h, seen_w;     /* the pre-scan: the first image's size (0: none read yet) */
    bool mixed;             /* the pre-scan: images of different sizes */
    size_t row_bytes;
    ft_chunkbuf x;          /* image rows */
    ft_chunkbuf dir_of_row; /* per row: uint32 id in dirs */
    ft_strtab *dirs;        /* parent directories of images */
    ft_strtab *other_dirs;  /* directory entries and parents of skipped files */
    json_t *skipped;        /* first skipped entries, with reasons */
    uint64_t nskipped, rows, resized;
    int counting;           /* the pre-scan: count images and read their sizes, decode nothing */
    uint64_t images;        /* what the pre-scan counted (the budget's row count) */
} tar_images;

static int entry_fail(ft_error *err, ft_errcode code, const char *name, const char *what)
{
    char text[256];
    ft_msg_text(text, sizeof text, name, strlen(name));
    return ft_fail(err, code, NULL, "entry '%s': %s", text, what);
}

/* Normalise an entry name into out (same size or larger): drop "." and empty
 * components; refuse absolute names and "..". Sets *hidden if a component
 * starts with '.', *depth to the number of components. */
static int normalise(const char *name, char *out, int *depth, int *hidden, ft_error *err)
{
    if (!ft_utf8_valid(name, strlen(name)))
        return entry_fail(err, FT_EFORMAT, name, "the name is not valid UTF-8");
    if (name[0] == '/')
        return entry_fail(err, FT_EFORMAT, name, "absolute paths are not allowed in a dataset archive");
    size_t w = 0;
    *depth = 0;
    *hidden = 0;
    for (const char *p = name; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return entry_fail(err, FT_EFORMAT, name, "'..' is not allowed in entry names");
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (p[0] == '.')
                *hidden = 1;
            if (w)
                out[w++] = '/';
            memcpy(out + w, p, n);
            w += n;
            (*depth)++;
        }
        p += n + (e != NULL);
    }
    out[w] = '\0';
    return 0;
}

static void skip(tar_images *t, const char *name, const char *reason)
{
    t->nskipped++;
    if (json_array_size(t->skipped) < MAX_SKIPPED_LISTED)
        json_array_append_new(t->skipped, json_pack("{s:s, s:s}", "entry", name, "reason", reason));
}

static int intern_parent(ft_strtab *tab, const char *path, uint32_t *id, ft_error *err)
{
    const char *slash = strrchr(path, '/');
    int added;
    return ft_strtab_intern(tab, path, slash ? (size_t)(slash - path) : 0, id, &added, err);
}

/* Whether the counted images, h x w x ch bytes each plus a label, fit the
 * dataset budget. */
static int budget(const tar_images *t, const char *path, int h, int w, int ch, ft_error *err)
{
    uint64_t row_bytes = (uint64_t)h * (uint64_t)w * (uint64_t)ch + sizeof(int32_t);
    if (ft_ingest_budget(t->images, row_bytes, t->opt->max_dataset_bytes, err) == 0)
        return 0;
    char text[256];
    ft_msg_text(text, sizeof text, path, strlen(path));
    ft_error_prefix(err, "entry '%s': %llu images of %dx%dx%d", text, (unsigned long long)t->images, h, w, ch);
    return -1;
}

/* The pre-scan's part of an image: count it, note its size (which the
 * decoder checks again: this is only an early refusal of pixel bombs). */
static int count_image(tar_images *t, const char *path, size_t len, ft_error *err)
{
    int w, h;
    t->rows++;
    if (ft_image_size(t->buf, len, &w, &h) != 0)
        return 0; /* the decoding pass names the problem */
    if ((uint64_t)w * (uint64_t)h > t->opt->max_image_pixels) {
        char what[128];
        snprintf(what, sizeof what, "the image is %dx%d pixels, more than the limit of %llu", w, h,
                 (unsigned long long)t->opt->max_image_pixels);
        return entry_fail(err, FT_ETOOBIG, path, what);
    }
    if (!t->seen_h) {
        t->seen_h = h;
        t->seen_w = w;
    }
    t->mixed = t->mixed || h != t->seen_h || w != t->seen_w;
    return 0;
}

/* Decode one image entry and append it as a row. */
static int add_image(tar_images *t, const char *path, const ft_archive_entry *e, ft_error *err)
{
    if (e->size > t->opt->max_entry_bytes) {
        char what[128];
        snprintf(what, sizeof what, "%llu bytes exceed the limit of %llu for one file",
                 (unsigned long long)e->size, (unsigned long long)t->opt->max_entry_bytes);
        return entry_fail(err, FT_ETOOBIG, path, what);
    }
    size_t len;
    if (ft_archive_read(t->ar, t->opt->max_entry_bytes, t->opt->max_decompressed_bytes, &t->buf, &t->buf_cap, &len,
                        err) != 0)
        return -1;
    if (t->counting)
        return count_image(t, path, len, err);
    /* Stored size from the geometry x the counted images, before decoding any. */
    if (t->rows == 0 && t->out_h &&
        budget(t, path, t->out_h, t->out_w, t->opt->color == FT_COLOR_RGB ? 3 : 1, err) != 0)
        return -1;
    ft_image im;
    if (ft_image_decode(t->buf, len, t->opt->max_image_pixels, &im, err) != 0) {
        ft_error_prefix(err, "entry '%s'", path);
        return -1;
    }
    if (t->rows == 0) {
        if (!t->out_h) {
            t->out_h = im.height;
            t->out_w = im.width;
        }
        t->ch = t->opt->color == FT_COLOR_GRAYSCALE ? 1 : t->opt->color == FT_COLOR_RGB ? 3 : im.channels;
        t->row_bytes = (size_t)t->ch * (size_t)t->out_h * (size_t)t->out_w;
        if (budget(t, path, t->out_h, t->out_w, t->ch, err) != 0) { /* now exact: every row takes as much */
            ft_image_free(&im);
            return -1;
        }
    }
    int rc = -1;
    uint32_t *dir;
    uint8_t *row;
    ft_resize_geom g = t->opt->fit == FT_FIT_SQUASH ? ft_geom_squash(t->out_h, t->out_w)
                                                     : ft_geom_cover(im.height, im.width, t->out_h, t->out_w);
    if ((row = ft_chunkbuf_reserve(&t->x, t->row_bytes, err)) &&
               (dir = ft_chunkbuf_reserve(&t->dir_of_row, sizeof *dir, err)) &&
               intern_parent(t->dirs, path, dir, err) == 0 &&
               ft_image_to_chw_geom(&im, t->ch, &g, row, err) == 0) {
        t->resized += im.height != t->out_h || im.width != t->out_w;
        t->rows++;
        rc = 0;
    }
    ft_image_free(&im);
    return rc;
}

/* Whether a name ends with an image suffix (.png, .jpg, .jpeg). */
static bool image_name(const char *path)
{
    static const char *const suffixes[] = {".png", ".jpg", ".jpeg"};
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t k = strlen(suffixes[i]);
        if (n >= k && strcasecmp(path + n - k, suffixes[i]) == 0)
            return true;
    }
    return false;
}

static int on_entry(tar_images *t, const ft_archive_entry *e, char *path, ft_error *err)
{
    int depth = 0, hidden = 0;
    if (normalise(e->name, path, &depth, &hidden, err) != 0)
        return -1;
    static const char *const refused[] = {
        [FT_ENTRY_SYMLINK] = "is a symbolic link; links, devices and FIFOs are not allowed in a dataset archive",
        [FT_ENTRY_HARDLINK] = "is a hard link; links, devices and FIFOs are not allowed in a dataset archive",
        [FT_ENTRY_DEVICE] = "is a device file; links, devices and FIFOs are not allowed in a dataset archive",
        [FT_ENTRY_FIFO] = "is a FIFO; links, devices and FIFOs are not allowed in a dataset archive",
        [FT_ENTRY_ENCRYPTED] = "is encrypted; encrypted entries are not supported",
        [FT_ENTRY_OTHER] = "is not a regular file or a directory",
    };
    if (e->type >= FT_ENTRY_SYMLINK) {
        char text[256];
        ft_msg_text(text, sizeof text, e->name, strlen(e->name));
        return ft_fail(err, FT_EFORMAT, NULL, "entry '%s' %s", text, refused[e->type]);
    }
    if (depth == 0 || hidden) {
        if (hidden && e->type == FT_ENTRY_FILE)
            skip(t, path, "hidden file");
        return 0;
    }
    int added;
    uint32_t id;
    if (e->type == FT_ENTRY_DIR)
        return ft_strtab_intern(t->other_dirs, path, strlen(path), &id, &added, err);
    if (!image_name(path)) {
        skip(t, path, "not a .png or .jpg file");
        return intern_parent(t->other_dirs, path, &id, err);
    }
    if (depth == 1)
        return entry_fail(err, FT_EFORMAT, path, "images must be inside a class directory (<class>/<name>.png)");
    return add_image(t, path, e, err);
}

/* How many leading components two paths share. */
static int shared_components(const char *a, const char *b)
{
    for (int k = 0;; k++) {
        size_t na = strcspn(a, "/"), nb = strcspn(b, "/");
        if (na != nb || memcmp(a, b, na) != 0)
            return k;
        if (!a[na] || !b[nb])
            return k + 1;
        a += na + 1;
        b += nb + 1;
    }
}

static int depth_of(const char *d)
{
    int n = 1;
    for (; *d; d++)
        n += *d == '/';
    return n;
}

/* Components shared by every image's directory, leaving at least one (the
 * class) below them. */
static int root_depth(const ft_strtab *dirs)
{
    const char *first = ft_strtab_get(dirs, 0);
    int shared = depth_of(first), min_depth = shared;
    for (uint32_t i = 1; i < ft_strtab_count(dirs); i++) {
        const char *d = ft_strtab_get(dirs, i);
        int s = shared_components(first, d), depth = depth_of(d);
        shared = s < shared ? s : shared;
        min_depth = depth < min_depth ? depth : min_depth;
    }
    return shared < min_depth - 1 ? shared : min_depth - 1;
}

/* Component `k` (0-based) of path into out; 0 if the path is shorter. */
static int component(const char *path, int k, char *out, size_t cap)
{
    const char *p = path;
    for (int i = 0; i < k; i++) {
        p = strchr(p, '/');
        if (!p)
            return 0;
        p++;
    }
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= cap)
        return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

/* Whether path starts with the first `depth` components of ref. */
static int same_root(const char *path, const char *ref, int depth)
{
    const char *a = path, *b = ref;
    for (int i = 0; i < depth; i++) {
        size_t na = strcspn(a, "/"), nb = strcspn(b, "/");
        if (na != nb || memcmp(a, b, na) != 0 || !a[na] || !b[nb])
            return 0;
        a += na + 1;
        b += nb + 1;
    }
    return 1;
}

typedef struct {
    const char *name;
    uint32_t id;
} named_id;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const named_id *)a)->name, ((const named_id *)b)->name);
}

/* The first n components of path, joined, into out. */
static void leading(const char *path, int n, char *out, size_t cap)
{
    size_t len = 0;
    for (int i = 0; i < n && path[len]; i++) {
        len += strcspn(path + len, "/");
        if (i + 1 < n && path[len])
            len++;
    }
    if (len >= cap)
        len = cap - 1;
    memcpy(out, path, len);
    out[len] = '\0';
}

static int build(tar_images *t, ft_dataset **out, ft_error *err)
{
    uint32_t ndirs = (uint32_t)ft_strtab_count(t->dirs);
    int root = root_depth(t->dirs);
    const char *ref = ft_strtab_get(t->dirs, 0);
    ft_strtab *classes = ft_strtab_new();
    uint32_t *class_of_dir = calloc(ndirs, sizeof *class_of_dir);
    named_id *sorted = NULL;
    char name[4096];
    uint32_t *rank = NULL;
    ft_dataset *ds = NULL;
    int rc = -1, added;
    if (!classes || !class_of_dir) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < ndirs; i++)
        if (!component(ft_strtab_get(t->dirs, i), root, name, sizeof name) ||
            ft_strtab_intern(classes, name, strlen(name), &class_of_dir[i], &added, err) != 0)
            goto done;
    /* A class directory without a single image is a mistake worth reporting. */
    for (uint32_t i = 0; i < ft_strtab_count(t->other_dirs); i++) {
        const char *d = ft_strtab_get(t->other_dirs, i);
        uint32_t id;
        size_t before = ft_strtab_count(classes);
        if (!same_root(d, ref, root) || !component(d, root, name, sizeof name))
            continue;
        if (ft_strtab_intern(classes, name, strlen(name), &id, &added, err) != 0)
            goto done;
        if (ft_strtab_count(classes) > before) {
            char dir[4096], text[256];
            leading(d, root + 1, dir, sizeof dir);
            ft_msg_text(text, sizeof text, dir, strlen(dir));
            ft_fail(err, FT_EFORMAT, NULL, "class directory '%s' has no PNG or JPEG images%s", text,
                    t->nskipped ? " (see the skipped files)" : "");
            goto done;
        }
    }
    size_t k = ft_strtab_count(classes);
    if (k > t->opt->max_classes) {
        ft_fail(err, FT_ETOOBIG, NULL, "%zu class directories are more than the limit of %llu classes", k,
                (unsigned long long)t->opt->max_classes);
        goto done;
    }
    sorted = malloc(k * sizeof *sorted);
    rank = malloc(k * sizeof *rank);
    if (!sorted || !rank || k > INT32_MAX) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < k; i++)
        sorted[i] = (named_id){ft_strtab_get(classes, (uint32_t)i), (uint32_t)i};
    qsort(sorted, k, sizeof *sorted, by_name); /* Keras order: sorted class names */
    for (size_t i = 0; i < k; i++)
        rank[sorted[i].id] = (uint32_t)i;
    if (!(ds = ft_dataset_new(t->rows, ft_shape3(t->ch, t->out_h, t->out_w), FT_X_U8, FT_TARGET_CLASSES,
                              (int)k, err)))
        goto done;
    for (size_t i = 0; i < k; i++)
        if (ft_dataset_set_class_name(ds, (int)i, sorted[i].name, err) != 0)
            goto done;
    int32_t *y = ft_dataset_labels(ds);
    size_t row = 0;
    for (size_t c = 0; c < t->dir_of_row.n; c++) {
        const uint32_t *d = (const uint32_t *)(void *)t->dir_of_row.chunk[c].data;
        for (size_t j = 0; j < t->dir_of_row.chunk[c].used / sizeof *d; j++)
            y[row++] = (int32_t)rank[class_of_dir[d[j]]];
    }
    ft_chunkbuf_drain(&t->x, ft_dataset_x_u8(ds));
    if (root > 0) {
        char rootdir[4096];
        leading(ref, root, rootdir, sizeof rootdir);
        json_object_set_new(t->info, "root", json_string(rootdir));
    }
    if (k == 1)
        ft_info_warn(t->info, "all images are in one class ('%s')", sorted[0].name);
    *out = ds;
    ds = NULL;
    rc = 0;
done:
    ft_dataset_free(ds);
    ft_strtab_free(classes);
    free(class_of_dir);
    free(sorted);
    free(rank);
    return rc;
}

/* Every entry of the archive through on_entry; *entries counts them. */
static int walk(tar_images *t, uint64_t *entries, ft_error *err)
{
    ft_archive_entry e;
    char *path = NULL;
    int rc;
    *entries = 0;
    while ((rc = ft_archive_next(t->ar, &e, err)) == 1) {
        (*entries)++;
        char *p = realloc(path, strlen(e.name) + 1);
        if (!p) {
            rc = ft_fail(err, FT_ENOMEM, NULL, "out of memory");
            break;
        }
        path = p;
        if (on_entry(t, &e, path, err) != 0) {
            rc = -1;
            break;
        }
    }
    free(path);
    return rc < 0 ? -1 : 0;
}

static int parse(tar_images *t, ft_dataset **out, ft_error *err)
{
    uint64_t entries;
    if (walk(t, &entries, err) != 0)
        return -1;
    if (t->rows == 0)
        return ft_fail(err, FT_EFORMAT, NULL, entries ? "the archive holds no PNG or JPEG images%s" : "the archive is empty%s",
                       t->nskipped ? " (see the skipped files)" : "");
    if (build(t, out, err) != 0)
        return -1;
    json_object_set_new(t->info, "image_size", json_pack("[i, i]", t->out_h, t->out_w));
    json_object_set_new(t->info, "color", json_string(t->ch == 1 ? "grayscale" : "rgb"));
    if (t->resized) {
        json_object_set_new(t->info, "resized", json_integer((json_int_t)t->resized));
        json_object_set_new(t->info, "fit", json_string(t->opt->fit == FT_FIT_SQUASH ? "squash" : "crop"));
    }
    if (t->nskipped) {
        json_object_set(t->info, "skipped", t->skipped);
        json_object_set_new(t->info, "skipped_count", json_integer((json_int_t)t->nskipped));
    }
    return 0;
}

/* The archive on `in` (tar) or in `file` (zip). */
static ft_archive *open_archive(ft_stream *in, const ft_format_file *file, bool zip, ft_error *err)
{
    if (!zip)
        return ft_archive_open_tar(in, err);
    if (ft_stream_is_gzip(in)) {
        ft_fail(err, FT_EFORMAT, NULL, "a gzip-compressed zip archive is not supported; upload the .zip itself");
        return NULL;
    }
    return ft_archive_open_zip(file->path, file->data, file->len, err);
}

static int tar_images_init(tar_images *t, ft_stream *in, const ft_format_file *file, bool zip,
                           const ft_ingest_options *opt, json_t *info, ft_error *err)
{
    memset(t, 0, sizeof *t);
    t->opt = opt;
    t->info = info;
    ft_chunkbuf_init(&t->x, 4u << 20);
    ft_chunkbuf_init(&t->dir_of_row, 1u << 16);
    t->dirs = ft_strtab_new();
    t->other_dirs = ft_strtab_new();
    t->skipped = json_array();
    if (!t->dirs || !t->other_dirs || !t->skipped)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    return (t->ar = open_archive(in, file, zip, err)) ? 0 : -1;
}

static void tar_images_free(tar_images *t)
{
    ft_archive_free(t->ar);
    ft_strtab_free(t->dirs);
    ft_strtab_free(t->other_dirs);
    json_decref(t->skipped);
    ft_chunkbuf_free(&t->x);
    ft_chunkbuf_free(&t->dir_of_row);
    free(t->buf);
}

/* The archive is read twice: once to count its images and read their sizes
 * (so that the geometry is known and the dataset budget checked before any
 * image is decoded), then to decode them. */
int ft_image_folder_parse(const ft_format_file *files, bool zip, const ft_ingest_options *opt, ft_dataset **out,
                          json_t *info, ft_error *err)
{
    tar_images t;
    uint64_t entries, images = 0;
    int seen_h = 0, seen_w = 0;
    bool mixed = false;
    ft_stream *prescan = ft_format_file_open(&files[0], err);
    int rc = prescan ? ft_stream_auto_gunzip(prescan, opt, err) : -1;
    if (rc == 0) {
        rc = tar_images_init(&t, prescan, &files[0], zip, opt, NULL, err);
        t.counting = 1;
        if (rc == 0)
            rc = walk(&t, &entries, err);
        images = t.rows;
        seen_h = t.seen_h;
        seen_w = t.seen_w;
        mixed = t.mixed;
        tar_images_free(&t);
    }
    ft_stream_close(prescan);
    if (rc != 0)
        return -1;
    if (tar_images_init(&t, files[0].stream, &files[0], zip, opt, info, err) == 0) {
        t.images = images;
        /* 0 (no image had a readable header): the first image's, once decoded */
        t.out_h = opt->image_height ? opt->image_height : mixed ? MIXED_SIZE : seen_h;
        t.out_w = opt->image_width ? opt->image_width : mixed ? MIXED_SIZE : seen_w;
        rc = parse(&t, out, err);
    } else {
        rc = -1;
    }
    tar_images_free(&t);
    return rc;
}

/* Colour, output size and fit from the first byte. */
size_t ft_image_folder_fuzz_options(const uint8_t *data, size_t size, ft_ingest_options *o)
{
    (void)size;
    o->color = (ft_color)(data[0] % 3);
    if (data[0] & 4)
        o->image_height = o->image_width = 1 + (data[0] >> 4);
    o->fit = data[0] & 8 ? FT_FIT_SQUASH : FT_FIT_CROP;
    return 1;
}
