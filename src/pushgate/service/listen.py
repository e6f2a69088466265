"""Listening sockets bound before anything else starts, and the one error a failed bind raises.

Why bind here rather than let uvicorn do it: uvicorn binds only after the
app's start-up ran, and on a failure it logs the error and calls
``sys.exit`` inside its task, which tears the event loop down with the
sender workers still running (pending tasks destroyed, ``Worker.stop``
never awaited). Bound first, a taken port stops ``pushgate serve`` before
the database, the queue or a worker is opened, and the command line says
which port and what to change (:class:`CannotListen`).
"""

from __future__ import annotations

import errno
import socket

from pushgate.allowed_hosts import host_port


class CannotListen(OSError):
    """``host:port`` could not be listened on; ``in_use``: another process holds the port."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        self.host = host
        self.port = port
        self.in_use = cause.errno == errno.EADDRINUSE
        self.reason = cause.strerror or str(cause)
        super().__init__(cause.errno, f"cannot listen on {host_port(host, port)}: {self.reason}")


def bind(host: str, port: int) -> list[socket.socket]:
    """Bound (not yet listening) sockets for ``host:port``, one per address the host resolves to.

    The same sockets ``asyncio``'s ``create_server(host=..., port=...)`` makes, which is
    how uvicorn listened before: ``""`` is every interface, a name that resolves to
    IPv4 and IPv6 gets both, IPv6 sockets are IPv6 only, the address is reusable at once
    after a restart. Raises :class:`CannotListen`.
    """
    sockets: list[socket.socket] = []
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise CannotListen(host, port, exc) from exc
    return sockets


def bind_error(host: str, port: int, cause: OSError) -> CannotListen:
    """``cause`` (what a server's own bind raised) as :class:`CannotListen`."""
    return cause if isinstance(cause, CannotListen) else CannotListen(host, port, cause)


__all__ = ["CannotListen", "bind", "bind_error"]
