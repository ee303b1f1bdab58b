"""A local imitation of huggingface.co's file endpoint and of the CDN it redirects to.

A fake, because these machines cannot reach huggingface.co. It imitates what clients of the
hub rely on (from huggingface_hub's own code): ``HEAD|GET /{repo_id}/resolve/{revision}/{path}``
answers, for a file stored with LFS, ``302`` with an absolute ``Location`` on another origin
(the CDN) and the headers ``X-Repo-Commit``, ``X-Linked-Etag`` (the SHA-256, quoted) and
``X-Linked-Size``; for a file in git itself, ``200`` with the body, ``X-Repo-Commit`` and the
git blob's ``ETag``. A renamed repository answers ``307`` with a relative ``Location``. Errors
carry ``X-Error-Code`` (``RepoNotFound``, ``GatedRepo``, ``RevisionNotFound``,
``EntryNotFound``) as the hub's do; a gated repository answers 401 unless the request carries
``Authorization: Bearer TOKEN`` with the right token.

Both origins are HTTPS servers on 127.0.0.1 with the test CA's certificate, on two ports: two
origins (scheme, host, port), as huggingface.co and its CDN are, without relying on a name
that a container's /etc/hosts may lack. Each records every request it saw (method, path,
headers), so tests can say which origin was contacted and what it was sent. The CDN serves
the object by its SHA-256, with ``Range`` (``bytes=N-``) for resumed pulls.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.support.tls import TestPki

_RESOLVE = re.compile(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)")
_RANGE = re.compile(r"bytes=(\d+)-$")


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case


@dataclass
class Repo:
    """A model repository: its files at one commit, LFS ones by default."""

    files: dict[str, bytes]
    commit: str = ""
    lfs: bool = True
    gated_token: str | None = None  # set: only this token may read it
    revisions: dict[str, str] = field(default_factory=dict)  # name → commit, "main" added

    def __post_init__(self) -> None:
        if not self.commit:
            self.commit = hashlib.sha1(repr(sorted(self.files)).encode()).hexdigest()  # noqa: S324 - a commit id
        self.revisions.setdefault("main", self.commit)
        self.revisions[self.commit] = self.commit


class _Origin:
    """One HTTPS server in a thread, recording what it saw."""

    def __init__(self, pki: TestPki, handler: type[BaseHTTPRequestHandler]) -> None:
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.socket = pki.server_context().wrap_socket(self.server.socket, server_side=True)
        self.server.origin = self  # type: ignore[attr-defined]
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def record(self, request: BaseHTTPRequestHandler) -> None:
        headers = {name.lower(): value for name, value in request.headers.items()}
        with self.lock:
            self.seen.append(Seen(request.command, request.path, headers))

    def requests(self) -> list[Seen]:
        with self.lock:
            return list(self.seen)

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join()
        self.server.server_close()


class HfServer:
    """The imitation hub (``.hub``) and CDN (``.cdn``); ``endpoint`` is what hf_endpoint
    would be set to."""

    def __init__(self, pki: TestPki) -> None:
        self.repos: dict[str, Repo] = {}
        self.renamed: dict[str, str] = {}  # old repo id → new one
        self.hub = _Origin(pki, _HubHandler)
        self.cdn = _Origin(pki, _CdnHandler)
        self.hub.server.hf = self  # type: ignore[attr-defined]
        self.cdn.server.hf = self  # type: ignore[attr-defined]

    @property
    def endpoint(self) -> str:
        return self.hub.url

    def add(self, repo_id: str, repo: Repo) -> Repo:
        self.repos[repo_id] = repo
        return repo

    def objects(self) -> dict[str, bytes]:
        return {
            hashlib.sha256(data).hexdigest(): data
            for repo in self.repos.values()
            for data in repo.files.values()
        }

    def close(self) -> None:
        self.hub.close()
        self.cdn.close()

    def __enter__(self) -> HfServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def hf(self) -> HfServer:
        hf: HfServer = self.server.hf  # type: ignore[attr-defined]
        return hf

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self.server.origin.record(self)  # type: ignore[attr-defined]
        self.answer(body=False)

    def do_GET(self) -> None:
        self.server.origin.record(self)  # type: ignore[attr-defined]
        self.answer(body=True)

    def answer(self, body: bool) -> None:
        raise NotImplementedError

    def send(self, status: int, headers: dict[str, str], data: bytes, body: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def error(self, status: int, code: str, message: str, body: bool) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": message}
        self.send(status, headers, message.encode(), body)


class _HubHandler(_Handler):
    def answer(self, body: bool) -> None:
        match = _RESOLVE.fullmatch(urlsplit(self.path).path)
        if match is None:
            self.error(404, "EntryNotFound", "not a resolve URL", body)
            return
        repo_id = match["repo"]
        if repo_id in self.hf.renamed:
            new = self.hf.renamed[repo_id]
            location = f"/{new}/resolve/{match['rev']}/{match['path']}"
            self.send(307, {"Location": location}, b"", body)
            return
        found = self.find(repo_id, unquote(match["rev"]), unquote(match["path"]), body)
        if found is not None:
            self.file(*found, body)

    def find(
        self, repo_id: str, revision: str, path: str, body: bool
    ) -> tuple[Repo, str, bytes] | None:
        """The repo, commit and file asked for; None once an error is sent."""
        repo = self.hf.repos.get(repo_id)
        token = self.headers.get("Authorization")
        if repo is None:
            self.error(401, "RepoNotFound", "Repository not found", body)
        elif repo.gated_token is not None and token != f"Bearer {repo.gated_token}":
            message = f"Access to model {repo_id} is restricted. You must have access."
            self.error(401, "GatedRepo", message, body)
        elif revision not in repo.revisions:
            self.error(404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
        elif path not in repo.files:
            self.error(404, "EntryNotFound", f"{path} does not exist on {revision}", body)
        else:
            return repo, repo.revisions[revision], repo.files[path]
        return None

    def file(self, repo: Repo, commit: str, data: bytes, body: bool) -> None:
        headers = {"X-Repo-Commit": commit}
        if not repo.lfs:
            blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324
            self.send(200, {**headers, "ETag": f'"{blob}"'}, data, body)
            return
        sha256 = hashlib.sha256(data).hexdigest()
        headers |= {
            "X-Linked-Etag": f'"{sha256}"',
            "X-Linked-Size": str(len(data)),
            "ETag": f'"{sha256}"',
            "Location": f"{self.hf.cdn.url}/repos/{sha256}?expires=never",
        }
        self.send(302, headers, b"", body)


class _CdnHandler(_Handler):
    def answer(self, body: bool) -> None:
        sha256 = urlsplit(self.path).path.rsplit("/", 1)[-1]
        data = self.hf.objects().get(sha256)
        if data is None:
            self.send(404, {}, b"no such object", body)
            return
        headers = {"ETag": f'"{sha256}"', "Accept-Ranges": "bytes"}
        wanted = _RANGE.fullmatch(self.headers.get("Range", ""))
        if wanted is not None and int(wanted[1]) < len(data):
            start = int(wanted[1])
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            self.send(206, headers, data[start:], body)
            return
        self.send(200, headers, data, body)
