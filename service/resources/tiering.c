#include "resources/tiering.h"

#include <ctype.h>
#include <string.h>

#include "validate/validate.h"

bool valid_amount(const char *s)
{
    if (s[0] != '-')
        return valid_money(s);
    if (!valid_money(s + 1))
        return false;
    for (const char *p = s + 1; *p; p++)
        if (*p != '0' && *p != '.')
            return true;
    return false; /* negative zero */
}

bool valid_external_ref(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64 || !isalnum((unsigned char)s[0]))
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._:-", *p))
            return false;
    return true;
}

bool valid_external_code(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || !valid_utf8(s, n) || utf8_chars(s) > 64 || isspace((unsigned char)s[0]) ||
        isspace((unsigned char)s[n - 1]))
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}
