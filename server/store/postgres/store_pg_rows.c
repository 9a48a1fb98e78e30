/* The text forms the PostgreSQL driver speaks with libpq: statements'
 * parameters bound as text ($N placeholders, text values, their types),
 * and the rows of a result read back (see store_pg_internal.h). */
#include "server/store/postgres/store_pg_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    ft_db_rows base;
    PGresult *res;
    int row, nrows;      /* current row (-1 before the first) and count */
} pg_rows;

/* sql with SQLite's ?N parameters as PostgreSQL's $N (quoted text and
 * identifiers left alone). The same length, so out has strlen(sql) + 1. */
void ft_pg_dollar_params(const char *sql, char *out)
{
    char quote = 0;
    for (; *sql; sql++, out++) {
        *out = *sql;
        if (quote) {
            if (*sql == quote)
                quote = 0;
        } else if (*sql == '\'' || *sql == '"') {
            quote = *sql;
        } else if (*sql == '?' && sql[1] >= '0' && sql[1] <= '9') {
            *out = '$';
        }
    }
    *out = '\0';
}

/* The text form of parameters p[0..n) in values (integers printed into
 * ints), and their types: int8 for integers, text for the rest (JSON and
 * NULL included). */
void ft_pg_bind_values(const ft_db_param *p, int n, char (*ints)[24], const char **values, Oid *types)
{
    for (int i = 0; i < n; i++) {
        types[i] = p[i].type == 'I' ? PG_INT8_OID : PG_TEXT_OID;
        if (p[i].type == 'I')
            snprintf(ints[i], sizeof ints[i], "%" PRId64, p[i].i);
        values[i] = p[i].type == 't' ? p[i].text : p[i].type == 'I' ? ints[i] : NULL;
    }
}

/* Rows over res (freed with them); NULL, res freed, when out of memory. */
ft_db_rows *ft_pg_rows_of(const ft_db_driver *drv, PGresult *res, ft_error *err)
{
    pg_rows *r = calloc(1, sizeof *r);
    if (!r) {
        PQclear(res);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    r->base.drv = drv;
    r->res = res;
    r->row = -1;
    r->nrows = PQntuples(res);
    return &r->base;
}

int ft_pg_next(ft_db_rows *base, ft_error *err)
{
    (void)err;
    pg_rows *r = (pg_rows *)base;
    return ++r->row < r->nrows ? 1 : 0;
}

int64_t ft_pg_changes(ft_db_rows *base)
{
    const char *n = PQcmdTuples(((pg_rows *)base)->res);
    return n && *n ? strtoll(n, NULL, 10) : 0;
}

void ft_pg_done(ft_db_rows *base)
{
    pg_rows *r = (pg_rows *)base;
    PQclear(r->res);
    free(r);
}

bool ft_pg_is_null(ft_db_rows *base, int i)
{
    pg_rows *r = (pg_rows *)base;
    return PQgetisnull(r->res, r->row, i);
}

const char *ft_pg_text(ft_db_rows *base, int i)
{
    pg_rows *r = (pg_rows *)base;
    return PQgetisnull(r->res, r->row, i) ? NULL : PQgetvalue(r->res, r->row, i);
}

int64_t ft_pg_integer(ft_db_rows *base, int i)
{
    const char *t = ft_pg_text(base, i);
    return t ? strtoll(t, NULL, 10) : 0;
}
