/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Turning sluice_stats_key ids back into service and subset names with the
 * live model (view_stats.c); shared by stats and the metrics endpoint.
 */
#ifndef SLUICED_STATS_NAMES_H
#define SLUICED_STATS_NAMES_H

#include <stddef.h>

#include "sluice/abi.h"
#include "sluice/model.h"

struct stat_names {
	const struct sl_model *m;
	void *v;		/* sorted (sid, service index) */
	size_t n;
};

int stat_names_init(struct stat_names *sn, const struct sl_model *m);
void stat_names_free(struct stat_names *sn);
/* Service FQDN and subset name ("" = whole service) for a stats key. */
void stat_names_get(const struct stat_names *sn, const struct sluice_stats_key *k,
		    char *svc, size_t svclen, char *sub, size_t sublen);
/* The model's service index for a service sid, -1 when unknown. */
int stat_names_service(const struct stat_names *sn, uint32_t svc_sid);
const char *sluiced_counter_name(int i, char *buf, size_t len);

#endif /* SLUICED_STATS_NAMES_H */
