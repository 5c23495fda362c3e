"""Receptive fields and a detailed summary, by arithmetic on kernel sizes, strides and paddings.

A window layer (Conv2D, pooling, ZeroPadding2D) maps an interval of its output rows [a, b] back to
the input rows [a*s - p, b*s - p + k - 1] (k kernel, s stride, p padding before), clipped to the
input, since padding cells are not pixels. Going back layer by layer from a unit gives exactly the
input pixels that can move it. Elementwise layers keep the interval; Flatten, Dense on vectors,
Reshape and global pooling see the whole input.

Per layer, the theoretical field follows the usual recurrence along each axis:
`size_out = size_in + (k - 1) * jump_in` and `jump_out = jump_in * s` (starting at size 1, jump 1).
"""

import math
from dataclasses import dataclass

from striate.layers.activation import PReLU, Softmax
from striate.layers.base import Layer, format_shape
from striate.layers.conv import Conv2D, ZeroPadding2D
from striate.layers.conv_more import DepthwiseConv2D, SeparableConv2D
from striate.layers.core import Activation, Dense, Dropout, Flatten, InputLayer
from striate.layers.lookup import layer_index
from striate.layers.merging import Concatenate, _Merge
from striate.layers.normalization import BatchNormalization
from striate.layers.pooling import Pooling2D
from striate.layers.regularization import SpatialDropout2D
from striate.ops.geometry import dilated_length, output_length_formula, same_padding
from striate.see.steps import INPUT, model_steps

_CONVS = (Conv2D, DepthwiseConv2D, SeparableConv2D)


def _window(layer):
    """The cells a conv kernel (dilated) or a pool window spans, per axis."""
    if isinstance(layer, Pooling2D):
        return tuple(layer.pool_size)
    return tuple(dilated_length(k, d) for k, d in zip(layer.kernel_size, layer.dilation_rate))


_ELEMENTWISE = (Activation, Dropout, BatchNormalization, InputLayer, PReLU, SpatialDropout2D)


@dataclass(frozen=True)
class Field:
    """An input rectangle, half-open: rows top..bottom-1, columns left..right-1.

    >>> Field(0, 0, 3, 3).size, Field(0, 0, 3, 3).slices
    ((3, 3), (slice(0, 3, None), slice(0, 3, None)))
    """

    top: int
    left: int
    bottom: int
    right: int

    @property
    def size(self):
        return (self.bottom - self.top, self.right - self.left)

    @property
    def slices(self):
        return (slice(self.top, self.bottom), slice(self.left, self.right))

    def __iter__(self):
        return iter((self.top, self.left, self.bottom, self.right))


@dataclass(frozen=True)
class LayerField:
    """A layer's theoretical receptive field: size (rows, cols) and jump (input pixels between
    neighbouring units); `whole=True` when every unit sees the whole input (jump is then None)."""

    name: str
    size: tuple
    jump: tuple | None
    whole: bool = False

    def _replace_name(self, name):
        return LayerField(name, self.size, self.jump, self.whole)


def position_map(layer):
    """How a layer maps positions: ('window', kernel, strides, pads_before), ('same',) or
    ('whole',). Uses the layer's built input shape for 'same' padding."""
    if isinstance(layer, (*_CONVS, Pooling2D)):
        kernel = _window(layer)
        if layer.padding == "same":
            pads = tuple(
                same_padding(n, k, s)[0]
                for n, k, s in zip(layer.input_shape[1:3], kernel, layer.strides)
            )
        else:
            pads = (0, 0)
        return ("window", tuple(kernel), tuple(layer.strides), pads)
    if isinstance(layer, ZeroPadding2D):
        (top, _), (left, _) = layer.padding
        return ("window", (1, 1), (1, 1), (top, left))
    if isinstance(layer, Softmax) and any(
        axis % len(layer.input_shape) != len(layer.input_shape) - 1
        for axis in (layer.axis if isinstance(layer.axis, list) else [layer.axis])
    ):
        return ("whole",)  # a softmax across pixels: each output depends on all of them
    if isinstance(layer, Concatenate):  # along channels: each pixel from the same pixels
        rank = len(layer.output_shape)
        return ("same",) if layer.axis % rank == rank - 1 else ("whole",)
    if isinstance(layer, (_ELEMENTWISE, _Merge)) or type(layer) is Layer:
        return ("same",)
    if isinstance(layer, Dense) and len(layer.input_shape) == 4:
        return ("same",)  # Dense on (N, H, W, C) acts on each pixel, like a 1x1 convolution
    return ("whole",)


def _built(model, where):
    if not model.built:
        model.build()
    if len(model.input_shape) != 4:
        raise ValueError(
            f"{where}: receptive fields need an image input (height, width, "
            f"channels). Received: input shape {format_shape(model.input_shape)}."
        )
    return model.input_shape[1:3]


