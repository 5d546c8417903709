/* One JSON object per line on stdout. Never log tokens or personal data. */
#ifndef CRM_LOG_H
#define CRM_LOG_H

/* level, msg, then NULL-terminated key/value string pairs (NULL values skipped). */
void log_event(const char *level, const char *msg, ...) __attribute__((sentinel));

#endif
