"""PostgresStore's pooled connections across a server restart.

A server of its own (this test stops it), Debian's PostgreSQL, no mocks.
"""

from __future__ import annotations

import pytest

from cartback import Cartback, PostgresStore, StoreUnavailableError
from tests.postgres import PostgresServer
from tests.sdk._support import submission

pytestmark = pytest.mark.slow


def test_connections_a_restart_closed_are_replaced_before_anyone_uses_them() -> None:
    server = PostgresServer()
    server.start()
    try:
        with (
            server.fresh_schema() as schema,
            PostgresStore(server.dsn(schema=schema), pool_size=2, connect_timeout=1.0) as store,
        ):
            client = Cartback(store)
            client.capture(submission(email="before@example.com"))
            server.stop()
            server.start()
            # The idle connections the restart closed are noticed when next taken out
            # of the pool (the server said so on their sockets): no capture fails for them.
            for number in range(4):
                client.capture(submission(email=f"after-{number}@example.com"))
            assert client.list_carts().total == 5
            server.stop()
            with pytest.raises(StoreUnavailableError):  # and while it is down, a clear 503
                client.list_carts()
            server.start()
            assert client.list_carts().total == 5
    finally:
        server.destroy()
