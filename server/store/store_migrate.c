/* Opening the store: a new store (store_db.c) brought up to the newest
 * schema by the NNNN_name.sql files of its backend's migrations folder
 * (migrations/ for SQLite, migrations/postgres/ for PostgreSQL), applied in
 * numeric order.
 *
 * The backend records the number of the last migration applied (SQLite's
 * PRAGMA user_version, PostgreSQL's schema_migrations table) inside the
 * migration's own transaction, so "schema changed" and "version bumped" are
 * one atomic step: a crash mid-migration leaves the previous version, and
 * the migration runs again at the next start. Each transaction takes the
 * backend's migration lock and re-reads the version first, so two
 * processes starting at once cannot apply the same migration twice.
 */
#include "server/store/store_db.h"

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

static int user_version(ft_db_conn *c, ft_error *err)
{
    int64_t version = 0;
    int rc = ft_db_scalar(c, ft_db_sql(c)->schema_version, &version, err, "");
    if (rc == 0)
        ft_fail(err, FT_EIO, NULL, "the schema version query returned no row");
    return rc == 1 ? (int)version : -1;
}

int ft_store_schema_version(ft_store *s)
{
    ft_error err;
    ft_db_conn *c = ft_db_acquire(s, &err);
    int version = c ? user_version(c, &err) : -1;
    ft_db_release(c);
    return version;
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

static int apply(ft_db_conn *c, const char *dir, const migration *m, ft_error *err)
{
    char path[4096 + 256 + 2];
    snprintf(path, sizeof path, "%s/%s", dir, m->name);
    unsigned char *sql;
    size_t len;
    if (ft_read_file(path, FT_MIGRATION_MAX_BYTES, &sql, &len, err) != 0)
        return -1;
    const ft_db_dialect *d = ft_db_sql(c);
    int rc = ft_db_begin(c, err);
    if (rc == 0) {
        int version = d->schema_lock && c->drv->exec(c, d->schema_lock, err) != 0 ? -1 : user_version(c, err);
        if (version < 0)
            rc = -1;
        else if (version < m->number) {
            char bump[128];
            snprintf(bump, sizeof bump, d->schema_bump, m->number);
            rc = c->drv->exec(c, (const char *)sql, err);
            if (rc == 0)
                rc = c->drv->exec(c, bump, err);
            if (rc != 0)
                ft_error_prefix(err, "migration %s", path);
        }
        rc = ft_db_end(c, rc, err);
    }
    free(sql);
    return rc;
}

/* Apply the migrations newer than the database's version; refuse a
 * database newer than the newest file. */
static int migrate(ft_store *s, ft_db_conn *c, const char *root, ft_error *err)
{
    const ft_db_dialect *d = ft_db_sql(c);
    char migrations_dir[4096];
    snprintf(migrations_dir, sizeof migrations_dir, "%s%s%s", root, d->migrations_subdir[0] ? "/" : "",
             d->migrations_subdir);
    if (d->schema_bootstrap && c->drv->exec(c, d->schema_bootstrap, err) != 0)
        return -1;
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
                     s->target, version, migrations_dir, m[n - 1].number);
    for (int i = 0; i < n && rc == 0; i++)
        if (m[i].number > version)
            rc = apply(c, migrations_dir, &m[i], err);
    free(m);
    return rc;
}

ft_store *ft_store_open(const char *target, const char *migrations_dir, ft_error *err)
{
    ft_store *s = ft_db_store_open(target, err);
    ft_db_conn *c = s ? ft_db_acquire(s, err) : NULL;
    int rc = c ? migrate(s, c, migrations_dir, err) : -1;
    ft_db_release(c);
    if (s && rc != 0) {
        ft_store_close(s);
        return NULL;
    }
    return s;
}
