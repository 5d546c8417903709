#include "validate/period.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

int period_parse(const char *s, struct period *out)
{
    if (!s || !digits(s, 4))
        return -1;
    int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    if (year < 1900 || year > 2998)
        return -1;
    int first_month, months; /* months: length of the period */
    const char *rest = s + 4;
    if (*rest == '\0') {
        first_month = 1;
        months = 12;
    } else if (rest[0] != '-') {
        return -1;
    } else if ((rest[1] == 'H' || rest[1] == 'Q') && rest[2] >= '1' && rest[3] == '\0') {
        int n = rest[2] - '0';
        months = rest[1] == 'H' ? 6 : 3;
        if (n > 12 / months)
            return -1;
        first_month = (n - 1) * months + 1;
    } else if (digits(rest + 1, 2) && rest[3] == '\0') {
        first_month = (rest[1] - '0') * 10 + (rest[2] - '0');
        if (first_month < 1 || first_month > 12)
            return -1;
        months = 1;
    } else {
        return -1;
    }
    int end_month = first_month + months, end_year = year;
    if (end_month > 12) {
        end_month -= 12;
        end_year++;
    }
    snprintf(out->from, sizeof out->from, "%04d-%02d-01", year, first_month);
    snprintf(out->to, sizeof out->to, "%04d-%02d-01", end_year, end_month);
    return 0;
}
