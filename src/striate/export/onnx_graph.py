"""Export a striate model to ONNX: one inference graph (opset 17 by default, IR version the
lowest that opset needs, so current onnxruntime loads it), input NHWC `float32 [N, H, W, C]`
with a symbolic batch `N`, every intermediate tensor's shape inferred and stored (`value_info`,
which Netron shows), checked with `onnx.checker` (full check). Needs `pip install
'striate[onnx]'`. The layers' ops are in `striate.export.onnx_ops`."""

import os

import numpy as np

from striate.export import onnx_ops as ops

DEFAULT_OPSET = 17
OPSETS = range(13, 22)


def onnx_module():
    try:
        import onnx
    except ImportError:
        raise ImportError(
            "ONNX export needs the onnx package: pip install 'striate[onnx]'"
        ) from None
    return onnx


class Graph:
    """The nodes, initializers and each value's layout while a model is walked."""

    def __init__(self, onnx):
        self.onnx, self.nodes, self.inits, self.layouts = onnx, [], [], {}
        self.names, self.cache = set(), {}

    def unique(self, name):
        base, count = name, 1
        while name in self.names:
            name, count = f"{base}_{count}", count + 1
        self.names.add(name)
        return name

    def node(self, op, inputs, name, **attributes):
        out = self.unique(name)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out, **attributes))
        if inputs and self.layouts.get(inputs[0]) == "NCHW" and op not in ("Flatten", "Reshape"):
            self.layouts[out] = "NCHW"  # (only NCHW is tracked: any other value is Keras's NHWC)
        return out

    def init(self, name, array, dtype=np.float32):
        name = self.unique(name)
        array = np.asarray(array, dtype)
        self.inits.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def const(self, value, dtype=np.float32):
        key = (tuple(np.ravel(value).tolist()), np.shape(value), str(dtype))
        if key not in self.cache:
            self.cache[key] = self.init("const", value, dtype)
        return self.cache[key]

    def layout(self, x, wanted):
        """`x` in layout `wanted` ("NCHW" or "NHWC"); only rank-4 values have a layout."""
        if self.layouts.get(x, "NHWC") == wanted:
            return x
        key = (x, wanted)
        if key not in self.cache:
            perm = ops.TO_NCHW if wanted == "NCHW" else ops.TO_NHWC
            y = self.node("Transpose", [x], f"{x}/to_{wanted.lower()}", perm=perm)
            self.layouts[y] = wanted
            self.cache[key] = y
        return self.cache[key]

    def axis(self, x, axis, rank=4):
        """Keras's (NHWC) `axis` of `x` in the layout `x` has now."""
        if self.layouts.get(x) != "NCHW":
            return axis
        return ops.TO_NCHW.index(axis % rank)


