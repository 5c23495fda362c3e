"""The `striate` command. Each subcommand lives in its own module with a `register(commands)`
function that adds its parser; `main` wires them and turns user mistakes into one clear line."""

import argparse
import sys

from striate.cli.common import EXAMPLES, UserError, apply_threads_option


def build_parser():
    from striate.cli import evaluate, predict, run, show, summary, train

    parser = argparse.ArgumentParser(
        prog="striate",
        description="A fast CNN framework on NumPy that you can see inside.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for subcommand in (train, evaluate, predict, summary, show, run):  # in --help's order
        subcommand.register(commands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        apply_threads_option(args)
        args.handler(args)
    except UserError as error:
        print(f"striate {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (OSError, ImportError, ValueError) as error:
        print(f"striate {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
