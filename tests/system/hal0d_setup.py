"""Setting the container's hal0d up for a module of tests: a fresh /etc/hal0 with the given
slots, models placed in hal0d's store as a package user would have pulled them."""

from __future__ import annotations

from tests.system.conftest import free_port
from tests.system.harness.container import LLAMA_DIR, Container

MODELS = "/var/lib/hal0/models"


def configure(container: Container, slots: dict[str, str], log_level: str = "info") -> None:
    """hal0.toml plus one slots/NAME.toml per entry (its model keys); every other slot file
    goes. Each slot gets a free port, one thread and a small context."""
    slots_dir = container.path("/etc/hal0/slots")
    for old in slots_dir.glob("*.toml") if slots_dir.exists() else ():
        old.unlink()
    write_hal0_toml(container, log_level)
    for name, model in slots.items():
        container.write_file(
            f"/etc/hal0/slots/{name}.toml",
            f"{model}port = {free_port()}\nthreads = 1\ncontext = 512\n",
        )
    container.run("systemd-tmpfiles", "--create")


def write_hal0_toml(container: Container, log_level: str = "info") -> None:
    container.write_file(
        "/etc/hal0/hal0.toml",
        f'llama_server = "{LLAMA_DIR}/llama-server"\nidle_after = "1h"\n'
        f'log_level = "{log_level}"\n',
    )


def model_keys(url: str, sha256: str, size: int, *, allow_http: bool = False) -> str:
    http = "allow_http = true\n" if allow_http else ""
    return f'url = "{url}"\n{http}sha256 = "{sha256}"\nsize = {size}\n'


def place_model(container: Container, sha256: str, data: bytes) -> None:
    """Put a model into hal0d's store (readable by the slots' users)."""
    target = container.path(f"{MODELS}/{sha256}.gguf")
    target.write_bytes(data)
    target.chmod(0o644)


def forget_model(container: Container, sha256: str) -> None:
    container.run("rm", "-f", f"{MODELS}/{sha256}.gguf")


def remove_slots(container: Container, names: tuple[str, ...]) -> None:
    """Stop hal0d and these slots' units (failed ones reset), and remove their files."""
    container.run("systemctl", "stop", "hal0d.service", check=False, timeout=60)
    for name in names:
        unit = f"hal0-slot@{name}.service"
        container.run("systemctl", "stop", unit, check=False, timeout=120)
        container.run("systemctl", "reset-failed", unit, check=False)
        container.path(f"/etc/hal0/slots/{name}.toml").unlink(missing_ok=True)
