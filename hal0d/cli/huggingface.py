"""hf:// sources: a file of a Hugging Face model repository, pinned once to a commit.

The syntax is huggingface_hub's own (HfFileSystem):
``hf://[<repo_type_prefix>]<repo_id>[@<revision>]/<path/in/repo>``, a revision such as
``refs/pr/1`` written ``refs%2Fpr%2F1``. Only model repositories (no prefix) are taken.

Resolution is what huggingface_hub does before a download: a HEAD of
``{hf_endpoint}/{repo_id}/resolve/{revision}/{path}`` that follows only relative redirects
(a renamed repository) and never the absolute one to the CDN, because the hub's own answer
carries the facts the CDN's does not: ``X-Repo-Commit`` (the commit the revision names now),
``X-Linked-Etag`` (the LFS object's SHA-256, quoted) and ``X-Linked-Size``. The token, if
any, goes only to hf_endpoint's origin (scheme, host, port).
"""

import re
import ssl
from dataclasses import dataclass
from urllib.parse import quote, unquote, urljoin, urlsplit

import httpx

from hal0d import __version__
from hal0d.cli.exits import EX_USAGE, CliError
from hal0d.config.reader import control_character
from hal0d.modelref import SHA256_PATTERN
from hal0d.store.credentials import origin_of
from hal0d.store.http import MAX_REDIRECTS, REDIRECT_STATUSES

SCHEME = "hf://"
REFUSED_PREFIXES = {"datasets/": "dataset", "spaces/": "Space"}
# A repo id's parts as the hub allows them: letters, digits, "-", "_", "." (up to 96).
_REPO_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")
_COMMIT = re.compile(r"[0-9a-f]{40}")
SPLIT_GGUF = re.compile(r"-\d{5}-of-\d{5}\.gguf$")
TIMEOUT = 30.0
SYNTAX = "hf://ORG/REPO[@REVISION]/PATH/IN/REPO (e.g. hf://Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf)"


@dataclass(frozen=True)
class HfFile:
    """One file of a model repository at a revision ("main" unless given)."""

    repo_id: str
    revision: str  # decoded: "refs/pr/1"
    path: str

    def url(self, endpoint: str, revision: str | None = None) -> str:
        """``{endpoint}/{repo_id}/resolve/{revision}/{path}``, encoded as the hub expects."""
        rev = quote(revision or self.revision, safe="")
        return f"{endpoint}/{self.repo_id}/resolve/{rev}/{quote(self.path, safe='/')}"


@dataclass(frozen=True)
class Pinned:
    """What the hub said about the file: the commit, and the LFS object's digest and size
    (None for a file not stored with LFS)."""

    commit: str
    sha256: str | None
    size: int | None
    url: str  # the file's URL pinned to ``commit``


def is_hf(source: str) -> bool:
    return source.startswith(SCHEME)


def parse(source: str) -> HfFile:
    """``source`` (hf://...) as a file of a model repository; CliError (usage) if it is not."""
    rest = source.removeprefix(SCHEME)
    for prefix, kind in REFUSED_PREFIXES.items():
        if rest.startswith(prefix):
            raise CliError(
                f"{source!r} is a {kind} repository; hal0d takes models from model "
                f"repositories only: {SYNTAX}",
                EX_USAGE,
            )
    if control_character(rest) is not None or "\\" in rest:
        raise CliError(f"{source!r} contains a control character or backslash", EX_USAGE)
    parts = rest.split("/")
    if len(parts) < 3:
        raise CliError(f"{source!r} names no file; use {SYNTAX}", EX_USAGE)
    org, repo_rev, *path = parts
    repo, _, revision = repo_rev.partition("@")
    if not (_REPO_PART.fullmatch(org) and _REPO_PART.fullmatch(repo)):
        raise CliError(f"{source!r}: {org}/{repo} is not a repository id; use {SYNTAX}", EX_USAGE)
    if "@" in repo_rev and not revision:
        raise CliError(f"{source!r}: empty revision after '@'; use {SYNTAX}", EX_USAGE)
    if any(part in ("", ".", "..") for part in path):
        raise CliError(
            f"{source!r}: {'/'.join(path)!r} is not a path in the repository; use {SYNTAX}",
            EX_USAGE,
        )
    file = HfFile(f"{org}/{repo}", unquote(revision) or "main", "/".join(path))
    if SPLIT_GGUF.search(file.path):
        raise CliError(
            f"{source!r} is one part of a split GGUF, which hal0d does not support yet: "
            "llama-server finds the other parts by their names, and hal0d's store keeps "
            "models by content; pick a single-file quantization, or merge the parts with "
            "`llama-gguf-split --merge` and serve the one file by URL",
            EX_USAGE,
        )
    return file


