"""`striate run SCRIPT`: run a script the way a notebook runs cells, showing each top-level bare
expression's value (so the article's `model.summary` line shows the summary table)."""

import ast
import sys

from striate.cli.common import UserCodeError, UserError, add_parser, user_traceback


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
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise UserError(f"cannot read {args.script}: {reason}") from None
    try:
        tree = ast.parse(source, args.script)
    except (SyntaxError, ValueError) as error:  # ValueError: a null byte in the source
        raise UserCodeError(user_traceback(error, f"{args.script} has a syntax error:")) from None
    namespace = {"__name__": "__main__", "__file__": args.script}
    sys.argv = [args.script] + args.script_args
    try:
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
    except Exception as error:  # the script's own error, shown as Python would, minus striate
        raise UserCodeError(
            user_traceback(error, f"{args.script} raised {type(error).__name__}:")
        ) from None
