/* Failed-login throttling: a fixed-size table of recent failures per key
 * (username, client address). In process memory; each replica throttles on
 * its own, which bounds guessing to replicas × LIMIT per window. */
#ifndef CRM_RATELIMIT_H
#define CRM_RATELIMIT_H

#define RATELIMIT_MAX_FAILURES_USER 10  /* per username */
#define RATELIMIT_MAX_FAILURES_ADDR 100 /* per client address (offices share one) */
#define RATELIMIT_WINDOW_S 300

/* Seconds the key must wait before trying again after max failures in the
 * window; 0 when it may try now. */
int ratelimit_wait_s(const char *key, int max_failures);
/* Counts one failure for key. */
void ratelimit_fail(const char *key);
/* Forgets key (after a success). */
void ratelimit_reset(const char *key);

#endif