def receptive_field(model, layer, position=None):
    """The input rectangle a unit of a layer can see, clipped to the image.

    Args:
        model: a Sequential with an image input.
        layer: a layer name, or an index into `model.layers` (negative counts from the end).
        position: (row, col) of the unit in that layer's output; ignored (may be None) where the
            layer's units see the whole input.

    Returns:
        Field(top, left, bottom, right), half-open; Field(0, 0, 0, 0) (size 0) for a unit whose
        window holds only padding.

    >>> from striate.layers import Conv2D, MaxPool2D
    >>> from striate.models import Sequential
    >>> model = Sequential([Conv2D(6, 2, input_shape=(28, 28, 1)), MaxPool2D(2)])
    >>> tuple(receptive_field(model, 1, (0, 0))), tuple(receptive_field(model, 1, (12, 12)))
    ((0, 0, 3, 3), (24, 24, 27, 27))
    """
    height, width = _built(model, "receptive_field")
    index = layer_index(model.layers, layer, "receptive_field")
    layer = model.layers[index]
    steps = model_steps(model, "receptive_field")
    last = next((i for i, step in enumerate(steps) if step.layer is layer), None)
    if last is None:  # a model's InputLayer: a unit is a pixel
        return Field(*position, position[0] + 1, position[1] + 1) if position else None
    maps = [position_map(step.layer) for step in steps[: last + 1]]
    if any(g[0] == "whole" for g in maps):
        return Field(0, 0, height, width)
    out_h, out_w = layer.output_shape[1:3]
    if position is None or len(position) != 2:
        raise ValueError(
            f"receptive_field: {layer.describe()} has {out_h}x{out_w} units; give "
            f"position=(row, col). Received: position={position!r}"
        )
    row, col = (int(p) for p in position)
    if not (0 <= row < out_h and 0 <= col < out_w):
        raise ValueError(
            f"receptive_field: position ({row}, {col}) is outside "
            f"{layer.describe()}'s {out_h}x{out_w} output. "
            f"Received: position={position!r}"
        )
    # Back from the unit, call by call; where a value feeds several calls (a residual's
    # input), its field is the union (bounding box) of what each path needs.
    needed = {steps[last].writes: ((row, row), (col, col))}
    for i in range(last, -1, -1):
        step, g = steps[i], maps[i]
        if step.writes not in needed:
            continue
        rows, cols = needed.pop(step.writes)
        if g[0] == "window":
            _, (kh, kw), (sh, sw), (ph, pw) = g
            n_h, n_w = step.layer.input_shape[1:3]
            rows = _back(rows, kh, sh, ph, n_h)
            cols = _back(cols, kw, sw, pw, n_w)
            if rows[0] > rows[1] or cols[0] > cols[1]:
                continue  # this path's window holds only padding
        for key in step.read_keys:
            if key in needed:
                (r0, r1), (c0, c1) = needed[key]
                rows, cols = (
                    (min(r0, rows[0]), max(r1, rows[1])),
                    (min(c0, cols[0]), max(c1, cols[1])),
                )
            needed[key] = (rows, cols)
    if INPUT not in needed:
        return Field(0, 0, 0, 0)  # every path's window holds only padding
    rows, cols = needed[INPUT]
    return Field(rows[0], cols[0], rows[1] + 1, cols[1] + 1)


def _back(interval, k, s, p, n):
    a, b = interval
    return max(a * s - p, 0), min(b * s - p + k - 1, n - 1)


def layer_fields(model):
    """The theoretical receptive field size and jump of every layer.

    >>> from striate.layers import Conv2D, MaxPool2D
    >>> from striate.models import Sequential
    >>> model = Sequential([Conv2D(6, 2, input_shape=(28, 28, 1)), MaxPool2D(2)])
    >>> [(f.size, f.jump) for f in layer_fields(model)]
    [((2, 2), (1, 1)), ((3, 3), (2, 2))]
    """
    height, width = _built(model, "layer_fields")
    # per value: (size, jump, whole); a call reading several takes the largest field
    known = {INPUT: ((1, 1), (1, 1), False)}
    by_layer = {}
    for step in model_steps(model, "layer_fields"):
        read = [known[key] for key in step.read_keys]
        whole = any(r[2] for r in read)
        if not whole:
            size = tuple(max(r[0][axis] for r in read) for axis in (0, 1))
            jump = tuple(max(r[1][axis] for r in read) for axis in (0, 1))
        g = position_map(step.layer)
        if whole or g[0] == "whole":
            whole, size, jump = True, (height, width), None
        elif g[0] == "window":
            _, kernel, strides, _ = g
            size = tuple(r + (k - 1) * j for r, k, j in zip(size, kernel, jump))
            jump = tuple(j * s for j, s in zip(jump, strides))
        known[step.writes] = (size, jump, whole)
        by_layer.setdefault(id(step.layer), LayerField(step.layer.name, size, jump, whole))
    first = LayerField("input", (1, 1), (1, 1), False)
    return [by_layer.get(id(layer), first)._replace_name(layer.name) for layer in model.layers]


