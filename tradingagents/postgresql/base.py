"""PostgreSQL through psycopg's connection pool (DATABASE_POOL): Django's backend, but
for how a connection is taken from the pool.

The pool hands out connections it has kept idle, and PostgreSQL may have ended them
meanwhile (a restart, pg_terminate_backend, idle_session_timeout): each one taken is
checked first (an empty query, psycopg_pool's `check_connection`). psycopg_pool's own
check at checkout (what Django's CONN_HEALTH_CHECKS turns on) sleeps between failed
connections (one second, then two, four...), so after a restart had ended all of them a
request worked through the dead ones one by one and gave up at the pool's 10 s timeout
(an admin page's 500). Here the first dead connection has the pool check every idle one
at once (`ConnectionPool.check()`: the dead are replaced), and the next one taken is a
live or a new connection, with no wait.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool

# Dead connections taken before giving up: after the pool's check() the next one is
# live (or brand new), unless the database went down again meanwhile.
CHECKOUT_TRIES = 3


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        pool = self.pool
        if pool is None:
            return connection
        for tries_left in range(CHECKOUT_TRIES - 1, -1, -1):
            try:
                ConnectionPool.check_connection(connection)
                return connection
            except Exception:
                pool.putconn(connection)  # the pool discards a broken connection
                if not tries_left:
                    raise
                pool.check()
            connection = super().get_new_connection(conn_params)
        raise AssertionError("unreachable")