def export_onnx(model, filepath, opset_version=DEFAULT_OPSET, nchw_input=False, verbose=True):
    """Write `model` as an ONNX file; returns the path. `nchw_input=True` makes the graph take
    NCHW images (the first Transpose dropped), as tf2onnx's `inputs_as_nchw`.

    >>> # striate.export.onnx(model, "model.onnx"); then onnxruntime.InferenceSession(...)
    """
    onnx = onnx_module()
    if opset_version not in OPSETS:
        raise ValueError(
            f"ONNX export: opset_version must be {OPSETS.start}..{OPSETS.stop - 1}. Received: "
            f"{opset_version!r}."
        )
    if not model.built or model.input_shape is None:
        raise ValueError(f"ONNX export: model '{model.name}' is not built; build or fit it first.")
    graph = Graph(onnx)
    graph.opset = opset_version
    shape = list(model.input_shape)
    if isinstance(shape[0], (list, tuple)) or isinstance(model.output_shape, list):
        raise ValueError(
            f"ONNX export: model '{model.name}' has several inputs or outputs; striate exports "
            f"models of one input and one output. Received: input {model.input_shape}, output "
            f"{model.output_shape}."
        )
    dims = ["N", *shape[1:]]
    if nchw_input and len(dims) == 4:
        dims = [dims[0], dims[3], dims[1], dims[2]]
    first = graph.unique("input")
    if nchw_input and len(dims) == 4:
        graph.layouts[first] = "NCHW"
    output = walk(graph, model, first)
    output = graph.layout(output, "NHWC")
    graph.nodes.append(onnx.helper.make_node("Identity", [output], ["output"], name="output"))
    out_dims = ["N", *model.output_shape[1:]]
    proto = onnx.helper.make_graph(
        graph.nodes,
        model.name,
        [onnx.helper.make_tensor_value_info(first, onnx.TensorProto.FLOAT, dims)],
        [onnx.helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, out_dims)],
        graph.inits,
    )
    onnx_model = onnx.helper.make_model(
        proto,
        opset_imports=[onnx.helper.make_opsetid("", opset_version)],
        producer_name="striate",
        ir_version=ir_version(onnx, opset_version),
    )
    from striate import __version__

    layers = ",".join(type(layer).__name__ for layer in model.layers)
    onnx.helper.set_model_props(
        onnx_model, {"striate_version": __version__, "layers": layers, "layout": "NHWC"}
    )
    onnx_model = onnx.shape_inference.infer_shapes(onnx_model, check_type=True, strict_mode=True)
    for value in onnx_model.graph.value_info:  # Resize's floor(N * 1.0) is the batch again
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param.startswith("unk__"):
            dims[0].dim_param = "N"
    onnx_model = onnx.shape_inference.infer_shapes(onnx_model, check_type=True, strict_mode=True)
    onnx.checker.check_model(onnx_model, full_check=True)
    from striate.saving.keras_file import atomic_write

    atomic_write(filepath, lambda file: file.write(onnx_model.SerializeToString()), True)
    if verbose:
        print(f"Wrote {os.fspath(filepath)} ({len(graph.nodes)} ONNX nodes, opset {opset_version})")
    return os.fspath(filepath)


def ir_version(onnx, opset):
    """The lowest IR version that carries `opset` (onnx.helper.VERSION_TABLE): 17 -> 8."""
    versions = [row[1] for row in onnx.helper.VERSION_TABLE if row[2] >= opset]
    return min(versions)


def walk(graph, model, first):
    """Add every layer's nodes; the name of the model's output value."""
    from striate.models.functional import Functional

    if not isinstance(model, Functional):
        x = first
        for layer in model.layers:
            x = layer_nodes(graph, layer, [x])
        return x
    values = {id(model.inputs[0]): first}
    for node in model._nodes:
        names = [values[id(t)] for t in node.input_tensors]
        values[id(node.outputs[0])] = layer_nodes(graph, node.layer, names)
    return values[id(model.outputs[0])]


