"""The convolution and pooling walkthroughs, as data: one step per kernel (or pool) position.

Each step is computed the slow, obvious way (a patch, the elementwise products, their sum), so a
walkthrough is also a reference for the fast ops: its sums equal the layer's output. Drawing lives
in `animate.py`; `Walkthrough.save(path)` renders the steps as an animated GIF (one frame a step).

The article's example: the 5x5 input below, the 3x3 kernel below, first output 4.

>>> walk = conv_walkthrough(ARTICLE_INPUT, ARTICLE_KERNEL)
>>> len(walk.steps), walk.steps[0].total, walk.output.tolist()
(9, 4.0, [[4.0, 3.0, 4.0], [2.0, 4.0, 3.0], [2.0, 3.0, 4.0]])
"""

from dataclasses import dataclass, field

import numpy as np

from striate.layers.base import normalize_padding, normalize_tuple
from striate.layers.lookup import layer_index
from striate.ops.geometry import conv_output_length, output_length_formula, same_padding

ARTICLE_INPUT = np.array(
    [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]],
    dtype=np.float64,
)
ARTICLE_KERNEL = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=np.float64)
# cs231n's max-pooling example: 2x2 windows, stride 2 -> [[6, 8], [3, 4]].
POOL_EXAMPLE = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float64)


@dataclass
class Step:
    """One window position. `position` is the output cell (row, col); `corner` the window's top
    left in the padded input; `values` the window (kh, kw, C) (NaN marks padding in pooling);
    `products` the elementwise products with the kernel (conv only); `total` the result before
    any activation; `argmax` (row, col) inside the window (max pooling only)."""

    position: tuple
    corner: tuple
    values: np.ndarray
    total: float
    products: np.ndarray | None = None
    argmax: tuple | None = None


@dataclass
class Walkthrough:
    """Steps of a convolution (`kind='conv'`) or pooling (`'max'`, `'avg'`) over one map.

    Attributes:
        kind: 'conv', 'max' or 'avg'.
        padded: the input with its padding, (rows, cols, channels); `pads` ((top, bottom),
            (left, right)); padding cells hold 0 (conv) or NaN (pooling).
        window, strides, padding: the geometry. kernel: (kh, kw, C) (conv). bias: float (conv).
        output: the full output map (rows, cols) before any activation.
        steps: the Steps shown, row-major. formulas: output size arithmetic per axis.
        title: what is shown. channel: the input channel drawn. activation: name or None.
    """

    kind: str
    padded: np.ndarray
    pads: tuple
    window: tuple
    strides: tuple
    padding: str
    output: np.ndarray
    steps: list = field(default_factory=list)
    formulas: tuple = ()
    kernel: np.ndarray | None = None
    bias: float = 0.0
    title: str = ""
    channel: int = 0
    activation: str | None = None
    activated: np.ndarray | None = None

    def frames(self, **options):
        """The pictures, one PIL image per step (needs matplotlib and pillow)."""
        from striate.see import animate

        return animate.render(self, **options)

    def save(self, path, duration=900, **options):
        """Write an animated GIF (one frame per step) or, for .png, the first step's picture."""
        from striate.see import animate

        return animate.save_walkthrough(self, path, duration=duration, **options)

    def __repr__(self):
        return (
            f"<Walkthrough {self.kind} window={self.window} strides={self.strides} "
            f"padding={self.padding!r} output={self.output.shape} steps={len(self.steps)}>"
        )


def _geometry(n_rows, n_cols, window, strides, padding, where):
    window = normalize_tuple(where, "window", window)
    strides = normalize_tuple(where, "strides", strides)
    padding = normalize_padding(where, padding)
    sizes = (n_rows, n_cols)
    formulas = tuple(
        output_length_formula(n, k, s, padding) for n, k, s in zip(sizes, window, strides)
    )
    out = tuple(conv_output_length(n, k, s, padding) for n, k, s in zip(sizes, window, strides))
    if min(out) <= 0:
        raise ValueError(
            f"{where}: window {window[0]}x{window[1]} does not fit input "
            f"{n_rows}x{n_cols}: output size {formulas[0]}, {formulas[1]}."
        )
    if padding == "same":
        pads = tuple(same_padding(n, k, s) for n, k, s in zip(sizes, window, strides))
    else:
        pads = ((0, 0), (0, 0))
    return window, strides, pads, out, formulas


def _as_map(x, where, what="x"):
    array = np.asarray(x, dtype=np.float64)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ValueError(
            f"{where}: {what} must be (rows, cols) or (rows, cols, channels). "
            f"Received: {what} of shape {array.shape}."
        )
    return array


