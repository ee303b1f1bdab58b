"""router.toml, client keys and the listening-socket check."""

import socket
from pathlib import Path

import pytest

from hal0d.router.keys import ClientKeys, load_keys, presented_key
from hal0d.router.listen import ListenError, check_sockets, is_local
from hal0d.router.settings import RouterSettings, load_settings


def test_no_router_toml_means_the_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path) == (RouterSettings(), [])


def test_router_toml_is_read_and_every_problem_named(tmp_path: Path) -> None:
    (tmp_path / "router.toml").write_text(
        'queue_size = 8\nwait_timeout = "2m"\nbody_limit = "16M"\nrequire_key = true\n'
    )
    settings, problems = load_settings(tmp_path)
    assert problems == []
    assert settings == RouterSettings(
        queue_size=8, wait_timeout=120.0, body_limit=16 << 20, require_key=True
    )
    (tmp_path / "router.toml").write_text(
        'queue_size = 0\nbody_limit = "lots"\ncooldown = "1h"\nqueue = 3\n'
    )
    settings, problems = load_settings(tmp_path)
    assert settings is None
    text = "\n".join(str(p) for p in problems)
    assert "router.toml: queue_size: 0 is out of range" in text
    assert "router.toml: body_limit: 'lots' is not a size" in text
    assert "router.toml: cooldown_max: is shorter than cooldown" in text
    assert "router.toml: queue: unknown key, ignored; did you mean 'queue_size'?" in text


def test_keys_come_from_the_credential_and_are_compared_exactly(tmp_path: Path) -> None:
    (tmp_path / "api-keys").write_text("# clients\nkey-one\n\n  key-two  \n")
    keys = load_keys(required=True, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert keys.configured
    assert keys.allows("key-one")
    assert keys.allows("key-two")
    assert not keys.allows("key-on")
    assert not keys.allows("key-one ")
    assert not keys.allows("")
    assert not keys.allows(None)


def test_the_fallback_credential_means_no_keys(tmp_path: Path) -> None:
    (tmp_path / "api-keys").write_text("#")  # SetCredential=api-keys:# in the unit
    keys = load_keys(required=False, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert not keys.configured
    assert keys.allows(None)


def test_requiring_a_key_without_any_is_a_configuration_error() -> None:
    assert "no client key is configured" in (ClientKeys([], required=True).problem() or "")
    assert ClientKeys(["k"], required=True).problem() is None
    assert ClientKeys([], required=False).problem() is None


def test_without_require_key_a_missing_key_passes_and_a_wrong_one_does_not() -> None:
    keys = ClientKeys(["secret"], required=False)
    assert keys.allows(None)
    assert not keys.allows("guess")


def test_keys_are_read_from_bearer_or_x_api_key() -> None:
    assert presented_key("Bearer abc", None) == "abc"
    assert presented_key("bearer  abc ", None) == "abc"
    assert presented_key(None, "abc") == "abc"
    assert presented_key("Basic abc", None) == ""  # sent, and not a valid key
    assert presented_key(None, None) is None


def listening(family: socket.AddressFamily, host: str) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    return sock


@pytest.mark.parametrize(
    ("family", "host", "local"),
    [
        (socket.AF_INET, "127.0.0.1", True),
        (socket.AF_INET, "127.0.0.2", True),
        (socket.AF_INET6, "::1", True),
        (socket.AF_INET, "0.0.0.0", False),  # noqa: S104 - the case being refused
        (socket.AF_INET6, "::", False),
    ],
)
def test_loopback_is_judged_on_the_socket_itself(
    family: socket.AddressFamily, host: str, local: bool
) -> None:
    with listening(family, host) as sock:
        assert is_local(sock) is local


def test_a_socket_open_to_the_network_needs_required_keys() -> None:
    with listening(socket.AF_INET, "0.0.0.0") as sock:  # noqa: S104
        for keys in (ClientKeys([], required=True), ClientKeys(["k"], required=False)):
            with pytest.raises(ListenError, match=r"refusing to serve 0\.0\.0\.0:\d+"):
                check_sockets([sock], keys)
        check_sockets([sock], ClientKeys(["k"], required=True))


def test_no_socket_from_systemd_says_how_to_start_the_router() -> None:
    with pytest.raises(ListenError, match=r"systemctl enable --now hal0-router\.socket"):
        check_sockets([], ClientKeys([], required=False))
