/* Unit tests for db_sql_statement (service/db/db.c): how db_exec_const cuts
 * constant SQL (a migration file) into statements for PQexecParams. Every
 * compiled-in migration is also run statement by statement by the API tests,
 * which migrate an empty database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "db/db.h"
#include "embedded.h"

/* The statements of sql, each cut where db_sql_statement says, joined by '|'
 * (empty pieces shown as "<empty>"). */
static void split(const char *sql, char *out, size_t len)
{
    out[0] = '\0';
    while (*sql) {
        bool empty;
        size_t n = db_sql_statement(sql, &empty);
        assert_true(n > 0);
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%.*s", used ? "|" : "", (int)(empty ? 7 : n), empty ? "<empty>" : sql);
        sql += n;
    }
}

static void test_plain_statements(void **state)
{
    (void)state;
    char out[512];
    split("BEGIN; SET LOCAL statement_timeout = 60000", out, sizeof out);
    assert_string_equal(out, "BEGIN;| SET LOCAL statement_timeout = 60000");
    split("COMMIT", out, sizeof out);
    assert_string_equal(out, "COMMIT");
    split("SELECT 1;\n-- done; really\n", out, sizeof out);
    assert_string_equal(out, "SELECT 1;|<empty>");
}

static void test_semicolons_inside_do_not_cut(void **state)
{
    (void)state;
    char out[1024];
    split("SELECT 'a;b', 'it''s; ok';", out, sizeof out);
    assert_string_equal(out, "SELECT 'a;b', 'it''s; ok';");
    split("SELECT 1 AS \"x;y\"; SELECT 2;", out, sizeof out);
    assert_string_equal(out, "SELECT 1 AS \"x;y\";| SELECT 2;");
    split("CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$; SELECT 3;", out,
          sizeof out);
    assert_string_equal(out, "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;| SELECT 3;");
    split("DO $body$ BEGIN PERFORM '$$;'; END $body$; SELECT $1;", out, sizeof out);
    assert_string_equal(out, "DO $body$ BEGIN PERFORM '$$;'; END $body$;| SELECT $1;");
    split("/* a; /* nested; */ still; */ SELECT 4; -- x;\nSELECT 5", out, sizeof out);
    assert_string_equal(out, "/* a; /* nested; */ still; */ SELECT 4;| -- x;\nSELECT 5");
}

static void test_unterminated_text_ends_at_the_end(void **state)
{
    (void)state;
    bool empty;
    assert_int_equal(db_sql_statement("SELECT 'open; forever", &empty), strlen("SELECT 'open; forever"));
    assert_false(empty);
    assert_int_equal(db_sql_statement("SELECT $q$ open;", &empty), strlen("SELECT $q$ open;"));
    assert_int_equal(db_sql_statement("/* open; ", &empty), strlen("/* open; "));
    assert_true(empty);
}

/* Every migration splits into statements that end with ';' (the files end
 * each statement so), and none holds two top-level statements. */
static void test_migrations_split_into_whole_statements(void **state)
{
    (void)state;
    for (size_t i = 0; i < embedded_migrations_count; i++) {
        const char *sql = embedded_migrations[i].data;
        size_t statements = 0;
        while (*sql) {
            bool empty;
            size_t n = db_sql_statement(sql, &empty);
            if (!empty) {
                statements++;
                if (sql[n - 1] != ';')
                    fail_msg("%s: a statement does not end with ';': %.60s", embedded_migrations[i].name, sql);
            }
            sql += n;
        }
        assert_true(statements > 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_statements),
        cmocka_unit_test(test_semicolons_inside_do_not_cut),
        cmocka_unit_test(test_unterminated_text_ends_at_the_end),
        cmocka_unit_test(test_migrations_split_into_whole_statements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
