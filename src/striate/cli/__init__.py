"""The `striate` command. Each subcommand lives in its own module with a `register(commands)`
function that adds its parser; `main` wires them and turns user mistakes into one clear line."""

import argparse
import os
import sys
import traceback

from striate.cli.common import EXAMPLES, UserCodeError, UserError, apply_threads_option


def build_parser():
    from striate.cli import (
        convert,
        doctor,
        evaluate,
        export,
        predict,
        run,
        serve,
        show,
        summary,
        train,
    )

    parser = argparse.ArgumentParser(
        prog="striate",
        description="A fast CNN framework on NumPy that you can see inside.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    order = (train, evaluate, predict, summary, show, doctor, serve, convert, export, run)
    for subcommand in order:  # in --help's order
        subcommand.register(commands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # `train --processes` relaunches it
    try:
        apply_threads_option(args)
        args.handler(args)
    except UserError as error:
        print(f"striate {args.command}: error: {error}", file=sys.stderr)
        return 2
    except UserCodeError as error:  # the user's own traceback frames, never striate's
        print(f"striate {args.command}: error: {error}", file=sys.stderr)
        return 1
    except (OSError, ImportError, ValueError) as error:
        print(f"striate {args.command}: error: {error}", file=sys.stderr)
        return 1
    except MemoryError:
        print(
            f"striate {args.command}: error: out of memory (the input, the model or the batch "
            f"size is too large for this machine)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a striate bug: one line, the traceback on request
        if os.environ.get("STRIATE_DEBUG"):
            traceback.print_exc()
        print(
            f"striate {args.command}: error: {type(error).__name__}: {error} (an internal "
            f"error: please report it; STRIATE_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
