"""The explorer's JSON API over one model: every number comes from `striate.see`.

Routes (all answers JSON; arrays as base64 of little-endian float32, pictures as base64 of
uint8 gray shades computed here exactly as `striate.see`'s pictures draw them):

- `GET /api/model`: the layers (kind, output shape, parameters, kernel, strides, padding,
  activation, theoretical receptive field), class names, input shape, the conv filters.
- `POST /api/run[?digit=1]`: image bytes in; the preprocessed input, every layer call's output
  (and pre-activation), probabilities, top classes, saliency (`see.inspect_model`).
- `GET /api/sample?index=N`: the same for test image N of the dataset the model file records.
- `GET /api/field?layer=L&row=R&col=C`: `see.receptive_field` of a unit.
- `GET /api/walk?layer=L&filter=F&row=R&col=C`: the conv (or pooling) walkthrough at a unit, on
  the last input run.

Parameters are integers only: nothing in a request names a file. One lock around the model: the
page's requests never compute at the same time.
"""

import base64
import threading

import numpy as np

from striate.serve.server import RequestError

GRAY = (np.linspace(0, 1, 256) * 255).astype(np.uint8)  # matplotlib's "gray" colormap, bytes
MAX_PICTURE_CHANNELS = 64


def f32(array):
    """An array as base64 of little-endian float32 (the page decodes it with Float32Array)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode()


def shades(image):
    """A 0..1 picture as the gray bytes matplotlib draws for it (imshow, cmap='gray', vmin=0,
    vmax=1): the colormap's index is floor(v * 256), clipped to 255.

    >>> shades(np.array([0.0, 0.5, 1.0])).tolist()
    [0, 128, 255]
    """
    index = np.clip(np.floor(np.asarray(image, np.float64) * 256), 0, 255).astype(np.intp)
    return GRAY[index]


def pictures(maps):
    """[(channel, 0..1 picture)] (as `see.feature_map_images` gives) as base64 (C, H, W) bytes."""
    stack = np.stack([shades(image) for _, image in maps])
    return base64.b64encode(stack.tobytes()).decode()


def integer(query, name, low=None, high=None):
    """The int parameter `name` of a request (a 400 naming it otherwise)."""
    text = query.get(name)
    if text is None or not text.lstrip("-").isdigit() or len(text) > 9:
        raise RequestError(400, f"parameter {name} must be an integer. Received: {text!r:.80}")
    value = int(text)
    if (low is not None and value < low) or (high is not None and value > high):
        raise RequestError(
            400, f"parameter {name} must be from {low} to {high}. Received: {name}={value}"
        )
    return value


class Explorer:
    """The API of `striate serve` for one model (see the module docstring).

    Args:
        model: a built image model (height, width, channels input).
        metadata: the model file's metadata (class names, preprocessing, dataset).
    """

    def __init__(self, model, metadata=None):
        self.lock = threading.Lock()
        self._use(model, metadata)

    def _use(self, model, metadata):
        from striate.cli.common import COLOR_BY_CHANNELS

        self.model, self.metadata = model, dict(metadata or {})
        self.input_shape = tuple(model.input_shape[1:])
        self.preprocessing = self.metadata.get("preprocessing", {})
        self.color_mode = self.preprocessing.get(
            "color_mode", COLOR_BY_CHANNELS.get(self.input_shape[-1], "rgb")
        )
        self.last = None  # the model input of the last run, (H, W, C) float
        self._samples = None

    def routes(self):
        return {
            ("GET", "/api/model"): self.describe,
            ("POST", "/api/run"): self.run,
            ("GET", "/api/sample"): self.sample,
            ("GET", "/api/field"): self.field,
            ("GET", "/api/walk"): self.walk,
        }

    def reload(self, model, metadata=None):
        """Use a new model (the `--watch` reload) from the next request on."""
        with self.lock:
            self._use(model, metadata if metadata is not None else self.metadata)

    # -- the model ------------------------------------------------------------------------------
    def describe(self, query=None, body=None):
        from striate.layers.conv import Conv2D
        from striate.see import filter_images, layer_fields
        from striate.see.field import position_map
        from striate.see.inspect import activation_name

        with self.lock:
            model = self.model
            fields = layer_fields(model)
            layers = []
            for index, (layer, field) in enumerate(zip(model.layers, fields)):
                geometry = position_map(layer)
                entry = {
                    "index": index,
                    "name": layer.name,
                    "type": type(layer).__name__,
                    "shape": list(layer.output_shape[1:]),
                    "params": int(layer.count_params()),
                    "activation": activation_name(layer),
                    "field": list(field.size),
                    "jump": None if field.jump is None else list(field.jump),
                }
                if geometry[0] == "window":
                    _, kernel, strides, pads = geometry
                    entry.update(kernel=list(kernel), strides=list(strides), pads=list(pads))
                    entry["padding"] = getattr(layer, "padding", None)
                if isinstance(layer, Conv2D):
                    _, images = filter_images(model, index)
                    images = images[:MAX_PICTURE_CHANNELS, :16]
                    tiles = images.reshape(-1, *images.shape[2:])
                    entry["filters"] = {
                        "shape": list(images.shape),
                        "pictures": pictures([(None, tile) for tile in tiles]),
                    }
                layers.append(entry)
            names = self.metadata.get("class_names") or [
                str(i) for i in range(model.output_shape[-1])
            ]
            return 200, {
                "name": model.name,
                "input_shape": list(self.input_shape),
                "color_mode": self.color_mode,
                "class_names": [str(n) for n in names],
                "dataset": self.metadata.get("dataset"),
                "samples": self._sample_count(),
                "layers": layers,
            }

    # -- running an input -------------------------------------------------------------------------
    def run(self, query, body):
        from striate.serve.uploads import decode

        digit = query.get("digit") == "1"
        if digit and self.input_shape[-1] != 1:
            raise RequestError(
                400, f"digit=1 is for one-channel models; this one takes {self.input_shape}"
            )
        if not body:
            raise RequestError(400, "POST /api/run needs the image's bytes as the body")
        interpolation = self.preprocessing.get("interpolation", "bilinear")
        pixels = decode(body, self.input_shape[:2], self.color_mode, interpolation, digit)
        return 200, self._inspect(pixels)

    def sample(self, query, body=None):
        count = self._sample_count()
        if not count:
            raise RequestError(404, "the model file records no dataset to take samples from")
        index = integer(query, "index", 0, count - 1)
        pixels, label = self._samples[0][index], int(self._samples[1][index])
        result = self._inspect(pixels)
        result["label"] = label
        return 200, result

    def _sample_count(self):
        from striate.cli.common import DATASETS, dataset_module

        name = self.metadata.get("dataset")
        if self._samples is None and name in DATASETS:
            self._samples = ()
            module = dataset_module(name)
            try:  # only a dataset already on this machine (mirrors=[]): the page never downloads
                loaded = module.load_data() if name == "digits" else module.load_data(mirrors=[])
            except (OSError, ValueError, ImportError):
                loaded = None
            if loaded is not None:
                (_, _), (x, y) = loaded
                x = x[..., None] if x.ndim == 3 else x
                if tuple(x.shape[1:]) == self.input_shape:
                    self._samples = (x, y.reshape(-1))
        return len(self._samples[0]) if self._samples else 0

    def _inspect(self, pixels):
        from striate.cli.common import preprocess
        from striate.cli.predict import _are_probabilities, _softmax
        from striate.see import feature_map_images, inspect_model, saliency_map

        x = preprocess(pixels[None], self.preprocessing)[0]
        with self.lock, np.errstate(all="ignore"):
            inspection = inspect_model(self.model, x, class_index="predicted")
            self.last = x
        output = inspection.output[None]
        probabilities = output if _are_probabilities(output) else _softmax(output)
        probabilities = probabilities[0].astype(np.float64)
        order = np.argsort(-probabilities, kind="stable")
        layers = []
        for record in inspection.layers:
            entry = _record(record)
            if record.pre_activation is not None:
                pre = type(record)(record.index, record.name, record.type, record.pre_activation)
                entry["pre"] = _record(pre)
            layers.append(entry)
        heat = saliency_map(inspection)
        return {
            "input": {
                "shape": list(x.shape),
                "values": f32(x),
                "pixels": base64.b64encode(np.ascontiguousarray(pixels).tobytes()).decode(),
                "pictures": pictures(feature_map_images(_Plain(x))),
            },
            "layers": layers,
            "probabilities": probabilities.tolist(),
            "top": [int(i) for i in order],
            "predicted": int(order[0]),
            "saliency": {
                "shape": list(heat.shape),
                "values": f32(heat),
                "pictures": pictures([(None, _normalize(heat))]),
            },
        }

    # -- one unit ---------------------------------------------------------------------------------
    def field(self, query, body=None):
        from striate.see import receptive_field

        layer = self._layer(query)
        row, col = integer(query, "row", 0), integer(query, "col", 0)
        with self.lock:
            try:
                box = receptive_field(self.model, layer, (row, col))
            except ValueError as error:
                raise RequestError(400, str(error)) from None
        return 200, {"layer": layer, "row": row, "col": col, "field": list(box)}

    def walk(self, query, body=None):
        from striate.layers.conv import Conv2D
        from striate.layers.pooling import AveragePooling2D, MaxPooling2D
        from striate.see import layer_conv_walkthrough, layer_pool_walkthrough

        index = self._layer(query)
        row, col = integer(query, "row", 0), integer(query, "col", 0)
        channel = integer(query, "filter", 0)
        layer = self.model.layers[index]
        if self.last is None:
            raise RequestError(409, "run an input first: the walkthrough shows the last input")
        with self.lock:
            try:
                if isinstance(layer, Conv2D):
                    walk = layer_conv_walkthrough(
                        self.model, index, self.last, channel, positions=[(row, col)]
                    )
                elif isinstance(layer, (MaxPooling2D, AveragePooling2D)):
                    walk = layer_pool_walkthrough(
                        self.model, index, self.last, channel, positions=[(row, col)]
                    )
                else:
                    raise RequestError(
                        400,
                        f"{layer.describe()} has no walkthrough: Conv2D and pooling layers do",
                    )
            except (ValueError, TypeError) as error:
                raise RequestError(400, str(error)) from None
        return 200, _walk_json(walk, index)

    def _layer(self, query):
        return integer(query, "layer", 0, len(self.model.layers) - 1)


class _Plain:
    """A record-like holder of one array, for `feature_map_images`."""

    def __init__(self, output):
        self.output = output


def _normalize(array):
    from striate.see.draw import normalize

    return normalize(array)


def _record(record):
    from striate.see import feature_map_images

    out = np.asarray(record.output)
    maps = feature_map_images(record, MAX_PICTURE_CHANNELS)
    finite = out[np.isfinite(out)]
    return {
        "index": record.index,
        "name": record.name,
        "type": record.type,
        "activation": getattr(record, "activation", None),
        "shape": list(out.shape),
        "min": float(finite.min()) if finite.size else None,
        "max": float(finite.max()) if finite.size else None,
        "dead": float(np.mean(out == 0)) if out.size else 0.0,
        "values": f32(out),
        "pictures": pictures(maps),
        "picture_shape": [len(maps), *maps[0][1].shape],
    }


def _walk_json(walk, index):
    step = walk.steps[0]
    result = {
        "layer": index,
        "kind": walk.kind,
        "position": list(step.position),
        "corner": list(step.corner),
        "window": list(walk.window),
        "strides": list(walk.strides),
        "padding": walk.padding,
        "pads": [list(p) for p in walk.pads],
        "values_shape": list(step.values.shape),
        "values": np.nan_to_num(step.values, nan=np.nan).astype(float).ravel().tolist(),
        "total": float(step.total),
        "title": walk.title,
        "channel": walk.channel,
    }
    if walk.kind == "conv":
        r, c = step.position
        result.update(
            kernel=walk.kernel.astype(float).ravel().tolist(),
            products=step.products.astype(float).ravel().tolist(),
            sum=float(step.products.sum()),
            bias=float(walk.bias),
            activation=walk.activation,
            activated=None if walk.activated is None else float(walk.activated[r, c]),
        )
    else:
        result["argmax"] = None if step.argmax is None else list(step.argmax)
    return _finite_json(result)


def _finite_json(value):
    """NaN (padding in pooling windows) as None: JSON has no NaN."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, list):
        return [_finite_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    return value
