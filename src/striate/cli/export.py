"""`striate export MODEL --onnx OUT`: a model file (.striate, .keras or legacy .h5) as an ONNX
graph that onnxruntime, TensorRT or a browser runtime can run; NHWC input, dynamic batch."""

import os

from striate.cli.common import UserError, add_parser, load_model_file


def register(commands):
    parser = add_parser(commands, "export", "export a model file to ONNX for other runtimes")
    parser.add_argument("model", help="a .striate, .keras or legacy Keras .h5 model file")
    parser.add_argument("--onnx", required=True, metavar="OUT", help="the ONNX file to write")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (13..21; default 17)")
    parser.add_argument(
        "--nchw-input", action="store_true", help="take NCHW images (drop the first Transpose)"
    )
    parser.set_defaults(handler=run)


def run(args):
    from striate import export

    if os.path.isdir(args.onnx):
        raise UserError(f"--onnx {args.onnx} is a folder; give a file name such as model.onnx")
    model = load_model_file(args.model)
    export.onnx(model, args.onnx, opset_version=args.opset, nchw_input=args.nchw_input)
