"""Connection bounds of the edge server: uvicorn's h11 protocol with a deadline for request headers and a
connection limit that evicts idle connections instead of refusing work.

Why: uvicorn gives a new connection no deadline for its first request, its keep-alive timer is cancelled by any
byte (a client sending one header line a minute keeps it), and its concurrency limit counts idle connections:
66 idle sockets made every request, /health included, answer 503 for as long as they were held. Here a
connection has `idle_timeout` seconds to deliver each request's headers (from its opening, and again after each
response); a request whose headers arrived is bounded by the app's own `timeout` from there. When more than
`max_connections` are open, the longest-idle one (no request in progress) is closed to make room, so idle
sockets cannot keep out requests that carry work; only when every connection is busy is the new one closed.
"""
from __future__ import annotations

from uvicorn.protocols.http.h11_impl import H11Protocol


def bounded_h11(max_connections: int, idle_timeout: float) -> type[H11Protocol]:
    """The protocol class to give uvicorn.Config(http=...)."""

    class BoundedH11(H11Protocol):
        _timer = None
        _idle_since = 0.0

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()
            if len(self.connections) > max_connections:
                idle = [c for c in self.connections if c is not self and getattr(c, "idle", lambda: False)()]
                (min(idle, key=lambda c: c._idle_since) if idle else self).drop()

        def idle(self) -> bool:
            """No request in progress: waiting for the first one's headers or for the next one's."""
            return not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete)

        def drop(self) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self.transport.close()

        def _arm(self) -> None:
            self._disarm()
            self._idle_since = self.loop.time()
            self._timer = self.loop.call_later(idle_timeout, self._expired)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _expired(self) -> None:
            self._timer = None
            if self.idle():
                self.drop()

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not before:  # a request's headers are in: the app's timeout bounds it now
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()  # may start a pipelined request (handle_events disarms then)
            if self.idle():
                self._arm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

    return BoundedH11
