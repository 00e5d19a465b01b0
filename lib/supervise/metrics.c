/*
 * metrics.c — the supervisor's side of the metrics (lib/observe): one shared region with a slot
 * per worker, handed to every worker process as fd 6 (spawn.c), so that any worker of the entry
 * can render the whole graph at GET /metrics. The supervisor counts restarts and OOM kills into
 * the slots itself (restart.c). See docs/design.md, "Observability".
 */
#include <stdlib.h>
#include <string.h>

#include "core/log_internal.h"
#include "supervise/supervisor_state.h"

void tfn__sup_metrics_open(supervisor_t *sup)
{
    const char *env = getenv("TFN_OBSERVE");
    if (env && (!strcmp(env, "off") || !strcmp(env, "0")))
        return;
    unsigned nslots = 0;
    for (size_t i = 0; i < sup->n; i++)
        nslots += sup->services[i].needed ? sup->services[i].nworkers : 0;
    sup->metrics = tfn__metrics_region_new(nslots, true);
    if (!sup->metrics) {
        tfn__log("warn", "cannot create the metrics region: each worker counts on its own");
        return;
    }
    unsigned k = 0;
    for (size_t i = 0; i < sup->n; i++) {
        service_t *s = &sup->services[i];
        for (unsigned w = 0; s->needed && w < s->nworkers; w++, k++) {
            s->workers[w].metrics_slot = k;
            s->workers[w].slot = tfn__metrics_slot(sup->metrics, k);
            tfn__metrics_slot_name(s->workers[w].slot, s->svc->name, w);
        }
    }
}
