"""`striate convert IN OUT`: a model file to another format, chosen by OUT's suffix: `.striate`
(striate's own), `.keras` (Keras 3) or `.onnx` (inference graph). IN may be a `.striate`, a
`.keras` or a legacy Keras `.h5` file (recognised by content)."""

import os

from striate.cli.common import UserError, add_parser, load_model_file


def register(commands):
    parser = add_parser(
        commands, "convert", "convert a model file between .striate, .keras (Keras 3) and .onnx"
    )
    parser.add_argument("input", help="a .striate, .keras or legacy Keras .h5 model file")
    parser.add_argument("output", help="where to write: OUT.striate, OUT.keras or OUT.onnx")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (13..21; default 17)")
    parser.set_defaults(handler=run)


def run(args):
    suffix = os.path.splitext(args.output)[1].lower()
    if suffix not in (".striate", ".keras", ".onnx"):
        raise UserError(
            f"cannot tell the format of {args.output!r} from its suffix; end it in .striate, "
            f".keras or .onnx (.h5 is read only)"
        )
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        raise UserError(f"{args.output} is the input file; give another name")
    model = load_model_file(args.input)
    print(f"Read {args.input}: {type(model).__name__} '{model.name}', {len(model.layers)} layers")
    write(model, args.output, suffix, args.opset)


def write(model, output, suffix, opset):
    from striate.saving import ModelFileError

    try:
        if suffix == ".onnx":
            from striate import export

            export.onnx(model, output, opset_version=opset)
            return
        model.save(output)
    except ModelFileError as error:
        raise UserError(str(error)) from None
    print(f"Wrote {output}")
