"""`hal0ctl slot add|set|remove|list`: slot files edited by the admin, then applied by hal0d.

hal0d only reads /etc/hal0; these commands, run as root, write it (`slot_edit`: typed
values, comments kept, checked as hal0d would before anything is written, atomic) and then
ask hal0d to `Reload`. With hal0d not running the file is still written, and they say so
and exit 0: hal0d reads it when it starts.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from hal0d.cli import huggingface, slot_edit, slot_source
from hal0d.cli.auth import polkit_agent
from hal0d.cli.client import Hal0Client, interactive, run
from hal0d.cli.exits import EX_CONFIG, EX_NOT_AUTHORIZED, EX_NOT_RUNNING, EX_OK, EX_USAGE, CliError
from hal0d.config import GlobalConfig, Severity, config_dir
from hal0d.config.load import SLOTS_DIR, load_global
from hal0d.config.parse import TomlFileError, read_toml
from hal0d.contract import ERROR_PREFIX

# `slot add` options that write the slot file key of the same name, in this order.
ADD_OPTIONS = ("context", "threads", "gpu_layers", "port", "idle_after", "unload_after")
NOT_RUNNING_NOTE = "hal0d is not running: it reads the change when it starts"
FALL_BACK_ERRORS = ("org.freedesktop.DBus.Error.UnknownMethod", ERROR_PREFIX + "InvalidArgument")


def main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    verbs = {"add": add, "set": set_, "remove": remove, "list": list_}
    status: int = verbs[args.command_name](args, out or sys.stdout)
    return status


def _require_root(verb: str) -> None:
    if os.geteuid() != 0:
        raise CliError(
            f"slot {verb} edits the configuration hal0d reads and runs as root "
            f"(sudo hal0ctl slot {verb} ...); hal0d itself never writes it",
            EX_NOT_AUTHORIZED,
        )


def _global(directory: Path) -> GlobalConfig:
    config, problems = load_global(directory)
    if config is None:
        errors = "; ".join(str(p) for p in problems if p.severity is Severity.ERROR)
        raise CliError(f"fix hal0.toml first: {errors}", EX_CONFIG)
    return config


# -- add ----------------------------------------------------------------------------------


def add(args: argparse.Namespace, out: TextIO) -> int:
    _require_root("add")
    directory = config_dir(args.config_dir)
    file = slot_edit.slot_file(directory, args.name)
    if file.exists():
        raise CliError(
            f"slot {args.name} exists ({file}); change it with `hal0ctl slot set "
            f"{args.name} KEY=VALUE`, or remove it first with `hal0ctl slot remove {args.name}`"
        )
    settings = {key: getattr(args, key) for key in ADD_OPTIONS}
    typed = {key: slot_edit.typed(key, text) for key, text in settings.items() if text}
    if args.autostart:
        typed["autostart"] = True
    if args.extra_arg:
        typed["extra_args"] = list(args.extra_arg)
    model = _model_keys(args, _global(directory))
    data = slot_edit.new_document({**model.keys, **typed}, model.comment).encode("utf-8")
    slot_edit.check(directory, file, data, out)
    slot_edit.write(file, data)
    print(f"slot {args.name}: {model.summary}", file=out)
    print(f"wrote {file}", file=out)
    if _reload(out):
        print(f"hal0d reloaded; `hal0ctl load {args.name}` pulls the model and starts it", file=out)
    return EX_OK


def _model_keys(args: argparse.Namespace, config: GlobalConfig) -> slot_source.ModelKeys:
    sha256 = args.sha256.lower() if args.sha256 else None
    size = slot_edit.typed("size", args.size) if args.size else None
    if slot_source.is_url(args.source):
        return slot_source.from_url(args.source, sha256, size)
    if huggingface.is_hf(args.source):
        return slot_source.from_hf(args.source, config, sha256, size)
    if sha256 is not None or size is not None:
        raise CliError(
            f"{args.source!r} is a catalog entry: the catalog gives its sha256 and size "
            "(--sha256 and --size are for a URL or an hf:// file)",
            EX_USAGE,
        )
    return slot_source.from_catalog(args.source, _resolve_entry(args.source, config))


def _resolve_entry(name: str, config: GlobalConfig) -> tuple[str, str, int]:
    """``name`` in hal0d's catalogs (`ResolveModel`), or read-only from disk without it."""

    async def ask(client: Hal0Client) -> tuple[str, str, int]:
        url, sha256, size = await client.call("ResolveModel", "s", [name])  # (s s t)
        return str(url), str(sha256), int(size)

    try:
        entry: tuple[str, str, int] = _on_bus(ask)
    except CliError as error:
        # Not held by hal0d (a catalog added to hal0.toml since its last reload, or one it
        # has not fetched yet), hal0d not running, or one older than ResolveModel.
        if error.status != EX_NOT_RUNNING and error.dbus_name not in FALL_BACK_ERRORS:
            raise
    else:
        return entry
    return slot_source.catalog_entry_read_only(name, config)


# -- set ----------------------------------------------------------------------------------


def set_(args: argparse.Namespace, out: TextIO) -> int:
    _require_root("set")
    directory = config_dir(args.config_dir)
    file = slot_edit.slot_file(directory, args.name)
    values = slot_edit.assignments(args.assignments)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(
            f"no slot {args.name} ({file} does not exist); add it with "
            f"`hal0ctl slot add {args.name} SOURCE`"
        ) from None
    data = slot_edit.edited(file, text, values).encode("utf-8")
    slot_edit.check(directory, file, data, out)
    if data == text.encode("utf-8"):
        print(f"{file} already says so; nothing to do", file=out)
        return EX_OK
    slot_edit.write(file, data)
    changes = ", ".join(
        f"{key} removed" if value is None else f"{key} = {json.dumps(value)}"
        for key, value in values.items()
    )
    print(f"slot {args.name}: {changes} ({file})", file=out)
    if _reload(out):
        print(
            f"hal0d reloaded; if slot {args.name} is running, it takes the change when it "
            f"restarts (`hal0ctl restart {args.name}`)",
            file=out,
        )
    return EX_OK


