"""`striate run SCRIPT`: run a script the way a notebook runs cells, showing each top-level bare
expression's value (so the article's `model.summary` line shows the summary table)."""

import ast
import sys

from striate.cli.common import UserError, add_parser


def register(commands):
    parser = add_parser(
        commands, "run", "run a Python script, showing bare expressions as a notebook does"
    )
    parser.add_argument("script")
    parser.add_argument("script_args", nargs="*")
    parser.set_defaults(handler=run)


def run(args):
    try:
        with open(args.script, encoding="utf-8") as handle:
            source = handle.read()
    except OSError as error:
        raise UserError(f"cannot read {args.script}: {error.strerror}") from None
    tree = ast.parse(source, args.script)
    namespace = {"__name__": "__main__", "__file__": args.script}
    sys.argv = [args.script] + args.script_args
    for statement in tree.body:
        if isinstance(statement, ast.Expr) and not (
            isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)
        ):
            code = compile(ast.Expression(statement.value), args.script, "eval")
            value = eval(code, namespace)
            if value is not None:
                print(repr(value))
        else:
            module = ast.Module([statement], type_ignores=[])
            exec(compile(module, args.script, "exec"), namespace)  # noqa: S102
