"""`hal0ctl catalog verify FILE`: a catalog checked as hal0d would, without accepting it.

Signature, entries and the serial against the last one hal0d accepted — read-only: unlike
hal0d, it never records the serial under the state directory.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from hal0d.cli.exits import EX_CONFIG, EX_FAILURE, EX_OK, CliError
from hal0d.config import config_dir, load_config
from hal0d.store.catalog import CatalogError, check_catalog


def main(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    directory = config_dir(args.config_dir)
    config, problems = load_config(directory)
    if config is None:
        errors = "; ".join(str(p) for p in problems)
        raise CliError(f"cannot read the configuration in {directory}: {errors}", EX_CONFIG)
    path = Path(args.file)
    try:
        catalog = check_catalog(
            path, config.global_.keys_dir, config.global_.state_dir, args.verify
        )
    except CatalogError as error:
        raise CliError(str(error), EX_FAILURE) from None
    if args.json:
        data = {
            "catalog": catalog.name,
            "serial": catalog.serial,
            "verify": catalog.verify,
            "signed_by": catalog.signed_by,
            "trusted_comment": catalog.trusted_comment,
            "entries": {
                name: {"url": e.url, "sha256": e.sha256, "size": e.size}
                for name, e in sorted(catalog.entries.items())
            },
        }
        print(json.dumps(data, indent=2), file=out)
        return EX_OK
    signed = f", signed by key {catalog.signed_by}" if catalog.signed_by else ""
    print(
        f"{path}: OK: catalog {catalog.name}, serial {catalog.serial}, "
        f"{len(catalog.entries)} model(s), verify = {catalog.verify}{signed}",
        file=out,
    )
    for name, entry in sorted(catalog.entries.items()):
        size = f"{entry.size} bytes" if entry.size is not None else "size unknown"
        print(f"  {name}  {entry.sha256 or '(no sha256)'}  {size}  {entry.url}", file=out)
    return EX_OK
