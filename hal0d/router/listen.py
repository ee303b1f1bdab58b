"""The listening socket: the one systemd passes (LISTEN_FDS), checked before it is served.

A socket that is not loopback lets other machines use every slot and wake configured ones, so
the router serves it only when client keys are configured and required. The check uses
getsockname() on the socket it was actually given, whatever the .socket unit says.
"""

import ipaddress
import os
import socket

from hal0d.router.keys import ClientKeys

SD_LISTEN_FDS_START = 3


class ListenError(Exception):
    """The router cannot serve the socket it has; the message says why and what to do."""


def passed_sockets(environ: dict[str, str] | None = None) -> list[socket.socket]:
    """The stream sockets systemd passed to this process (socket activation)."""
    env = environ if environ is not None else dict(os.environ)
    if env.get("LISTEN_PID") != str(os.getpid()):
        return []
    count = int(env.get("LISTEN_FDS", "0") or "0")
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)  # not for children
    sockets = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count):
        os.set_inheritable(fd, False)
        sockets.append(socket.socket(fileno=fd))
    return sockets


def describe(sock: socket.socket) -> str:
    address = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{address or '(unnamed)'}"
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if sock.family == socket.AF_INET6 else f"{host}:{port}"


def is_local(sock: socket.socket) -> bool:
    """Loopback (127.0.0.0/8, ::1, ::ffff:127.x) or a unix socket; 0.0.0.0 and :: are not."""
    if sock.family == socket.AF_UNIX:
        return True
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    address = ipaddress.ip_address(sock.getsockname()[0].split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_sockets(sockets: list[socket.socket], keys: ClientKeys) -> None:
    if not sockets:
        raise ListenError(
            "no listening socket: hal0-router is started by hal0-router.socket "
            "(systemctl enable --now hal0-router.socket)"
        )
    for sock in sockets:
        if sock.type != socket.SOCK_STREAM:
            raise ListenError(f"{describe(sock)} is not a stream socket; use ListenStream=")
        if is_local(sock) or (keys.configured and keys.required):
            continue
        raise ListenError(
            f"refusing to serve {describe(sock)}: it is not a loopback address, and without "
            "API keys anyone who can reach it could use every slot. Configure keys "
            "(/etc/hal0/router.keys, require_key = true in /etc/hal0/router.toml) or listen "
            "on 127.0.0.1 (see docs/router.md)"
        )