def _positions(out_shape, positions, where):
    if positions is None:
        return [(i, j) for i in range(out_shape[0]) for j in range(out_shape[1])]
    if len(positions) == 2 and all(np.isscalar(p) for p in positions):
        positions = [positions]
    checked = []
    for i, j in positions:
        if not (0 <= i < out_shape[0] and 0 <= j < out_shape[1]):
            raise ValueError(
                f"{where}: position ({i}, {j}) is outside the {out_shape[0]}x{out_shape[1]} output."
            )
        checked.append((int(i), int(j)))
    return checked


def conv_walkthrough(
    x,
    kernel,
    bias=0.0,
    strides=1,
    padding="valid",
    positions=None,
    title="",
    channel=0,
    activation=None,
):
    """Slide `kernel` over `x` step by step (cross-correlation, as Conv2D computes it).

    Args:
        x: (rows, cols) or (rows, cols, channels).
        kernel: (kh, kw) or (kh, kw, channels), one filter.
        bias: added to every sum.
        strides: int or (rows, cols). padding: 'valid' or 'same' (zeros, as Keras pads).
        positions: output cells to show, [(row, col), ...] or one (row, col); None: all.
        title, channel, activation: what the picture says and which input channel it draws.

    Returns:
        Walkthrough with `kind='conv'`.
    """
    where = "conv_walkthrough"
    x = _as_map(x, where)
    kernel = _as_map(kernel, where, "kernel")
    if kernel.shape[2] != x.shape[2]:
        raise ValueError(
            f"{where}: the kernel has {kernel.shape[2]} channels, the input "
            f"{x.shape[2]}. Received: x {x.shape}, kernel {kernel.shape}."
        )
    window, strides, pads, out_shape, formulas = _geometry(
        x.shape[0], x.shape[1], kernel.shape[:2], strides, padding, where
    )
    padded = np.pad(x, (pads[0], pads[1], (0, 0)))
    kh, kw = window
    output = np.empty(out_shape)
    for i in range(out_shape[0]):
        for j in range(out_shape[1]):
            top, left = i * strides[0], j * strides[1]
            output[i, j] = np.sum(padded[top : top + kh, left : left + kw] * kernel) + bias
    steps = []
    for i, j in _positions(out_shape, positions, where):
        top, left = i * strides[0], j * strides[1]
        patch = padded[top : top + kh, left : left + kw]
        steps.append(Step((i, j), (top, left), patch, float(output[i, j]), patch * kernel))
    return Walkthrough(
        "conv",
        padded,
        pads,
        window,
        strides,
        padding,
        output,
        steps,
        formulas,
        kernel=kernel,
        bias=float(bias),
        title=title,
        channel=channel,
        activation=activation,
    )


def pool_walkthrough(
    x, pool_size=2, strides=None, padding="valid", mode="max", positions=None, title="", channel=0
):
    """Slide a pooling window over one map step by step.

    Args:
        x: (rows, cols) map (or (rows, cols, 1)).
        pool_size: int or (rows, cols). strides: None means pool_size (Keras).
        padding: 'valid' or 'same' ('same' padding cells never count: max skips them and the
            average divides by the real cells only, as MaxPooling2D/AveragePooling2D do).
        mode: 'max' or 'avg'. positions: as in `conv_walkthrough`.

    Returns:
        Walkthrough with `kind` 'max' or 'avg'.

    >>> walk = pool_walkthrough(POOL_EXAMPLE)
    >>> walk.output.tolist(), walk.steps[0].argmax
    ([[6.0, 8.0], [3.0, 4.0]], (1, 1))
    """
    where = "pool_walkthrough"
    if mode not in ("max", "avg"):
        raise ValueError(f"{where}: mode must be 'max' or 'avg'. Received: mode={mode!r}")
    x = _as_map(x, where)
    if x.shape[2] != 1:
        raise ValueError(
            f"{where}: pooling acts on one map at a time. "
            f"Received: x of shape {x.shape}; pass x[..., channel]."
        )
    window, strides, pads, out_shape, formulas = _geometry(
        x.shape[0], x.shape[1], pool_size, pool_size if strides is None else strides, padding, where
    )
    padded = np.pad(x, (pads[0], pads[1], (0, 0)), constant_values=np.nan)
    ph, pw = window
    output = np.empty(out_shape)
    argmaxes = {}
    for i in range(out_shape[0]):
        for j in range(out_shape[1]):
            top, left = i * strides[0], j * strides[1]
            values = padded[top : top + ph, left : left + pw, 0]
            if mode == "max":
                flat = int(np.nanargmax(values))  # the first maximum, row-major (as the op)
                argmaxes[i, j] = divmod(flat, pw)
                output[i, j] = values.flat[flat]
            else:
                output[i, j] = np.nanmean(values)
    steps = []
    for i, j in _positions(out_shape, positions, where):
        top, left = i * strides[0], j * strides[1]
        steps.append(
            Step(
                (i, j),
                (top, left),
                padded[top : top + ph, left : left + pw],
                float(output[i, j]),
                argmax=argmaxes.get((i, j)),
            )
        )
    return Walkthrough(
        mode,
        padded,
        pads,
        window,
        strides,
        padding,
        output,
        steps,
        formulas,
        title=title,
        channel=channel,
    )


