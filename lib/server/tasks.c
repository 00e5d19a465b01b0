#include "server/server_internal.h"
bool tfn__tasks_dispatch(tfn__conn_t *conn, int method, const char *path, tfn__buf_t *body,
                         bool keep_alive)
{
    (void)conn; (void)method; (void)path; (void)body; (void)keep_alive;
    return false;
}
