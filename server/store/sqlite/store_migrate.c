/* Opening the store: a new store (store_sqlite.c) brought up to the newest
 * schema by the migrations_dir/NNNN_name.sql files, applied in numeric order.
 *
 * PRAGMA user_version records the number of the last migration applied. It
 * lives in the database header, so setting it inside the migration's own
 * transaction makes "schema changed" and "version bumped" one atomic step: a
 * crash mid-migration leaves the previous version, and the migration runs
 * again at the next start. Each transaction re-reads the version after
 * taking the write lock, so two processes starting at once cannot apply the
 * same migration twice.
 */
#include "server/store/sqlite/store_sqlite_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/fsutil.h"

#define FT_MIGRATION_MAX_BYTES (16u << 20)

typedef struct {
    int number;      /* NNNN */
    char name[256];  /* file name, for messages */
} migration;

static int user_version(ft_sq_connection *c, ft_error *err)
{
    sqlite3_stmt *st = ft_sq_query(c, "PRAGMA user_version", err, "");
    if (!st)
        return -1;
    int version = ft_sq_step(c, st, err) == 1 ? sqlite3_column_int(st, 0) : -1;
    ft_sq_release(c, st);
    return version;
}

int ft_store_schema_version(ft_store *s)
{
    ft_error err;
    ft_sq_connection *c = ft_sq_conn(s, &err);
    return c ? user_version(c, &err) : -1;
}

/* The migration number of "0001_init.sql", or 0 if the name is not one. */
static int migration_number(const char *name)
{
    size_t digits = strspn(name, "0123456789");
    size_t len = strlen(name);
    if (digits == 0 || digits > 6 || name[digits] != '_' || len < digits + 5 ||
        strcmp(name + len - 4, ".sql") != 0)
        return 0;
    return atoi(name);
}

static int by_number(const void *a, const void *b)
{
    const migration *x = a, *y = b;
    return (x->number > y->number) - (x->number < y->number);
}

/* The migrations of dir, sorted; *n may be 0. */
static int list_migrations(const char *dir, migration **out, int *n, ft_error *err)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return ft_fail(err, FT_EIO, NULL, "cannot open the migrations directory %s: %s", dir,
                       strerror(errno));
    int cap = 0, rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        int number = migration_number(e->d_name);
        if (number <= 0)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            migration *grown = realloc(*out, (size_t)cap * sizeof **out);
            if (!grown) {
                rc = ft_fail(err, FT_ENOMEM, NULL, "out of memory listing %s", dir);
                break;
            }
            *out = grown;
        }
        (*out)[*n].number = number;
        snprintf((*out)[*n].name, sizeof (*out)[*n].name, "%s", e->d_name);
        (*n)++;
    }
    closedir(d);
    if (rc == 0 && *n > 0) {
        qsort(*out, (size_t)*n, sizeof **out, by_number);
        for (int i = 1; i < *n && rc == 0; i++)
            if ((*out)[i].number == (*out)[i - 1].number)
                rc = ft_fail(err, FT_EINVAL, NULL, "%s: migrations %s and %s have the same number", dir,
                             (*out)[i - 1].name, (*out)[i].name);
    }
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static int apply(ft_sq_connection *c, const char *dir, const migration *m, ft_error *err)
{
    char path[4096 + 256 + 2];
    snprintf(path, sizeof path, "%s/%s", dir, m->name);
    unsigned char *sql;
    size_t len;
    if (ft_read_file(path, FT_MIGRATION_MAX_BYTES, &sql, &len, err) != 0)
        return -1;
    int rc = ft_sq_begin(c, err);
    if (rc == 0) {
        int version = user_version(c, err);
        if (version < 0)
            rc = -1;
        else if (version < m->number) {
            char bump[64];
            snprintf(bump, sizeof bump, "PRAGMA user_version = %d", m->number);
            rc = ft_sq_exec(c, (const char *)sql, err);
            if (rc == 0)
                rc = ft_sq_exec(c, bump, err);
            if (rc != 0)
                ft_error_prefix(err, "migration %s", path);
        }
        rc = ft_sq_end(c, rc, err);
    }
    free(sql);
    return rc;
}

/* Apply the migrations newer than PRAGMA user_version; refuse a database
 * newer than the newest file. */
static int migrate(ft_sq_connection *c, const char *migrations_dir, ft_error *err)
{
    migration *m;
    int n;
    if (list_migrations(migrations_dir, &m, &n, err) != 0)
        return -1;
    int rc = 0;
    int version = user_version(c, err);
    if (n == 0)
        rc = ft_fail(err, FT_EIO, NULL, "no migrations (NNNN_name.sql files) in %s", migrations_dir);
    else if (version < 0)
        rc = -1;
    else if (version > m[n - 1].number)
        rc = ft_fail(err, FT_EINVAL, NULL,
                     "%s is at schema version %d but the newest migration in %s is %d: the database is "
                     "from a newer finetuned; run that version or upgrade this one",
                     c->store->path, version, migrations_dir, m[n - 1].number);
    for (int i = 0; i < n && rc == 0; i++)
        if (m[i].number > version)
            rc = apply(c, migrations_dir, &m[i], err);
    free(m);
    return rc;
}

ft_store *ft_store_open(const char *path, const char *migrations_dir, ft_error *err)
{
    ft_store *s = ft_sq_store_new(path, err);
    ft_sq_connection *c = s ? ft_sq_conn(s, err) : NULL;
    if (s && (!c || migrate(c, migrations_dir, err) != 0)) {
        ft_store_close(s);
        return NULL;
    }
    return s;
}
