/* Civetweb start/stop with one catch-all handler → router. */
#ifndef CRM_SERVER_H
#define CRM_SERVER_H

#include "common.h"

/* Starts listening per g_config. 0 / -1 (reason logged). */
int server_start(void) WUR;
/* Stops accepting, lets in-flight requests finish, joins the workers. */
void server_stop(void);

#endif
