"""`striate predict MODEL IMAGE...`: the most likely classes of each image, as a table or JSON."""

import json

import numpy as np

from striate.cli.common import (
    COLOR_BY_CHANNELS,
    UserError,
    add_parser,
    add_threads_option,
    image_input,
    load_model_file,
    preprocess,
    read_image,
)

EXAMPLES = """examples:
  striate predict article-digits.striate seven.png
  striate predict photos.striate cat1.jpg cat2.jpg --top 1
  striate predict lenet5-mnist.striate my_digit_photo.jpg --digit-photo
      a photo of a handwritten digit (dark on light paper, or light on dark), made MNIST-like:
      cropped to the digit, 20x20 in a 28x28 field, centered by its center of mass
  striate predict article-digits.striate *.png --json
      [{"image": "a.png", "top": [{"class": "7", "index": 7, "probability": 0.98}, ...],
        "probabilities": [...]}, ...]

Images are read as the model was trained: converted to its color mode (grayscale, RGB or RGBA),
resized to its input size and scaled as recorded in the model file.
"""


def register(commands):
    parser = add_parser(commands, "predict", "classify images with a saved model", EXAMPLES)
    parser.add_argument(
        "model", metavar="MODEL", help="a model file written by striate train or model.save"
    )
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="PNG, JPEG, BMP or GIF files")
    parser.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    parser.add_argument(
        "--digit-photo",
        action="store_true",
        help="28x28x1 models: make each image MNIST-like first (a photo of one handwritten digit)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list, for scripts")
    add_threads_option(parser)
    parser.set_defaults(handler=run)


def run(args):
    if args.top < 1:
        raise UserError(f"--top must be 1 or more. Received: {args.top}")
    model = load_model_file(args.model)
    height, width, channels = image_input(model, "predict")
    meta = model.metadata
    preprocessing = meta.get("preprocessing", {})
    if args.digit_photo and (height, width, channels) != (28, 28, 1):
        raise UserError(
            f"--digit-photo makes 28x28 grayscale MNIST-like inputs, but the model "
            f"takes {height}x{width}x{channels} images"
        )
    color_mode = preprocessing.get("color_mode", COLOR_BY_CHANNELS[channels])
    interpolation = preprocessing.get("interpolation", "bilinear")
    pixels = np.stack(
        [
            _digit(path)
            if args.digit_photo
            else read_image(path, (height, width), color_mode, interpolation)
            for path in args.images
        ]
    )
    with np.errstate(over="ignore", invalid="ignore"):  # a non-finite output is an error below
        outputs = model.predict(preprocess(pixels, preprocessing), verbose=0)
    if not np.isfinite(outputs).all():
        bad = [path for path, row in zip(args.images, outputs) if not np.isfinite(row).all()]
        raise UserError(
            f"the outputs of {args.model} for {', '.join(bad)} are not finite: the "
            f"model overflows or gives NaN on these images"
        )
    probabilities = outputs if _are_probabilities(outputs) else _softmax(outputs)
    names = meta.get("class_names") or [str(i) for i in range(outputs.shape[-1])]
    results = []
    for path, row in zip(args.images, probabilities):
        best = np.argsort(-row, kind="stable")[: args.top]
        results.append(
            {
                "image": path,
                "top": [
                    {"class": names[i], "index": int(i), "probability": float(row[i])} for i in best
                ],
                "probabilities": [float(p) for p in row],
            }
        )
    if args.json:
        print(json.dumps(results))
        return
    width = max([5] + [len(names[i["index"]]) for r in results for i in r["top"]])
    for result in results:
        print(result["image"])
        print(f"  rank  {'class'.ljust(width)}  probability")
        for rank, item in enumerate(result["top"], 1):
            print(f"  {rank:>4}  {item['class'].ljust(width)}  {item['probability']:>11.4f}")


def _digit(path):
    from striate.datasets.digit_photo import load_digit_photo

    try:
        return load_digit_photo(path)[..., None]
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except (ValueError, IsADirectoryError) as error:
        message = str(error)
        raise UserError(message if path in message else f"{path}: {message}") from None


def _are_probabilities(outputs):
    return bool(np.all(outputs >= 0) and np.allclose(outputs.sum(axis=-1), 1, atol=1e-3))


def _softmax(outputs):
    shifted = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
