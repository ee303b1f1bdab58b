"""The runner's settings: the slot env file's variables, checked again, and the server's argv.

hal0d validated everything before writing the file; the runner checks it once more because the
file is a boundary, and because a stale or hand-edited file must fail loudly, not run oddly.
"""

import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

from hal0d.runner import envspec

LOOPBACK = "127.0.0.1"
# Defaults for an env file without them; hal0d writes its own (hal0d.slots.envfile).
DEFAULT_DRAIN_SEC = 60.0
DEFAULT_GRACE_SEC = 10.0

# The slot endpoint is closed unless the slot's extra_args open it (a later flag wins):
# --metrics   hal0d and the runner read requests_processing from /metrics
# --no-webui  no browser UI on the slot port (open with --webui)
# --no-slots  no /slots endpoint exposing prompts (open with --slots)
# CORS        llama-server's default reflects any Origin with credentials. "localhost"
#             reflects only localhost origins: a page from any other site gets no
#             Access-Control-Allow-Origin at all (open with --cors-origins https://app.example)
LOCKED_DOWN_ARGS = (
    "--metrics",
    "--no-webui",
    "--no-slots",
    "--cors-origins",
    "localhost",
    "--no-cors-credentials",
)


@dataclass(frozen=True)
class Settings:
    slot: str
    llama_server: str
    model: str
    model_label: str
    port: int
    drain_sec: float
    grace_sec: float
    extra_args: tuple[str, ...]
    api_key: str | None
    server_env: Mapping[str, str]

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def argv(self) -> list[str]:
        return [
            self.llama_server,
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--model",
            self.model,
            *LOCKED_DOWN_ARGS,
            *self.extra_args,
        ]


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment; raises EnvSpecError naming the bad variable."""
    environ = os.environ if environ is None else environ
    values = {key: environ[key] for key in envspec.ALLOWED if key in environ}
    envspec.check_environment(values)
    encoded = values.get(envspec.EXTRA_ARGS)
    return Settings(
        slot=values[envspec.SLOT],
        llama_server=values[envspec.LLAMA_SERVER],
        model=values[envspec.MODEL],
        model_label=values.get(envspec.MODEL_LABEL) or posixpath.basename(values[envspec.MODEL]),
        port=int(values[envspec.PORT]),
        drain_sec=float(values.get(envspec.DRAIN_SEC, DEFAULT_DRAIN_SEC)),
        grace_sec=float(values.get(envspec.GRACE_SEC, DEFAULT_GRACE_SEC)),
        extra_args=tuple(envspec.decode_args(encoded)) if encoded else (),
        api_key=values.get(envspec.API_KEY),
        server_env=_server_env(values),
    )


def _server_env(values: Mapping[str, str]) -> dict[str, str]:
    """Only what llama-server needs: nothing inherited (no LD_*, no PYTHON*, no proxies)."""
    env = {key: values[key] for key in envspec.PASSED_TO_SERVER if key in values}
    env.pop(envspec.PORT, None)  # on argv already
    env.pop(envspec.MODEL, None)
    env["LANG"] = "C.UTF-8"
    return env