def resolve(file: HfFile, endpoint: str, token: str | None, context: ssl.SSLContext) -> Pinned:
    """Ask hf_endpoint about ``file``; CliError naming the reason if it cannot be pinned."""
    url = file.url(endpoint)
    with httpx.Client(
        verify=context,
        follow_redirects=False,
        timeout=TIMEOUT,
        headers={"User-Agent": f"hal0ctl/{__version__}", "Accept-Encoding": "identity"},
    ) as client:
        for _ in range(MAX_REDIRECTS + 1):
            headers = {}
            if token and origin_of(url) == origin_of(endpoint):
                headers["Authorization"] = f"Bearer {token}"
            try:
                response = client.head(url, headers=headers)
            except httpx.HTTPError as error:
                raise CliError(
                    f"cannot reach {endpoint} for {url}: {error or type(error).__name__}; check "
                    "the network and hf_endpoint in hal0.toml (a mirror's CA goes in ca_file)"
                ) from None
            location = response.headers.get("location", "")
            target = urlsplit(location)
            if response.status_code in REDIRECT_STATUSES and location and not target.netloc:
                url = urljoin(url, location)  # relative: the same origin (a renamed repo)
                continue
            return _pinned(file, endpoint, url, response, token is not None)
    raise CliError(f"{url}: more than {MAX_REDIRECTS} redirects")


def _pinned(
    file: HfFile, endpoint: str, url: str, response: httpx.Response, authenticated: bool
) -> Pinned:
    status = response.status_code
    if status >= 400:
        raise CliError(_refusal(file, url, response, authenticated))
    commit = response.headers.get("x-repo-commit", "").strip().lower()
    if not _COMMIT.fullmatch(commit):
        raise CliError(
            f"{url} answered HTTP {status} without a commit (X-Repo-Commit); "
            f"is hf_endpoint ({endpoint}) a Hugging Face hub?"
        )
    etag = response.headers.get("x-linked-etag")
    sha256 = size = None
    if etag is not None:
        sha256 = etag.strip().removeprefix("W/").strip('"').lower()
        raw_size = response.headers.get("x-linked-size", "")
        if not SHA256_PATTERN.fullmatch(sha256) or not raw_size.isdigit():
            raise CliError(
                f"{url}: X-Linked-Etag {etag!r} and X-Linked-Size {raw_size!r} are not "
                "a SHA-256 and a size; pass --sha256 and --size"
            )
        size = int(raw_size)
    return Pinned(commit, sha256, size, file.url(endpoint, commit))


def _refusal(file: HfFile, url: str, response: httpx.Response, authenticated: bool) -> str:
    code = response.headers.get("x-error-code", "")
    said = response.headers.get("x-error-message", "")
    hub = f"{url}: HTTP {response.status_code}" + (f" {code}" if code else "")
    hub += f" ({said})" if said else ""
    if response.status_code in (401, 403) or code in ("GatedRepo", "RepoNotFound"):
        if authenticated:
            return (
                f"{hub}; the token in hf_token_file has no access to {file.repo_id}: check "
                "the repository's name, and accept its terms on the hub with that account"
            )
        return (
            f"{hub}; {file.repo_id} does not exist, or is gated or private: check its name, "
            "or set hf_token_file in hal0.toml to a file holding a token with access"
        )
    if code == "RevisionNotFound":
        return f"{hub}; the repository has no revision {file.revision!r}"
    if response.status_code == 404:
        return f"{hub}; {file.repo_id} has no file {file.path!r} at {file.revision!r}"
    return hub
