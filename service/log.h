/* One JSON object per line on stdout. Never log tokens or personal data.
 * Lines are handed to a writer thread without taking a lock and written
 * every 100 ms (warnings and errors before log_event returns), so a crash
 * can lose up to 100 ms of info lines; log_stop writes everything. */
#ifndef CRM_LOG_H
#define CRM_LOG_H

/* level, msg, then NULL-terminated key/value string pairs (NULL values skipped). */
void log_event(const char *level, const char *msg, ...) __attribute__((sentinel));
/* Starts the periodic flusher (stdout becomes fully buffered). 0 / -1. */
int log_start(void);
/* Stops the flusher and flushes. */
void log_stop(void);

#endif
