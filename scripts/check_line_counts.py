"""Fail when a Python file under src/ passes 400 lines (DESIGN.md's budget), naming each one.

Usage: python scripts/check_line_counts.py [FOLDER ...] [--max N]
Lines are counted as `wc -l` counts them (blank lines and comments included).
"""

import argparse
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def line_count(path):
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def too_long(folders, limit):
    """(path, lines) for every .py file under `folders` with more than `limit` lines."""
    found = []
    for folder in folders:
        for path in sorted(pathlib.Path(folder).rglob("*.py")):
            lines = line_count(path)
            if lines > limit:
                found.append((path, lines))
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", default=[os.path.relpath(ROOT / "src")])
    parser.add_argument("--max", type=int, default=400, help="most lines a file may have")
    args = parser.parse_args(argv)
    for folder in args.folders:
        if not pathlib.Path(folder).is_dir():
            parser.error(f"{folder} is not a folder. Received: folders={args.folders}")
    found = too_long(args.folders, args.max)
    if found:
        print(f"{len(found)} file(s) over {args.max} lines (split them by responsibility):")
        for path, lines in found:
            print(f"  {os.path.relpath(path)}: {lines} lines")
        return 1
    print(f"line counts OK: no .py file in {', '.join(args.folders)} has over {args.max} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
