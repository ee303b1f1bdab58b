"""docs/install.md, run as written: its marked code blocks, in order, in a clean container.

Blocks after ``<!-- guide-test: machine -->`` run as root inside the container (in the
directory holding the .deb, as the guide says); blocks after ``<!-- guide-test: client -->``
run on the host, which shares the container's loopback (a client of the slot). The guide's
model is a real one on Hugging Face, out of reach here: the values of its placeholder
variables (``MODEL_URL=`` ...) are replaced by the tiny generated model, served over HTTPS by a
local server whose CA hal0d trusts through its ``ca_file`` setting (written once the package
is installed, so the conffile is the admin's). llama-server is the tier's own, linked where
both of the guide's ways to get it put it. Everything else is the guide's text, so the guide
cannot drift from what works.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.support import tls
from tests.system.conftest import Model, free_port
from tests.system.harness import catalog, guide
from tests.system.harness.container import LLAMA_DIR, REPO, Container

pytestmark = [pytest.mark.timeout(300), pytest.mark.trixie]
GUIDE = REPO / "docs" / "install.md"
PLACEHOLDERS = ("MODEL_URL", "MODEL_SHA256", "MODEL_SIZE", "PORT")


def test_guide_marks_the_steps_it_promises() -> None:
    blocks = guide.guide_blocks(GUIDE.read_text())
    code = "\n".join(block.code for block in blocks)
    for step in ("apt install ./hal0d_", "/etc/hal0/slots/chat.toml", "hal0ctl load chat",
                 "/v1/chat/completions"):  # fmt: skip
        assert step in code, f"no marked block of docs/install.md does {step!r}"
    assert [block.where for block in blocks][-1] == "client"


def test_install_guide_as_written(
    boot_container: Callable[[str], AbstractContextManager[Container]],
    package: Path,
    tiny_model: Model,
    tmp_path: Path,
) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / tiny_model.host_path.name).symlink_to(tiny_model.host_path)
    pki = tls.make_pki(tmp_path)
    server = catalog.FileServer(www, pki).start()
    values = {
        "MODEL_URL": f"https://127.0.0.1:{server.port}/{tiny_model.host_path.name}",
        "MODEL_SHA256": tiny_model.sha256,
        "MODEL_SIZE": str(tiny_model.size),
        "PORT": str(free_port()),
    }
    blocks, variables = guide.fill_placeholders(guide.guide_blocks(GUIDE.read_text()), values)
    try:
        with boot_container("install guide") as box:
            # What the test provides instead of the guide's sections it does not run.
            box.run("ln", "-s", f"{LLAMA_DIR}/llama-server", "/usr/local/bin/llama-server")
            shutil.copyfile(package, box.path(f"{guide.WORKDIR_INSIDE}/{package.name}"))
            for block in blocks:
                output = guide.run_block(box, block, variables, GUIDE)
                if "apt install" in block.code:  # hal0d trusts the fixture server's CA
                    box.write_file("/etc/hal0/hal0.toml", catalog.trust_ca(box, pki.ca_file))
                    box.run("systemctl", "restart", "hal0d.service", timeout=60)
                if "hal0ctl load chat" in block.code:  # it waits, then names the endpoint
                    assert "chat: serving on http://" in output, f"not ready:\n{output}"
    finally:
        server.close()
    answer = json.loads(output)  # the last block: the chat completion
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"]