# -- remove -------------------------------------------------------------------------------


def remove(args: argparse.Namespace, out: TextIO) -> int:
    _require_root("remove")
    directory = config_dir(args.config_dir)
    file = slot_edit.slot_file(directory, args.name)
    if not file.exists():
        raise CliError(
            f"no slot {args.name} ({file} does not exist); `hal0ctl slot list` lists them"
        )
    slot_edit.check(directory, file, None, out)
    digest = ""
    if args.delete_model:
        digest = _on_bus(
            lambda client: _stop(client, args.name, out),
            not_running=(
                "--delete-model asks hal0d to delete the model, and hal0d is not running; start "
                "it, or remove the slot without --delete-model and run `hal0ctl model prune` later"
            ),
        )
    else:
        try:
            _on_bus(lambda client: _stop(client, args.name, out))
        except CliError as error:
            if error.status != EX_NOT_RUNNING:
                raise
            print(
                f"hal0d is not running, so it did not stop slot {args.name}; if its unit "
                f"runs, `systemctl stop hal0-slot@{args.name}.service` stops it",
                file=out,
            )
    slot_edit.remove(file)
    print(f"removed {file}; the model stays in the store", file=out)
    _reload(out)
    if args.delete_model:
        if not digest:
            print(f"hal0d knows no model of slot {args.name}; nothing to delete", file=out)
            return EX_OK
        return _delete_model(digest, args.name, out)
    return EX_OK


async def _stop(client: Hal0Client, name: str, out: TextIO) -> str:
    """Unload the slot and wait until it is offline; its model's digest ("" if unknown)."""
    from hal0d.cli import jobs  # noqa: PLC0415 - only remove follows a slot

    try:
        props = await client.slot_properties(name)
    except CliError as error:
        if error.status == EX_NOT_RUNNING:
            raise
        return ""  # hal0d does not know the slot (its file was never loaded)
    stop = argparse.Namespace(command_name="unload", slot=name, no_block=False, timeout=0)
    await jobs.change(client, stop, out)
    return str(props.get("Sha256") or "")


def _delete_model(digest: str, name: str, out: TextIO) -> int:
    async def delete(client: Hal0Client) -> None:
        with polkit_agent():
            await client.call("DeleteModel", "s", [digest], interactive=interactive())

    try:
        _on_bus(delete)
    except CliError as error:
        if error.dbus_name == ERROR_PREFIX + "NoModel":
            print(f"model {digest} is not in the store; nothing to delete", file=out)
            return EX_OK
        raise CliError(f"slot {name} is removed, but its model {digest} is kept: {error}") from None
    print(f"deleted model {digest}", file=out)
    return EX_OK


# -- list ---------------------------------------------------------------------------------


def list_(args: argparse.Namespace, out: TextIO) -> int:
    slots_dir = config_dir(args.config_dir) / SLOTS_DIR
    files = sorted(slots_dir.glob("*.toml")) if slots_dir.is_dir() else []
    slots: dict[str, dict[str, Any]] = {}
    for file in files:
        try:
            slots[file.stem] = read_toml(file)
        except (OSError, TomlFileError) as error:
            slots[file.stem] = {"error": f"{error}; see `hal0ctl check-config`"}
    if args.json:
        print(json.dumps({"slots": slots}, indent=2, default=str), file=out)
        return EX_OK
    if not slots:
        print(f"no slots in {slots_dir}; add one with `hal0ctl slot add NAME SOURCE`", file=out)
        return EX_OK
    width = max(len(name) for name in slots)
    for name, keys in slots.items():
        print(f"{name:<{width}}  {_describe(keys)}", file=out)
    return EX_OK


def _describe(keys: dict[str, Any]) -> str:
    if "error" in keys:
        return f"error: {keys['error']}"
    source = keys.get("model") or keys.get("url") or "(no model)"
    parts = [str(source)]
    if keys.get("sha256"):
        parts.append(f"sha256 {str(keys['sha256'])[:12]}")
    parts.append(f"port {keys['port']}" if "port" in keys else "port auto")
    for key in ("context", "threads", "gpu_layers"):
        if key in keys:
            parts.append(f"{key} {keys[key]}")
    if keys.get("autostart"):
        parts.append("autostart")
    return "  ".join(parts)


# -- hal0d --------------------------------------------------------------------------------


def _on_bus(action: Any, not_running: str = "") -> Any:
    """``action(client)`` on the system bus; CliError EX_NOT_RUNNING (with ``not_running``
    as its text, if given) when hal0d, or the bus itself, is not there."""
    try:
        return run(action)
    except CliError as error:
        if error.status == EX_NOT_RUNNING:
            raise CliError(not_running or str(error), EX_NOT_RUNNING) from None
        raise


def _reload(out: TextIO) -> bool:
    """Ask hal0d to reload; False (said) if it is not running."""

    async def reload(client: Hal0Client) -> None:
        with polkit_agent():
            await client.call("Reload", interactive=interactive())

    try:
        _on_bus(reload)
    except CliError as error:
        if error.status != EX_NOT_RUNNING:
            raise CliError(f"the file is written, but hal0d did not reload it: {error}") from None
        print(NOT_RUNNING_NOTE, file=out)
        return False
    return True
