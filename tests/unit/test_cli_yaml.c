/* vmloginctl -o yaml: the YAML rendering of API JSON, checked against golden text: strings that
 * need quoting (empty, leading indicator, ": ", " #", reserved words, numbers and times,
 * control characters, trailing blank), nested mappings, sequences of scalars, of mappings
 * and of sequences, empty {} and [], and null/bool/number. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli.h"

/* The YAML of the JSON text in. */
static char *yaml_of(const char *in)
{
    json_error_t e;
    json_t *j = json_loads(in, JSON_DECODE_ANY, &e);
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    if (j == NULL)
        fail_msg("bad test JSON: %s: %s", in, e.text);
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    cli_print_yaml(f, j);
    fclose(f);
    json_decref(j);
    return buf;
}

static void check(const char *in, const char *want)
{
    char *got = yaml_of(in);
    if (strcmp(got, want) != 0)
        fail_msg("yaml of %s:\n--- got\n%s--- want\n%s", in, got, want);
    free(got);
}

static void test_scalars(void **state)
{
    (void)state;
    check("null", "null\n");
    check("true", "true\n");
    check("42", "42\n");
    check("\"plain text\"", "plain text\n");
    check("{}", "{}\n");
    check("[]", "[]\n");
    check("{\"n\":null,\"t\":true,\"f\":false,\"i\":-7,\"r\":0.5,\"s\":\"web-01\"}",
          "\"n\": null\nt: true\nf: false\ni: -7\nr: 0.5\ns: web-01\n");
}

static void test_quoting(void **state)
{
    (void)state;
    check("{\"empty\":\"\",\"word\":\"yes\",\"Null\":\"NULL\",\"tilde\":\"~\",\"num\":\"12\","
          "\"neg\":\"-1\",\"time\":\"2026-12-07T05:01:02Z\",\"colon\":\"a: b\",\"hash\":\"a #b\","
          "\"star\":\"*x\",\"dash\":\"- x\",\"nl\":\"two\\nlines\",\"tab\":\"a\\tb\","
          "\"quote\":\"say \\\"hi\\\"\",\"trail\":\"x \",\"end\":\"key:\",\"path\":"
          "\"/subscriptions/S/resourceGroups/rg\",\"url\":\"http://h:80/x\",\"on\":\"on\"}",
          "empty: \"\"\n"
          "word: \"yes\"\n"
          "\"Null\": \"NULL\"\n"
          "tilde: \"~\"\n"
          "num: \"12\"\n"
          "neg: \"-1\"\n"
          "time: \"2026-12-07T05:01:02Z\"\n"
          "colon: \"a: b\"\n"
          "hash: \"a #b\"\n"
          "star: \"*x\"\n"
          "dash: \"- x\"\n"
          "nl: \"two\\nlines\"\n"
          "tab: \"a\\tb\"\n"
          "quote: say \"hi\"\n"
          "trail: \"x \"\n"
          "end: \"key:\"\n"
          "path: /subscriptions/S/resourceGroups/rg\n"
          "url: http://h:80/x\n"
          "\"on\": \"on\"\n");
}

static void test_nesting(void **state)
{
    (void)state;
    check("{\"id\":\"x\",\"loginExtension\":{\"status\":\"Succeeded\",\"error\":null},"
          "\"tags\":{},\"value\":[{\"name\":\"a\",\"counts\":{\"ok\":1},\"ids\":[\"p\",\"q\"]},"
          "{\"name\":\"b\",\"ids\":[]}],\"grid\":[[1,2],[],[{\"k\":\"v\"}]],\"words\":[\"no\","
          "\"fine\"]}",
          "id: x\n"
          "loginExtension:\n"
          "  status: Succeeded\n"
          "  error: null\n"
          "tags: {}\n"
          "value:\n"
          "  - name: a\n"
          "    counts:\n"
          "      ok: 1\n"
          "    ids:\n"
          "      - p\n"
          "      - q\n"
          "  - name: b\n"
          "    ids: []\n"
          "grid:\n"
          "  - - 1\n"
          "    - 2\n"
          "  - []\n"
          "  - - k: v\n"
          "words:\n"
          "  - \"no\"\n"
          "  - fine\n");
    check("[{\"a\":1},\"s\"]", "- a: 1\n- s\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_nesting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
