"""Running a page of docs/ as written: its marked code blocks, in order.

Blocks after ``<!-- guide-test: machine -->`` run as root inside the container (in /root);
blocks after ``<!-- guide-test: client -->`` run on the host, which shares the container's
loopback. A page's placeholder variables (``NAME=...`` lines of its blocks) get the test's
values; everything else is the page's text, so the page cannot drift from what works.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.system.harness.container import REPO, Container

BLOCK = re.compile(r"<!-- guide-test: (machine|client) -->\n```sh\n(.*?)\n```", re.DOTALL)
WORKDIR_INSIDE = "/root"


@dataclass(frozen=True)
class Block:
    where: str  # machine or client
    code: str


def guide_blocks(text: str) -> list[Block]:
    return [Block(where, code) for where, code in BLOCK.findall(text)]


def fill_placeholders(blocks: list[Block], values: dict[str, str]) -> tuple[list[Block], str]:
    """The blocks with each placeholder's assignment given the fixture's value, and those
    assignments alone (the shell variables later blocks use)."""
    assignment = re.compile(rf"^({'|'.join(values)})=.*$", re.MULTILINE)
    found = [name for block in blocks for name in assignment.findall(block.code)]
    assert sorted(found) == sorted(values), f"the guide's placeholders changed: {found}"

    def fill(match: re.Match[str]) -> str:
        return f"{match.group(1)}={shlex.quote(values[match.group(1)])}"

    filled = [Block(block.where, assignment.sub(fill, block.code)) for block in blocks]
    variables = "\n".join(f"{name}={shlex.quote(value)}" for name, value in values.items())
    return filled, variables


def run_block(box: Container, block: Block, variables: str, page: Path) -> str:
    """Run one block under `set -eu` after the placeholder variables and return its output;
    a failing command fails the test, showing the block."""
    script = f"set -eu\n{variables}\n{block.code}\n"
    if block.where == "machine":
        result = box.run("bash", "-c", f"cd {WORKDIR_INSIDE}\n{script}", check=False,
                         timeout=240, env={"DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip
    else:
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                                check=False, timeout=120)  # fmt: skip
    where = f"{page.relative_to(REPO)} block ({block.where})"
    assert result.returncode == 0, (
        f"{where} exited {result.returncode}:\n{block.code}\n"
        f"--- output:\n{result.stdout}{result.stderr}"
    )
    return result.stdout
