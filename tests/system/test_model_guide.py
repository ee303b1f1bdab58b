"""docs/getting-a-model.md, run as written: its marked blocks, in order, against the packaged
hal0d in the container (the page starts where docs/install.md's guide has left a machine).

What is out of reach here is replaced through the page's placeholder variables only: the
Hugging Face file is one of the local imitation of the hub (tests/support/hfserver.py, which
``hf_endpoint`` points at); the URL, the catalog and its publisher's key are a minisign-signed
catalog and the tiny model served over HTTPS on loopback. hal0d trusts the test CA through
``ca_file`` (written, with ``hf_endpoint``, before the page's first block, as an admin of such
a mirror would). Each of the three ways ends in a chat completion from its own slot.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hfserver import HfServer, Repo
from tests.system.conftest import Model, free_port
from tests.system.hal0d_setup import remove_slots, write_hal0_toml
from tests.system.harness import catalog, guide
from tests.system.harness.container import REPO, Container

pytestmark = pytest.mark.timeout(300)
GUIDE = REPO / "docs" / "getting-a-model.md"
SLOTS = ("chat", "notes", "tutor")
KEY_FILE = "/etc/hal0/keys/example.pub"


def three_free_ports() -> int:
    """A port P with P, P+1 and P+2 free (the page gives its slots consecutive ports)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = int(probe.getsockname()[1])
        if first + 2 > 65535:
            continue
        try:
            with socket.socket() as one, socket.socket() as two:
                one.bind(("127.0.0.1", first + 1))
                two.bind(("127.0.0.1", first + 2))
        except OSError:
            continue
        return first


@pytest.fixture
def guide_setup(
    container: Container, tiny_model: Model, tmp_path: Path
) -> Iterator[tuple[Container, dict[str, str]]]:
    port = free_port()
    publication = catalog.publish(
        tmp_path, tiny_model.host_path, tiny_model.sha256, entry="tiny-chat", port=port
    )
    server = catalog.FileServer(publication.directory, publication.pki, port).start()
    hub = HfServer(publication.pki)
    hub.add("hal0/tiny-GGUF", Repo({"tiny.gguf": tiny_model.host_path.read_bytes()}))
    try:
        for old in container.path("/etc/hal0/slots").glob("*.toml"):
            old.unlink()
        write_hal0_toml(container)
        with container.path("/etc/hal0/hal0.toml").open("a") as file:
            file.write(
                catalog.trust_ca(container, publication.pki.ca_file)
                + f'hf_endpoint = "{hub.endpoint}"\n'
            )
        container.run("systemctl", "restart", "hal0d.service", timeout=60)
        yield (
            container,
            {
                "PORT": str(three_free_ports()),
                "HF_FILE": "hf://hal0/tiny-GGUF/tiny.gguf",
                "MODEL_URL": f"https://127.0.0.1:{port}/{tiny_model.host_path.name}",
                "MODEL_SHA256": tiny_model.sha256,
                "MODEL_SIZE": str(tiny_model.size),
                "PUBLISHER_KEY": publication.public_key.read_text().splitlines()[1],
                "CATALOG_URL": f"https://127.0.0.1:{port}/{catalog.CATALOG}",
                "ENTRY": publication.entry,
            },
        )
    finally:
        server.close()
        hub.close()
        remove_slots(container, SLOTS)
        container.path(KEY_FILE).unlink(missing_ok=True)
        write_hal0_toml(container)


def test_the_page_marks_a_completion_for_each_source_kind() -> None:
    blocks = guide.guide_blocks(GUIDE.read_text())
    code = "\n".join(block.code for block in blocks)
    for step in ('hal0ctl slot add chat "$HF_FILE"', 'hal0ctl slot add notes "$MODEL_URL"',
                 'hal0ctl slot add tutor "$ENTRY"', "hal0ctl load tutor"):  # fmt: skip
        assert step in code, f"no marked block of {GUIDE.name} does {step!r}"
    assert sum(1 for block in blocks if block.where == "client") == 3


def test_getting_a_model_as_written(guide_setup: tuple[Container, dict[str, str]]) -> None:
    box, values = guide_setup
    blocks, variables = guide.fill_placeholders(guide.guide_blocks(GUIDE.read_text()), values)
    answers = []
    for block in blocks:
        output = guide.run_block(box, block, variables, GUIDE)
        if block.where == "client":
            answers.append(json.loads(output))
    assert len(answers) == 3
    for answer in answers:
        assert answer["object"] == "chat.completion"
        assert answer["choices"][0]["message"]["content"]
    chat = box.path("/etc/hal0/slots/chat.toml").read_text()
    assert "trusted on first use" in chat
    assert 'model = "tiny-chat"' in box.path("/etc/hal0/slots/tutor.toml").read_text()
