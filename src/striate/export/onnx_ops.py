"""How each striate layer becomes ONNX nodes (inference only), for `striate.export.onnx`.

Images flow NCHW inside the graph (ONNX's Conv and pools want it) and NHWC at its ends (what
the user feeds). Each rank-4 value remembers its layout, and a Transpose is added only where an
op needs the other one: before a Flatten, Reshape, Dense, Permute or per-channel arithmetic, so
Dense kernels and the flatten order stay Keras's. Kernels are HWIO in striate and OIHW in ONNX.
"""

import numpy as np

from striate import activations

TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
SELU = (1.6732632423543772, 1.0507009873554805)
IDENTITY = (
    "Dropout",
    "SpatialDropout2D",
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
)


def same_pads(size, kernel, stride, dilation=1):
    """Keras's 'same' padding of one axis: (before, after), the odd pixel after."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def window_pads(layer, config, dilation=(1, 1)):
    if config["padding"] == "valid":
        return [0, 0, 0, 0]
    _, height, width, _ = layer.input_shape
    kh, kw = config.get("kernel_size") or config["pool_size"]
    sh, sw = config["strides"]
    top, bottom = same_pads(height, kh, sh, dilation[0])
    left, right = same_pads(width, kw, sw, dilation[1])
    return [top, left, bottom, right]


def unsupported(layer, what):
    return ValueError(
        f"ONNX export: layer '{layer.name}' ({type(layer).__name__}) {what}; striate cannot "
        f"export it to ONNX yet. Received: {layer.get_config()!r:.200}."
    )


def activation(graph, layer, x, name, function=None):
    """The nodes of an activation function (a layer's `activation`), layout-aware."""
    function = layer.activation if function is None else function
    try:
        key = activations.serialize(function)
    except TypeError:
        raise unsupported(layer, "has a custom activation") from None
    if key == "linear":
        return x
    simple = {
        "relu": "Relu",
        "sigmoid": "Sigmoid",
        "tanh": "Tanh",
        "softplus": "Softplus",
        "softsign": "Softsign",
        "exponential": "Exp",
    }
    if key in simple:
        return graph.node(simple[key], [x], name)
    if key == "elu":
        return graph.node("Elu", [x], name, alpha=1.0)
    if key == "selu":
        return graph.node("Selu", [x], name, alpha=SELU[0], gamma=SELU[1])
    if key == "leaky_relu":
        return graph.node("LeakyRelu", [x], name, alpha=0.2)
    if key in ("softmax", "log_softmax"):
        axis = graph.axis(x, -1)
        return graph.node("Softmax" if key == "softmax" else "LogSoftmax", [x], name, axis=axis)
    if key == "relu6":
        return graph.node("Clip", [x, graph.const(0.0), graph.const(6.0)], name)
    if key == "hard_sigmoid":
        return graph.node("HardSigmoid", [x], name, alpha=1 / 6, beta=0.5)
    if key in ("silu", "swish"):
        return graph.node("Mul", [x, graph.node("Sigmoid", [x], name + "/sigmoid")], name)
    if key in ("hard_silu", "hard_swish"):
        gate = graph.node("HardSigmoid", [x], name + "/gate", alpha=1 / 6, beta=0.5)
        return graph.node("Mul", [x, gate], name)
    if key == "gelu":  # Keras's default: exact, 0.5 x (1 + erf(x / sqrt 2))
        scaled = graph.node("Mul", [x, graph.const(1 / np.sqrt(2.0))], name + "/scaled")
        erf = graph.node("Erf", [scaled], name + "/erf")
        one = graph.node("Add", [erf, graph.const(1.0)], name + "/one_plus")
        return graph.node("Mul", [graph.node("Mul", [x, one], name + "/x"), graph.const(0.5)], name)
    if key == "mish":
        soft = graph.node("Softplus", [x], name + "/softplus")
        return graph.node("Mul", [x, graph.node("Tanh", [soft], name + "/tanh")], name)
    raise unsupported(layer, f"uses the activation {key!r}")


def conv(graph, layer, x):
    config = layer.get_config()
    kernel = np.asarray(getattr(layer, "kernel", layer._weights[0]).data, np.float32)
    name, kind = layer.name, type(layer).__name__
    x = graph.layout(x, "NCHW")
    dilation = list(config.get("dilation_rate") or (1, 1))
    common = {"strides": list(config["strides"]), "dilations": dilation}
    bias = [graph.init(name + "/bias", layer.bias.data)] if getattr(layer, "bias", None) else []
    if kind == "Conv2D":
        weight = graph.init(name + "/kernel", kernel.transpose(3, 2, 0, 1))
        pads = window_pads(layer, config, dilation)
        y = graph.node(
            "Conv", [x, weight, *bias], name, pads=pads, group=config["groups"], **common
        )
    elif kind == "DepthwiseConv2D":
        kh, kw, channels, multiplier = kernel.shape
        weight = kernel.reshape(kh, kw, 1, channels * multiplier).transpose(3, 2, 0, 1)
        pads = window_pads(layer, config, dilation)
        y = graph.node(
            "Conv",
            [x, graph.init(name + "/kernel", weight), *bias],
            name,
            pads=pads,
            group=channels,
            **common,
        )
    elif kind == "SeparableConv2D":
        depthwise = np.asarray(layer.depthwise_kernel.data, np.float32)
        kh, kw, channels, multiplier = depthwise.shape
        weight = depthwise.reshape(kh, kw, 1, channels * multiplier).transpose(3, 2, 0, 1)
        pads = window_pads(layer, config, dilation)
        middle = graph.node(
            "Conv",
            [x, graph.init(name + "/depthwise_kernel", weight)],
            name + "/depthwise",
            pads=pads,
            group=channels,
            **common,
        )
        pointwise = np.asarray(layer.pointwise_kernel.data, np.float32).transpose(3, 2, 0, 1)
        y = graph.node(
            "Conv", [middle, graph.init(name + "/pointwise_kernel", pointwise), *bias], name
        )
    else:  # Conv2DTranspose: ONNX wants (in, out, kh, kw); striate's is (kh, kw, out, in)
        if config.get("output_padding") is not None or dilation != [1, 1]:
            raise unsupported(layer, "sets output_padding or dilation_rate")
        kh, kw = config["kernel_size"]
        sh, sw = config["strides"]
        pads = [0, 0, 0, 0]
        if config["padding"] == "same":
            if kh < sh or kw < sw:
                raise unsupported(layer, "has 'same' padding with a kernel smaller than its stride")
            th, tw = kh - sh, kw - sw
            pads = [th // 2, tw // 2, th - th // 2, tw - tw // 2]
        weight = graph.init(name + "/kernel", kernel.transpose(3, 2, 0, 1))
        y = graph.node("ConvTranspose", [x, weight, *bias], name, pads=pads, **common)
    graph.layouts[y] = "NCHW"
    return activation(graph, layer, y, name + "/activation")


def pool(graph, layer, x):
    config = layer.get_config()
    x = graph.layout(x, "NCHW")
    kind = "MaxPool" if type(layer).__name__ == "MaxPooling2D" else "AveragePool"
    extra = {} if kind == "MaxPool" else {"count_include_pad": 0}
    y = graph.node(
        kind,
        [x],
        layer.name,
        kernel_shape=list(config["pool_size"]),
        strides=list(config["strides"]),
        pads=window_pads(layer, config),
        **extra,
    )
    graph.layouts[y] = "NCHW"
    return y


def global_pool(graph, layer, x):
    kind = "GlobalMaxPool" if "Max" in type(layer).__name__ else "GlobalAveragePool"
    y = graph.node(kind, [graph.layout(x, "NCHW")], layer.name + "/pool")
    if layer.get_config().get("keepdims"):
        graph.layouts[y] = "NCHW"
        return y
    return graph.node("Flatten", [y], layer.name, axis=1)


def dense(graph, layer, x):
    x = graph.layout(x, "NHWC")
    kernel = graph.init(layer.name + "/kernel", layer.kernel.data)
    bias = getattr(layer, "bias", None)
    if len(layer.input_shape) == 2 and bias is not None:
        y = graph.node("Gemm", [x, kernel, graph.init(layer.name + "/bias", bias.data)], layer.name)
    else:
        y = graph.node("MatMul", [x, kernel], layer.name + ("/matmul" if bias else ""))
        if bias is not None:
            y = graph.node("Add", [y, graph.init(layer.name + "/bias", bias.data)], layer.name)
    return activation(graph, layer, y, layer.name + "/activation")
