"""`striate serve MODEL`: the live browser explorer of a saved model, on 127.0.0.1."""

import sys
import time

from striate.cli.common import (
    UserError,
    add_parser,
    add_threads_option,
    image_input,
    int_option,
    load_model_file,
)

EXAMPLES = """examples:
  striate serve article-digits.striate            prints http://127.0.0.1:PORT/; open it
  striate serve lenet5-mnist.striate --port 8000 --browser
  striate serve model.striate --watch             reload the page's model when the file changes

The page: draw a digit (one-channel models) or drop an image; every layer's feature maps (before
and after the activation), the probabilities, the saliency map and the conv filters; click a unit
for its receptive field and the convolution (or pooling) walkthrough; arrow keys move the unit.
It listens on 127.0.0.1 only unless --host is given; Ctrl-C stops it.
"""


def register(commands):
    parser = add_parser(
        commands, "serve", "explore a model in a local web page (live feature maps)", EXAMPLES
    )
    parser.add_argument(
        "model", metavar="MODEL", help="a model file written by striate train or model.save"
    )
    parser.add_argument(
        "--port", type=int_option(0, 65535), default=0, help="the port (default: a free one)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1; anything else is reachable by "
        "others, and the page has no login)",
    )
    parser.add_argument("--browser", action="store_true", help="open the page in a browser")
    parser.add_argument(
        "--watch", action="store_true", help="reload the model when the file changes"
    )
    add_threads_option(parser)
    parser.set_defaults(handler=run)


def run(args, wait=True):
    model = load_model_file(args.model)
    image_input(model, "serve")
    server = start(model, args)
    print(f"Serving {args.model} at {server.url} (Ctrl-C stops)", flush=True)
    if not wait:
        return server
    try:
        while True:
            time.sleep(0.5)
    finally:
        server.stop()


def start(model, args):
    """The running server, with the port's problems as one line."""
    import warnings

    from striate.serve import serve

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            server = serve(
                model,
                port=args.port,
                host=args.host,
                browser=args.browser,
                path=args.model,
                watch=args.watch,
            )
        except OSError as error:
            raise UserError(f"{error}; choose another --port (0 picks a free one)") from None
    for warning in caught:
        print(f"striate serve: warning: {warning.message}", file=sys.stderr)
    return server
