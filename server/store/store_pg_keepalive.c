/* store_pg_keepalive.c: keepalives for the connections that hold something (store_pg_connect:
 * a job's lock, a LISTEN). Their peer may vanish without a word (a node powered off, a
 * partition); keepalives on both ends notice within about half a minute. The server's side
 * (STORE_PG_KEEPALIVE_SQL, run at connect) ends the session and frees what it held; ours makes
 * the next read fail, so a listener reconnects. Both are no-ops on a Unix socket. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "store/store_pg_int.h"

void store_pg_keepalive(PGconn *conn)
{
    int fd = PQsocket(conn), on = 1, idle = 10, intvl = 5, cnt = 3;
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);

    if (fd < 0 || getsockname(fd, (struct sockaddr *)&sa, &len) != 0 ||
        (sa.ss_family != AF_INET && sa.ss_family != AF_INET6))
        return;
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}