def layer_nodes(graph, layer, inputs):
    kind, name, x = type(layer).__name__, layer.name, inputs[0]
    config = layer.get_config()
    if layer.held_layers():
        raise ops.unsupported(layer, "is a nested model")
    if kind in ops.IDENTITY or kind == "InputLayer":
        return x
    if kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose"):
        return ops.conv(graph, layer, x)
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        return ops.pool(graph, layer, x)
    if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        return ops.global_pool(graph, layer, x)
    if kind == "Dense":
        return ops.dense(graph, layer, x)
    if kind == "Activation":
        return ops.activation(graph, layer, x, name)
    if kind == "ReLU":
        if config["threshold"] != 0 or (config["negative_slope"] and config["max_value"]):
            raise ops.unsupported(layer, "sets threshold, or both negative_slope and max_value")
        if config["negative_slope"]:
            return graph.node("LeakyRelu", [x], name, alpha=float(config["negative_slope"]))
        y = graph.node("Relu", [x], name)
        if config["max_value"] is not None:
            limits = [graph.const(0.0), graph.const(config["max_value"])]
            y = graph.node("Clip", [y, *limits], name + "/max_value")
        return y
    if kind == "LeakyReLU":
        return graph.node("LeakyRelu", [x], name, alpha=float(config["negative_slope"]))
    if kind == "ELU":
        return graph.node("Elu", [x], name, alpha=float(config["alpha"]))
    if kind == "Softmax":
        if not isinstance(config["axis"], int):
            raise ops.unsupported(layer, "has several softmax axes")
        return graph.node("Softmax", [x], name, axis=graph.axis(x, config["axis"]))
    if kind == "PReLU":
        x = graph.layout(x, "NHWC")
        return graph.node("PRelu", [x, graph.init(name + "/alpha", layer.alpha.data)], name)
    if kind == "BatchNormalization":
        return batch_norm(graph, layer, x, config)
    if kind == "LayerNormalization":
        return layer_norm(graph, layer, x, config)
    if kind == "Flatten":
        return graph.node("Flatten", [graph.layout(x, "NHWC")], name, axis=1)
    if kind == "Reshape":
        target = graph.const(np.array([0, *config["target_shape"]]), np.int64)
        return graph.node("Reshape", [graph.layout(x, "NHWC"), target], name)
    if kind == "Permute":
        perm = [0, *config["dims"]]
        return graph.node("Transpose", [graph.layout(x, "NHWC")], name, perm=perm)
    if kind in ("Rescaling", "Normalization"):
        return affine(graph, layer, x)
    if kind in ("ZeroPadding2D", "Cropping2D", "CenterCrop", "RandomCrop"):
        return borders(graph, layer, x, config)
    if kind == "UpSampling2D":
        if config.get("interpolation", "nearest") != "nearest":
            raise ops.unsupported(layer, "uses bilinear interpolation")
        x = graph.layout(x, "NCHW")
        sh, sw = config["size"]
        scales = graph.const(np.array([1, 1, sh, sw]), np.float32)
        return graph.node(
            "Resize",
            [x, "", scales],
            name,
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )
    if kind == "Resizing":
        return resizing(graph, layer, x, config)
    if kind in ("Add", "Subtract", "Multiply", "Maximum", "Minimum", "Average", "Concatenate"):
        return merge(graph, layer, inputs, kind, config)
    raise ops.unsupported(layer, "has no ONNX translation")


def batch_norm(graph, layer, x, config):
    channels = layer.moving_mean.data.shape[0]
    if len(layer.input_shape) == 4:
        x = graph.layout(x, "NCHW")
    elif len(layer.input_shape) != 2:
        raise ops.unsupported(layer, "normalizes an input of rank other than 2 or 4")
    gamma = layer.gamma.data if config["scale"] else np.ones(channels)
    beta = layer.beta.data if config["center"] else np.zeros(channels)
    names = [
        graph.init(layer.name + "/" + part, array)
        for part, array in (
            ("gamma", gamma),
            ("beta", beta),
            ("moving_mean", layer.moving_mean.data),
            ("moving_variance", layer.moving_variance.data),
        )
    ]
    return graph.node("BatchNormalization", [x, *names], layer.name, epsilon=config["epsilon"])


def layer_norm(graph, layer, x, config):
    if graph.opset < 17:
        raise ops.unsupported(layer, "needs ONNX's LayerNormalization, opset 17 or later")
    axis = config["axis"]
    rank = len(layer.input_shape)
    axes = sorted(a % rank for a in (axis if isinstance(axis, list) else [axis]))
    if axes != list(range(axes[0], rank)):
        raise ops.unsupported(layer, "normalizes axes that are not the last ones")
    x = graph.layout(x, "NHWC")
    shape = layer.input_shape[axes[0] :]
    gamma = layer.gamma.data if config["scale"] else np.ones(shape)
    names = [graph.init(layer.name + "/gamma", np.broadcast_to(gamma, shape))]
    if config["center"]:
        names.append(graph.init(layer.name + "/beta", np.broadcast_to(layer.beta.data, shape)))
    return graph.node(
        "LayerNormalization", [x, *names], layer.name, axis=axes[0], epsilon=config["epsilon"]
    )


