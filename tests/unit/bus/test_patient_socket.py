"""PatientSocket: a full socket buffer is "0 bytes sent", not a lost connection."""

import socket

from hal0d.bus.patient_socket import PatientSocket, guard_writer


def test_a_full_buffer_reports_zero_bytes_instead_of_raising() -> None:
    left, right = socket.socketpair()
    with left, right:
        left.setblocking(False)
        patient = PatientSocket(left)
        chunk = b"x" * 65536
        sent = [patient.send(chunk) for _ in range(200)]  # far beyond any socket buffer
        assert sent[-1] == 0
        assert sum(sent) > 0
        right.recv(65536)
        assert patient.fileno() == left.fileno()  # everything else passes through


def test_guard_writer_wraps_the_writers_socket() -> None:
    class Writer:
        def __init__(self, sock: socket.socket) -> None:
            self.sock: object = sock

    class Bus:
        def __init__(self, sock: socket.socket) -> None:
            self._writer = Writer(sock)

    left, right = socket.socketpair()
    with left, right:
        bus = Bus(left)
        assert guard_writer(bus)
        assert isinstance(bus._writer.sock, PatientSocket)
        assert not guard_writer(object())
