"""sd_notify over the $NOTIFY_SOCKET datagram socket, without a library.

The slot runner imports only the standard library (it starts with every slot start), so it
does not use the sdnotify package that the daemon (`hal0d.notify`) uses. Unlike sdnotify, a
failure to send is reported (to the caller, who logs it), not swallowed. Without
$NOTIFY_SOCKET (run by hand) every message is dropped quietly.
"""

import os
import socket

SEND_TIMEOUT = 1.0


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        address = os.environ.get("NOTIFY_SOCKET") if address is None else address
        self._address: str | None = None
        if address:
            # "@name" is an abstract-namespace socket: a leading NUL byte on the wire.
            self._address = "\0" + address[1:] if address.startswith("@") else address

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, **fields: str | int) -> None:
        """Send KEY=VALUE lines, e.g. ``send(READY=1, STATUS="ready")``."""
        if self._address is None:
            return
        message = "\n".join(f"{key}={value}" for key, value in fields.items())
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            # A receiver that stopped reading must not stall the runner (and its drain).
            sock.settimeout(SEND_TIMEOUT)
            sock.connect(self._address)
            sock.sendall(message.encode("utf-8"))

    def status(self, text: str) -> None:
        self.send(STATUS=text)