def macs(layer):
    """Multiply-accumulates per sample: Conv2D oh*ow*f*kh*kw*c, Dense in*units per position."""
    if isinstance(layer, Conv2D):
        _, oh, ow, f = layer.output_shape
        kh, kw = layer.kernel_size
        return oh * ow * f * kh * kw * layer.input_shape[-1] // layer.groups
    if isinstance(layer, (DepthwiseConv2D, SeparableConv2D)):
        _, oh, ow, f = layer.output_shape
        kh, kw = layer.kernel_size
        middle = layer.input_shape[-1] * layer.depth_multiplier
        pointwise = middle * f if isinstance(layer, SeparableConv2D) else 0
        return oh * ow * (kh * kw * middle + pointwise)
    if isinstance(layer, Dense):
        positions = math.prod(layer.output_shape[1:-1])
        return positions * layer.input_shape[-1] * layer.units
    return 0


def output_size_formula(layer):
    """The arithmetic behind a layer's output size, e.g. `floor((28 - 2) / 1) + 1 = 27`.

    >>> from striate.layers import Conv2D
    >>> layer = Conv2D(6, 2)
    >>> _ = layer.build_for((None, 28, 28, 1))
    >>> output_size_formula(layer)
    'floor((28 - 2) / 1) + 1 = 27'
    """
    shape_in, shape_out = layer.input_shape, layer.output_shape
    if shape_in and not isinstance(shape_in[0], (int, type(None))):  # a merge's several inputs
        return f"{type(layer).__name__.lower()} of its inputs -> {format_shape(shape_out[1:])}"
    if isinstance(layer, (*_CONVS, Pooling2D)):
        kernel = _window(layer)
        parts = [
            output_length_formula(n, k, s, layer.padding)
            for n, k, s in zip(shape_in[1:3], kernel, layer.strides)
        ]
        return _per_axis(parts)
    if isinstance(layer, ZeroPadding2D):
        parts = [
            f"{n} + {a} + {b} = {out}"
            for n, (a, b), out in zip(shape_in[1:3], layer.padding, shape_out[1:3])
        ]
        return _per_axis(parts)
    if isinstance(layer, Flatten):
        return " * ".join(str(d) for d in shape_in[1:]) + f" = {shape_out[-1]}"
    if isinstance(layer, Dense):
        return f"units = {layer.units}"
    if tuple(shape_in) == tuple(shape_out):
        return "same as input"
    return f"{format_shape(shape_in[1:])} -> {format_shape(shape_out[1:])}"


def _per_axis(parts):
    return parts[0] if parts[0] == parts[1] else f"rows {parts[0]}; cols {parts[1]}"


def detailed_summary(model):
    """`model.summary()` plus, per layer, MACs, receptive field size and jump, and the
    arithmetic of the output size.

    Returns:
        str: the table.

    >>> from striate.layers import Conv2D, MaxPool2D
    >>> from striate.models import Sequential
    >>> text = detailed_summary(Sequential([Conv2D(6, 2, input_shape=(28, 28, 1)), MaxPool2D(2)]))
    >>> "floor((27 - 2) / 2) + 1 = 13" in text and "17,496" in text
    True
    """
    _built(model, "detailed_summary")
    fields = layer_fields(model)
    header = ("Layer (type)", "Output Shape", "Param #", "MACs", "Field", "Jump", "Output size")
    rows = []
    for layer, fld in zip(model.layers, fields):
        size = f"{fld.size[0]}x{fld.size[1]}" + (" (all)" if fld.whole else "")
        jump = "-" if fld.jump is None else _pair_text(fld.jump)
        rows.append(
            (
                f"{layer.name} ({type(layer).__name__})",
                format_shape(layer.output_shape),
                f"{layer.count_params():,}",
                f"{macs(layer):,}",
                size,
                jump,
                output_size_formula(layer),
            )
        )
    widths = [max(len(r[i]) for r in rows + [header]) + 2 for i in range(len(header))]
    right = {2, 3}

    def line(cells):
        return (
            " "
            + "".join(
                c.rjust(w - 2) + "  " if i in right else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()
        )

    total = sum(widths) + 1
    text = [
        f'Model: "{model.name}" (input {format_shape(model.input_shape)})',
        "_" * total,
        line(header),
        "=" * total,
    ]
    for row in rows:
        text.append(line(row))
    total_macs = sum(macs(layer) for layer in model.layers)
    text += [
        "=" * total,
        f"Total params: {model.count_params():,}",
        f"Total MACs per sample: {total_macs:,}",
        (
            "Field: the input pixels one unit can see (size x size); Jump: input pixels "
            "between neighbouring units."
        ),
        "_" * total,
    ]
    return "\n".join(text)


def _pair_text(pair):
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"