def affine(graph, layer, x):
    """Rescaling and Normalization are x * a + b per element: a and b read off the layer."""
    shape = (1, *layer.input_shape[1:])
    from striate.tensor import no_grad

    with no_grad():
        b = np.asarray(layer(np.zeros(shape, layer.dtype)).data, np.float64)
        a = np.asarray(layer(np.ones(shape, layer.dtype)).data, np.float64) - b
    x = graph.layout(x, "NHWC")
    y = graph.node("Mul", [x, graph.init(layer.name + "/scale", a[0])], layer.name + "/scale")
    return graph.node("Add", [y, graph.init(layer.name + "/offset", b[0])], layer.name)


def borders(graph, layer, x, config):
    kind, name = type(layer).__name__, layer.name
    _, height, width, _ = layer.input_shape
    if kind == "ZeroPadding2D":
        (top, bottom), (left, right) = config["padding"]
        x = graph.layout(x, "NCHW")
        pads = graph.const(np.array([0, 0, top, left, 0, 0, bottom, right]), np.int64)
        return graph.node("Pad", [x, pads], name, mode="constant")
    if kind == "Cropping2D":
        (top, bottom), (left, right) = config["cropping"]
    else:  # CenterCrop, RandomCrop at inference: the centre, when the image is big enough
        if config["height"] > height or config["width"] > width:
            raise ops.unsupported(layer, "resizes images smaller than its crop")
        if kind == "RandomCrop" and (config["height"], config["width"]) != (height, width):
            raise ops.unsupported(layer, "crops at inference (its input is larger than its size)")
        top, left = (height - config["height"]) // 2, (width - config["width"]) // 2
        bottom, right = height - config["height"] - top, width - config["width"] - left
    x = graph.layout(x, "NCHW")
    starts = graph.const(np.array([top, left]), np.int64)
    ends = graph.const(np.array([height - bottom, width - right]), np.int64)
    axes = graph.const(np.array([2, 3]), np.int64)
    return graph.node("Slice", [x, starts, ends, axes], name)


def resizing(graph, layer, x, config):
    _, height, width, _ = layer.input_shape
    if (config["height"], config["width"]) == (height, width):
        return x
    if config["crop_to_aspect_ratio"] or config["pad_to_aspect_ratio"] or config["antialias"]:
        raise ops.unsupported(layer, "crops or pads to the aspect ratio, or antialiases")
    modes = {"bilinear": "linear", "nearest": "nearest"}
    if config["interpolation"] not in modes:
        raise ops.unsupported(layer, f"uses {config['interpolation']!r} interpolation")
    x = graph.layout(x, "NCHW")
    scales = [1.0, 1.0]
    for size, out in ((height, config["height"]), (width, config["width"])):
        scale = np.float32(out / size)
        while (
            min(np.floor(np.float32(size) * scale), np.floor(size * float(scale))) < out
        ):  # ONNX sizes are floor(in * scale)
            scale = np.nextafter(scale, np.float32(np.inf))
        scales.append(float(scale))
    scales = graph.const(np.array(scales), np.float32)
    return graph.node(
        "Resize",
        [x, "", scales],
        layer.name,
        mode=modes[config["interpolation"]],
        coordinate_transformation_mode="half_pixel",
        nearest_mode="round_prefer_ceil",
    )


def merge(graph, layer, inputs, kind, config):
    layout = graph.layouts.get(inputs[0]) or "NHWC"
    inputs = [graph.layout(x, layout) for x in inputs]
    if kind == "Concatenate":
        rank = len(layer.output_shape)
        axis = graph.axis(inputs[0], config["axis"] % rank, rank)
        return graph.node("Concat", inputs, layer.name, axis=axis)
    if kind == "Subtract":
        return graph.node("Sub", inputs, layer.name)
    op = {"Add": "Sum", "Multiply": "Mul", "Maximum": "Max", "Minimum": "Min", "Average": "Mean"}
    if kind == "Multiply":
        y = inputs[0]
        for index, other in enumerate(inputs[1:]):
            last = index == len(inputs) - 2
            y = graph.node("Mul", [y, other], layer.name if last else f"{layer.name}/{index}")
        return y
    return graph.node(op[kind], inputs, layer.name)
