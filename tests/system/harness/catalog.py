"""A model published the way a real catalog would be: a catalog signed with minisign, served with
the model over HTTPS by a local server whose CA the container is told to trust.

``publish()`` makes the key pair, the CA and server certificate (``tests.support.tls``), writes
and signs the catalog; ``FileServer`` serves a directory over HTTPS on a free loopback port (the
container shares the host's network), in a thread or, for ``make run``, as a process of its
own (``python -m tests.system.harness.catalog serve ...``) that outlives the command;
``configure()`` writes what an admin would into the container: the trusted key, the CA file and
``hal0.toml`` with ``ca_file``, the catalog and ``llama_server``.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath

from tests.support import tls
from tests.system.harness.container import LLAMA_DIR, Container

CATALOG = "catalog.toml"
KEY_INSIDE = PurePosixPath("/etc/hal0/keys/local.pub")
CA_INSIDE = PurePosixPath("/etc/hal0/local-ca.pem")


@dataclass(frozen=True)
class Publication:
    directory: Path  # what the server serves
    public_key: Path
    pki: tls.TestPki
    entry: str  # the model's name in the catalog


def publish(
    directory: Path, model: Path, sha256: str, *, entry: str, port: int, serial: int = 1
) -> Publication:
    """Lay out DIRECTORY/www with the model and a catalog listing it (to be served on PORT),
    signed by a new key, and make the server's certificate."""
    www = directory / "www"
    www.mkdir(parents=True)
    (www / model.name).symlink_to(model)
    catalog = www / CATALOG
    catalog.write_text(
        f"serial = {serial}\n\n[models.{entry}]\n"
        f'url = "https://127.0.0.1:{port}/{model.name}"\n'
        f'sha256 = "{sha256}"\nsize = {model.stat().st_size}\n'
        'description = "a generated llama model with random weights (it answers nonsense)"\n'
    )
    public, secret = directory / "minisign.pub", directory / "minisign.key"
    _minisign("-G", "-W", "-p", public, "-s", secret)
    _minisign("-S", "-s", secret, "-m", catalog, "-t", "hal0d local catalog")
    return Publication(www, public, tls.make_pki(directory), entry)


def _minisign(*args: str | Path) -> None:
    binary = shutil.which("minisign")
    if binary is None:
        raise RuntimeError("minisign is not installed (make deps-store installs it)")
    subprocess.run(
        [binary, *map(str, args)], check=True, stdin=subprocess.DEVNULL, capture_output=True
    )


def configure(box: Container, publication: Publication, port: int, *, catalog: str) -> str:
    """What an admin writes: the catalog's key, its server's CA, and hal0.toml (read when hal0d
    next starts). Returns the catalog's URL."""
    url = f"https://127.0.0.1:{port}/{CATALOG}"
    box.write_file(KEY_INSIDE, publication.public_key.read_text())
    box.write_file(
        "/etc/hal0/hal0.toml",
        f'llama_server = "{LLAMA_DIR}/llama-server"\n{trust_ca(box, publication.pki.ca_file)}\n'
        f'[[catalogs]]\nname = "{catalog}"\nurl = "{url}"\nverify = "signature"\n',
    )
    return url


def trust_ca(box: Container, ca_file: Path) -> str:
    """Install CA_FILE in the container; returns the hal0.toml line that trusts it (hal0d's
    own setting: the container's system store stays as it is)."""
    box.write_file(CA_INSIDE, ca_file.read_text())
    return f'ca_file = "{CA_INSIDE}"\n'


class FileServer:
    """DIRECTORY over HTTPS on 127.0.0.1 (a free port unless PORT), until ``close()``."""

    def __init__(self, directory: Path, pki: tls.TestPki, port: int = 0) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        context = pki.server_context()
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        self.thread: threading.Thread | None = None

    def start(self) -> FileServer:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def close(self) -> None:
        if self.thread is not None:
            self.server.shutdown()
            self.thread.join()
        self.server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def serve_main(argv: list[str]) -> int:
    """``serve DIR CERT KEY PORT RUN``: serve until SIGTERM (RUN names the run, so a leftover
    process can be told apart by its command line)."""
    parser = argparse.ArgumentParser(prog="catalog serve")
    parser.add_argument("directory", type=Path)
    parser.add_argument("cert", type=Path)
    parser.add_argument("key", type=Path)
    parser.add_argument("port", type=int)
    parser.add_argument("run")
    args = parser.parse_args(argv)
    pki = tls.TestPki(ca_file=Path(), cert_file=args.cert, key_file=args.key)
    server = FileServer(args.directory, pki, args.port)
    server.server.serve_forever()
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    sys.exit(serve_main(sys.argv[2:]))
