#include "resources/cadence.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"

static const char *const TIER_NAMES[CADENCE_TIERS] = {"vip", "key", "general", "reserve"};

/* ---- calendar arithmetic (proleptic Gregorian, days since 1970-01-01) ---- */

/* Howard Hinnant's days_from_civil / civil_from_days. */
static long days_from_civil(long y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, long *y, int *m, int *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool leap(long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(long y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* n decimal digits at s; -1 if any is not a digit. */
static long digits(const char *s, int n)
{
    long v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "YYYY-MM-DD" at the start of s (4-digit years: what the service stores). */
static bool parse_ymd(const char *s, long *y, int *m, int *d)
{
    long yy = digits(s, 4), mm = s[4] == '-' ? digits(s + 5, 2) : -1, dd = s[7] == '-' ? digits(s + 8, 2) : -1;
    if (yy < 0 || mm < 1 || mm > 12 || dd < 1 || dd > month_days(yy, (int)mm))
        return false;
    *y = yy;
    *m = (int)mm;
    *d = (int)dd;
    return true;
}

bool cadence_parse_date(const char *s, long *days)
{
    long y;
    int m, d;
    if (!s || strlen(s) != 10 || !parse_ymd(s, &y, &m, &d))
        return false;
    *days = days_from_civil(y, m, d);
    return true;
}

/* days → the business date of the instant t (seconds since the epoch). */
static bool local_days(time_t t, long *days)
{
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return false;
    *days = days_from_civil((long)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    return true;
}

bool cadence_local_date(const char *s, long *days)
{
    long y;
    int mo, d;
    if (!s || strlen(s) < 19 || !parse_ymd(s, &y, &mo, &d) || s[10] != ' ' || s[13] != ':' || s[16] != ':')
        return false;
    long h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
        return false;
    const char *p = s + 19;
    if (*p == '.') /* fractional seconds: an instant within the second has the same date */
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    /* The offset: +HH, +HH:MM or +HH:MM:SS (the session prints +00). */
    long off = 0;
    if (*p == '+' || *p == '-') {
        int sign = *p == '+' ? 1 : -1;
        long oh = digits(p + 1, 2);
        if (oh < 0)
            return false;
        off = oh * 3600;
        p += 3;
        for (long unit = 60; *p == ':' && unit >= 1; unit /= 60) {
            long v = digits(p + 1, 2);
            if (v < 0)
                return false;
            off += v * unit;
            p += 3;
        }
        off *= sign;
    }
    if (*p)
        return false;
    long long epoch = (long long)days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    return local_days((time_t)epoch, days);
}

long cadence_add_months(long days, int months)
{
    long y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    long total = y * 12 + (m - 1) + months;
    long ny = total >= 0 ? total / 12 : -((-total + 11) / 12);
    int nm = (int)(total - ny * 12) + 1;
    int md = month_days(ny, nm);
    return days_from_civil(ny, nm, d > md ? md : d);
}

const char *cadence_status(long due, int due_soon_days, long today)
{
    if (due < today)
        return "overdue";
    if (due - due_soon_days <= today)
        return "due_soon";
    return "ok";
}

void cadence_format_date(long days, char *buf, size_t size)
{
    long y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999 || size < 11) { /* not from this service's data; no fast path */
        snprintf(buf, size, "%04ld-%02d-%02d", y, m, d);
        return;
    }
    /* By hand: snprintf was a tenth of the cadence figures' time. */
    buf[0] = (char)('0' + y / 1000);
    buf[1] = (char)('0' + y / 100 % 10);
    buf[2] = (char)('0' + y / 10 % 10);
    buf[3] = (char)('0' + y % 10);
    buf[4] = '-';
    buf[5] = (char)('0' + m / 10);
    buf[6] = (char)('0' + m % 10);
    buf[7] = '-';
    buf[8] = (char)('0' + d / 10);
    buf[9] = (char)('0' + d % 10);
    buf[10] = '\0';
}

int cadence_tier_index(const char *tier)
{
    for (int i = 0; tier && i < CADENCE_TIERS; i++)
        if (strcmp(tier, TIER_NAMES[i]) == 0)
            return i;
    return -1;
}

bool cadence_due(const struct cadence_policy *p, enum cadence_kind kind, bool applies, const char *last,
                 const char *first_contact, const char *created, long *due)
{
    if (!applies || !p || !p->present || p->months[kind] <= 0)
        return false;
    long base;
    if (!(last && cadence_local_date(last, &base)) && !(first_contact && cadence_parse_date(first_contact, &base)) &&
        !(created && cadence_local_date(created, &base)))
        return false;
    *due = cadence_add_months(base, p->months[kind]);
    return true;
}

/* ---- business time and the policy cache ---- */

void cadence_init(const char *tz)
{
    /* ":" makes glibc read the zone file (tzdata) by name. */
    char value[80];
    snprintf(value, sizeof value, ":%s", tz && *tz ? tz : "UTC");
    setenv("TZ", value, 1);
    tzset();
}

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cadence_policy cache[CADENCE_TIERS];
static int64_t cache_loaded_us;      /* when the cached table was read; 0: nothing cached */
static int64_t cache_invalidated_us; /* the last invalidation */

void cadence_policy_invalidate(void)
{
    pthread_mutex_lock(&cache_lock);
    cache_loaded_us = 0;
    cache_invalidated_us = clock_mono_us();
    pthread_mutex_unlock(&cache_lock);
}

static int policy_load(struct request *r, struct cadence_policy out[CADENCE_TIERS])
{
    PGresult *res = db_exec(r, "cadence_policy",
                            "SELECT tier, contact_interval_months, visit_interval_months, review_interval_months, "
                            "due_soon_days FROM cadence_policies",
                            0, NULL);
    if (!res)
        return -1;
    memset(out, 0, sizeof(struct cadence_policy) * CADENCE_TIERS);
    for (int i = 0; i < PQntuples(res); i++) {
        int t = cadence_tier_index(PQgetvalue(res, i, 0));
        if (t < 0)
            continue;
        out[t].present = true;
        for (int k = 0; k < CADENCE_KINDS; k++)
            out[t].months[k] = PQgetisnull(res, i, 1 + k) ? 0 : atoi(PQgetvalue(res, i, 1 + k));
        out[t].due_soon_days = atoi(PQgetvalue(res, i, 4));
    }
    PQclear(res);
    return 0;
}

int cadence_rules_load(struct request *r, struct cadence_rules *rules)
{
    int64_t now = clock_mono_us();
    pthread_mutex_lock(&cache_lock);
    bool fresh = cache_loaded_us && now - cache_loaded_us < CADENCE_POLICY_TTL_US;
    if (fresh)
        memcpy(rules->tier, cache, sizeof cache);
    pthread_mutex_unlock(&cache_lock);
    if (!fresh) {
        /* Outside the lock: a few threads may load at once, each gets a
         * whole table. The invalidation comes after the change commits, so
         * a load that started before it may have read the old policy: that
         * one serves its own request but is not cached. */
        int64_t started = clock_mono_us();
        if (policy_load(r, rules->tier) != 0)
            return -1;
        pthread_mutex_lock(&cache_lock);
        if (started > cache_invalidated_us) {
            memcpy(cache, rules->tier, sizeof cache);
            cache_loaded_us = started;
        }
        pthread_mutex_unlock(&cache_lock);
    }
    if (!local_days(time(NULL), &rules->today))
        rules->today = 0;
    return 0;
}
