/* Satisfaction survey campaigns, responses and results.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent.
 *   surveys.c           campaigns (/v1/surveys) and their open / close actions
 *   survey_responses.c  /v1/surveys/{id}/responses, and the follow-ups low scores raise
 *   survey_results.c    /v1/surveys/{id}/results and /v1/reports/survey-coverage */
#ifndef CRM_SURVEYS_H
#define CRM_SURVEYS_H

#include "http/request.h"

/* Campaigns. Sales see open and closed campaigns (a draft is the office's
 * work in progress: 404 for them); everyone else who may read sees all. */
int surveys_list(struct request *r);
int surveys_get(struct request *r);
int surveys_create(struct request *r);
int surveys_update(struct request *r);
int surveys_archive(struct request *r);
int surveys_restore(struct request *r);
int surveys_open(struct request *r);
int surveys_close(struct request *r);

/* Responses of one campaign (the {id} of the path). */
int survey_responses_list(struct request *r);
int survey_responses_get(struct request *r);
int survey_responses_create(struct request *r);
int survey_responses_update(struct request *r);

/* Figures. */
int surveys_results(struct request *r);
int reports_survey_coverage(struct request *r);

/* Whether the caller sees draft campaigns ("true"/"false", a statement
 * parameter): every reader but sales. Static string. */
static inline const char *survey_drafts_visible(const struct request *r)
{
    return principal_scoped(&r->principal) ? "false" : "true";
}

#endif
