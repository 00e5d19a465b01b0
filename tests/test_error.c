/* test_error.c — the error table and tfn_error_set. */
#include <string.h>

#include "check.h"
#include "tiffin.h"

static void test_table_lookups(void)
{
#define X(name, value, status, desc)                                                               \
    CHECK_EQ_STR(tfn_strerror(TFN_##name), desc);                                                  \
    CHECK_EQ_STR(tfn_errname(TFN_##name), #name);                                                  \
    CHECK_EQ_INT(tfn_http_status(TFN_##name), status);                                             \
    CHECK_EQ_INT(TFN_##name, value);
    TFN_ERROR_TABLE(X)
#undef X
    CHECK_EQ_INT(tfn_http_status(TFN_ETOOBIG), 413);
    CHECK_EQ_INT(tfn_http_status(TFN_EREQTIMEOUT), 408);
    CHECK_EQ_STR(tfn_errname(TFN_EBADJSON), "EBADJSON");
}

static void test_unknown_codes(void)
{
    int unknown[] = {1, 42, -999, -1000, 1 << 30};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK_EQ_STR(tfn_strerror(unknown[i]), "unknown error");
        CHECK_EQ_STR(tfn_errname(unknown[i]), "EUNKNOWN");
        CHECK_EQ_INT(tfn_http_status(unknown[i]), 500);
    }
}

static void test_error_set(void)
{
    tfn_error_t err;
    memset(&err, 0x5A, sizeof err); /* garbage, as on an uninitialised stack */
    CHECK_EQ_INT(tfn_error_set(&err, TFN_ETYPE, "field '%s': %d", "x", 3), TFN_ETYPE);
    CHECK_EQ_INT(err.code, TFN_ETYPE);
    CHECK_EQ_INT(err.http_status, 400);
    CHECK_EQ_STR(err.message, "field 'x': 3");
    CHECK_EQ_STR(err.service, "");
    CHECK_EQ_STR(err.api, "");

    /* an empty message becomes the description: a set error never has an empty message */
    CHECK_EQ_INT(tfn_error_set(&err, TFN_ETOOBIG, "%s", ""), TFN_ETOOBIG);
    CHECK_EQ_STR(err.message, "payload too large");
    CHECK_EQ_INT(err.http_status, 413);

    /* unknown code: status 500 */
    tfn_error_set(&err, -999, "odd");
    CHECK_EQ_INT(err.http_status, 500);
    CHECK_EQ_INT(err.code, -999);

    /* NULL err: nothing happens, the code comes back */
    CHECK_EQ_INT(tfn_error_set(NULL, TFN_EIO, "x"), TFN_EIO);
}

static void test_error_set_truncates(void)
{
    char big[1000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tfn_error_t err;
    tfn_error_set(&err, TFN_EINVAL, "%s", big);
    CHECK_EQ_INT(strlen(err.message), TFN_ERROR_MESSAGE_MAX - 1);

    /* truncation never leaves half a UTF-8 character (messages go into JSON bodies) */
    char accents[600] = "";
    for (int i = 0; i < 200; i++)
        strcat(accents, "\xc3\xa9"); /* 2 bytes each: 255 would cut one in two */
    tfn_error_set(&err, TFN_EINVAL, "%s", accents);
    CHECK_EQ_INT(strlen(err.message), TFN_ERROR_MESSAGE_MAX - 2);
    char snowmen[700] = "x";
    for (int i = 0; i < 200; i++)
        strcat(snowmen, "\xe2\x98\x83"); /* 3 bytes each, after one ASCII byte */
    tfn_error_set(&err, TFN_EINVAL, "%s", snowmen);
    CHECK_EQ_INT(strlen(err.message), 1 + 3 * 84);
    CHECK((unsigned char)err.message[strlen(err.message) - 1] == 0x83);
}

int main(void)
{
    RUN(test_table_lookups);
    RUN(test_unknown_codes);
    RUN(test_error_set);
    RUN(test_error_set_truncates);
    return check_summary("error");
}