def article_conv_walkthrough(strides=1, padding="valid"):
    """The article's 5x5 input and 3x3 kernel (first output 4), one step per position."""
    return conv_walkthrough(
        ARTICLE_INPUT,
        ARTICLE_KERNEL,
        strides=strides,
        padding=padding,
        title="The article's example: 5x5 input, 3x3 kernel",
    )


def layer_conv_walkthrough(model, layer, x, filter_index=0, positions=None, channel=None):
    """The walkthrough of a model's Conv2D layer on one input, for one filter.

    Args:
        model: a Sequential. layer: the Conv2D's name or index. x: one input.
        filter_index: which output channel (filter). positions: as in `conv_walkthrough`.
        channel: the input channel to draw (default: the one whose products sum largest in
            magnitude at the first position shown).

    Returns:
        Walkthrough whose sums (+ bias) equal the layer's pre-activation output.
    """
    from striate.layers.conv import Conv2D
    from striate.see.inspect import activation_name, inspect_model
    from striate.tensor import Tensor, no_grad

    where = "layer_conv_walkthrough"
    index = layer_index(model.layers, layer, where)
    conv = model.layers[index]
    if not isinstance(conv, Conv2D):
        raise TypeError(f"layer_conv_walkthrough: {conv.describe()} is not a Conv2D layer.")
    if conv.dilation_rate != (1, 1) or conv.groups != 1:
        raise ValueError(
            f"layer_conv_walkthrough: {conv.describe()} is dilated or grouped; the walkthrough "
            f"shows plain convolutions only. Received: dilation_rate={conv.dilation_rate}, "
            f"groups={conv.groups}"
        )
    inspection = inspect_model(model, x)
    source = next(r for r in inspection.layers if r.name == conv.name).input
    filters = conv.kernel.data.shape[-1]
    if not 0 <= filter_index < filters:
        raise ValueError(
            f"layer_conv_walkthrough: {conv.describe()} has {filters} filters "
            f"(0..{filters - 1}). Received: filter_index={filter_index!r}"
        )
    kernel = conv.kernel.data[..., filter_index].astype(np.float64)
    bias = 0.0 if conv.bias is None else float(conv.bias.data[filter_index])
    title = f"{conv.describe()}, filter {filter_index}"
    walk = conv_walkthrough(
        source,
        kernel,
        bias,
        conv.strides,
        conv.padding,
        positions,
        title=title,
        activation=activation_name(conv),
    )
    if channel is None:
        channel = int(np.argmax(np.abs(walk.steps[0].products.sum(axis=(0, 1)))))
    if isinstance(channel, bool) or not 0 <= channel < source.shape[-1]:
        raise ValueError(
            f"layer_conv_walkthrough: the input of {conv.describe()} has "
            f"{source.shape[-1]} channels. Received: channel={channel!r}"
        )
    walk.channel = channel
    if walk.activation not in (None, "linear", "softmax"):  # elementwise ones only
        with no_grad():
            walk.activated = conv.activation(Tensor(walk.output)).data
    return walk


def layer_pool_walkthrough(model, layer, x, channel=0, positions=None):
    """The walkthrough of a model's MaxPooling2D / AveragePooling2D on one input channel."""
    from striate.layers.pooling import AveragePooling2D, MaxPooling2D
    from striate.see.inspect import inspect_model

    where = "layer_pool_walkthrough"
    index = layer_index(model.layers, layer, where)
    pool = model.layers[index]
    if not isinstance(pool, (MaxPooling2D, AveragePooling2D)):
        raise TypeError(f"layer_pool_walkthrough: {pool.describe()} is not a pooling layer.")
    inspection = inspect_model(model, x)
    source = next(r for r in inspection.layers if r.name == pool.name).input
    if not 0 <= channel < source.shape[-1]:
        raise ValueError(
            f"layer_pool_walkthrough: the input of {pool.describe()} has "
            f"{source.shape[-1]} channels. Received: channel={channel!r}"
        )
    mode = "max" if isinstance(pool, MaxPooling2D) else "avg"
    return pool_walkthrough(
        source[..., channel],
        pool.pool_size,
        pool.strides,
        pool.padding,
        mode,
        positions,
        title=f"{pool.describe()}, channel {channel}",
        channel=channel,
    )
