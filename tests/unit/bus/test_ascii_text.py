"""hal0d's own text is plain ASCII, so `busctl` users read what hal0d wrote: `wire_text`
escapes only foreign text (an OS error, a hostile name), never hal0d's sentences."""

import ast
from pathlib import Path

import pytest

import hal0d
from hal0d.bus.introspection import shipped_interfaces

PACKAGE = Path(hal0d.__file__).parent


def message_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string constant that is not a docstring (docstrings never reach a caller)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings
    ]  # fmt: skip


@pytest.mark.parametrize(
    "module", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_every_string_hal0d_writes_is_ascii(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    found = [(line, text) for line, text in message_strings(tree) if not text.isascii()]
    assert not found, found


def test_the_interface_doc_strings_are_ascii() -> None:
    for name, interface in shipped_interfaces().items():
        for element in interface.iter():
            for value in element.attrib.values():
                assert value.isascii(), (name, value)
