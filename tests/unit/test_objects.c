/* The middle tier's pure parts: a dataset summary read back as the plan's
 * ft_data_info (core/job/data_info.c), the API objects (server/objects),
 * and the resource table the list/get/delete routes run on. */
#include "server/objects/objects.h"
#include "test.h"

/* The summary a classification ingest stores, read back: the numbers the
 * plan needs, class names pointing into the summary. */
static void test_classes_summary(void)
{
    json_t *s = json_loads("{\"rows\": 7, \"input_shape\": [1, 2, 3], \"dtype\": \"uint8\", \"task\": "
                           "\"classification\", \"classes\": [{\"name\": \"a\", \"count\": 4}, {\"name\": \"b\", "
                           "\"count\": 3}]}",
                           0, NULL);
    ft_data_info info;
    ft_error err = {0};
    CHECK(ft_data_info_from_summary(s, &info, &err) == 0);
    CHECK(info.rows == 7 && info.shape.rank == 3 && info.shape.dim[2] == 3 && info.xtype == FT_X_U8);
    CHECK(info.kind == FT_TARGET_CLASSES && info.target_dim == 2);
    CHECK(strcmp(info.class_names[1], "b") == 0 && info.class_counts[0] == 4 && info.class_counts[1] == 3);
    ft_data_info_free(&info);
    json_decref(s);
}

static void test_regression_summary(void)
{
    json_t *s = json_loads("{\"rows\": 5, \"input_shape\": [4], \"dtype\": \"float32\", \"task\": \"regression\", "
                           "\"targets\": {\"dim\": 2}}",
                           0, NULL);
    ft_data_info info;
    ft_error err = {0};
    CHECK(ft_data_info_from_summary(s, &info, &err) == 0);
    CHECK(info.kind == FT_TARGET_VALUES && info.target_dim == 2 && info.xtype == FT_X_F32 && !info.class_names);
    ft_data_info_free(&info);
    json_decref(s);
}

/* A damaged row is a format error, not a crash. */
static void test_bad_summaries(void)
{
    const char *bad[] = {"{\"rows\": 1}", "{\"rows\": 1, \"input_shape\": [2]}",
                         "{\"rows\": 1, \"input_shape\": [2], \"classes\": [{\"count\": 1}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *s = json_loads(bad[i], 0, NULL);
        ft_data_info info;
        ft_error err = {0};
        CHECKF(ft_data_info_from_summary(s, &info, &err) != 0 && err.code == FT_EFORMAT, "%s", bad[i]);
        json_decref(s);
    }
}

static void test_dataset_object(void)
{
    json_t *summary = json_pack("{s:i}", "rows", 3);
    json_t *o = ft_dataset_object(summary, "ds_1", "train.csv", 42);
    CHECK(json_integer_value(json_object_get(o, "rows")) == 3);
    CHECK(strcmp(json_string_value(json_object_get(o, "id")), "ds_1") == 0);
    CHECK(strcmp(json_string_value(json_object_get(o, "name")), "train.csv") == 0);
    CHECK(json_integer_value(json_object_get(o, "bytes")) == 42);
    CHECK(!json_object_get(summary, "id")); /* the summary is copied, not changed */
    json_decref(o);
    o = ft_dataset_object(summary, "ds_2", "\xff", 0); /* not UTF-8: no name */
    CHECK(json_is_null(json_object_get(o, "name")));
    json_decref(o);
    json_decref(summary);
}

static void test_job_object(void)
{
    ft_job_spec spec = {.json = json_pack("{s:s, s:{s:i}}", "name", "run", "metadata", "k", 1)};
    json_t *warnings = json_array();
    json_t *o = ft_job_object(&spec, "job_1", warnings, 3);
    CHECK(strcmp(json_string_value(json_object_get(o, "name")), "run") == 0);
    CHECK(json_integer_value(json_object_get(json_object_get(o, "metadata"), "k")) == 1);
    CHECK(json_integer_value(json_object_get(o, "max_attempts")) == 3);
    CHECK(json_object_get(o, "spec") == spec.json && json_object_get(o, "warnings") == warnings);
    json_decref(o);
    json_decref(spec.json);
    spec.json = json_object(); /* no name, no metadata */
    o = ft_job_object(&spec, "job_2", warnings, 1);
    CHECK(json_is_null(json_object_get(o, "name")) && json_object_size(json_object_get(o, "metadata")) == 0);
    json_decref(o);
    json_decref(spec.json);
    json_decref(warnings);
}

/* Every row can list and get; a kind with a stored file deletes it with
 * the row; jobs are never deleted and are the only list by status. */
static void test_resource_table(void)
{
    const ft_resource *rows[] = {&ft_resources[FT_RESOURCE_DATASET], &ft_resources[FT_RESOURCE_MODEL],
                                 &ft_resources[FT_RESOURCE_JOB]};
    const char *prefixes[] = {"ds", "mdl", "job"};
    for (int i = 0; i < 3; i++) {
        CHECK(rows[i]->object && rows[i]->get && rows[i]->list);
        CHECK(strcmp(rows[i]->id_prefix, prefixes[i]) == 0);
        CHECK(!rows[i]->file_path || rows[i]->remove);
    }
    CHECK(rows[0]->remove && rows[0]->file_path && rows[1]->remove && rows[1]->file_path);
    CHECK(!rows[2]->remove && rows[2]->list_by_status && !rows[0]->list_by_status);
}

int main(void)
{
    RUN(test_classes_summary);
    RUN(test_regression_summary);
    RUN(test_bad_summaries);
    RUN(test_dataset_object);
    RUN(test_job_object);
    RUN(test_resource_table);
    return TEST_SUMMARY();
}
