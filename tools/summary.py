"""Print a pass/fail count per dependency set and tier from the junit XML files in a folder."""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def count(xml_file: Path) -> tuple[int, int, int]:
    passed = failed = skipped = 0
    # Our own pytest output, not untrusted input.
    for case in ET.parse(xml_file).getroot().iter("testcase"):  # noqa: S314
        outcomes = {child.tag for child in case}
        if outcomes & {"failure", "error"}:
            failed += 1
        elif "skipped" in outcomes:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main(folder: Path) -> int:
    total_passed = total_failed = total_skipped = 0
    print("results (dependency set-tier):")
    for xml_file in sorted(folder.glob("*.xml")):
        passed, failed, skipped = count(xml_file)
        total_passed += passed
        total_failed += failed
        total_skipped += skipped
        print(f"  {xml_file.stem:<16} {passed} passed, {failed} failed, {skipped} skipped")
    steps = folder / "steps.txt"
    if steps.exists():
        print("steps:")
        for line in steps.read_text().splitlines():
            print(f"  {line}")
    print(f"total: {total_passed} passed, {total_failed} failed, {total_skipped} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
