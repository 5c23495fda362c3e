"""Drawing the walkthroughs of `walk.py`: one frame per kernel or pool position.

Convolution frame: the (padded) input with the window, the input patch (for large inputs), the
kernel, the elementwise products and their sum landing in the output cell; the output-size
arithmetic is written on every frame. Pooling frame: the map with the window (the maximum marked),
the window's values and the result. The figure is built once; each step moves the window and
rewrites the changing numbers, so a frame costs one redraw.
"""

import os

import numpy as np

from striate.see import draw

_MAX_ANNOTATED = 12  # panels with more cells a side are drawn as images without numbers


def render(walk, dpi=80):
    """One RGB PIL image per step of `walk`."""
    frames = _Frames(walk, dpi)
    images = []
    for n in range(len(walk.steps)):
        frames.show(n)
        images.append(draw.to_image(frames.fig))
    return images


def save_walkthrough(walk, path, duration=900, dpi=80):
    """An animated GIF (one frame per step) or, for .png, the first step alone."""
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension == ".png":
        frames = _Frames(walk, dpi)
        frames.show(0)
        return draw.save_figure(frames.fig, path)
    if extension != ".gif":
        raise ValueError(
            f"cannot save a walkthrough as {os.fspath(path)!r}: use .gif (animated) "
            f"or .png (its first step)"
        )
    return draw.save_frames(render(walk, dpi), path, duration=duration)


def _number(value):
    if not np.isfinite(value):
        return ""
    if float(value).is_integer() and abs(value) < 1e5:
        return str(int(value))
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"


class _Panel:
    """A 2-D array drawn cell by cell (NaN cells blank), with its numbers when small enough."""

    def __init__(self, ax, values, cmap, title, limits=None):
        values = np.asarray(values, dtype=np.float64)
        finite = values[np.isfinite(values)]
        if limits is None:
            low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
            limits = (low, high if high > low else low + 1)
        if limits[0] < 0 < limits[1]:
            bound = max(-limits[0], limits[1])
            limits, cmap = (-bound, bound), "RdBu_r"
        self.limits, self.cmap = limits, cmap
        self.image = ax.imshow(
            np.ma.masked_invalid(values),
            cmap=cmap,
            vmin=limits[0],
            vmax=limits[1],
            interpolation="nearest",
        )
        self.texts = None
        rows, cols = values.shape
        if max(rows, cols) <= _MAX_ANNOTATED:
            size = max(6, 15 - max(rows, cols))
            self.texts = {
                (r, c): ax.text(c, r, "", ha="center", va="center", fontsize=size)
                for r in range(rows)
                for c in range(cols)
            }
            self._write(values)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=10)

    def update(self, values):
        values = np.asarray(values, dtype=np.float64)
        self.image.set_data(np.ma.masked_invalid(values))
        if self.texts is not None:
            self._write(values)

    def _write(self, values):
        low, high = self.limits
        for (r, c), v in np.ndenumerate(values):
            if self.cmap == "RdBu_r":
                dark = abs(v) > 0.5 * high
            else:
                dark = np.isfinite(v) and v > low + 0.6 * (high - low)
            self.texts[r, c].set_text(_number(v))
            self.texts[r, c].set_color("white" if dark else "black")


def _move(box, top, left):
    box.set_xy((left - 0.5, top - 0.5))


def _shade_padding(ax, walk):
    (top, bottom), (left, right) = walk.pads
    rows, cols = walk.padded.shape[:2]
    if top or bottom or left or right:
        draw.box(ax, top, left, rows - top - bottom, cols - left - right, "0.35", 1.5, "--")
        mask = np.zeros((rows, cols))
        mask[:top], mask[rows - bottom :], mask[:, :left], mask[:, cols - right :] = 1, 1, 1, 1
        ax.imshow(
            np.ma.masked_equal(mask, 0),
            cmap="Greys",
            vmin=0,
            vmax=3,
            alpha=0.6,
            interpolation="nearest",
        )


def _output_limits(walk):
    low, high = float(walk.output.min()), float(walk.output.max())
    return (low, high if high > low else low + 1)


class _Frames:
    """The walkthrough figure; `show(n)` sets it to step n."""

    def __init__(self, walk, dpi):
        self.walk = walk
        conv = walk.kind == "conv"
        self.big = conv and max(walk.padded.shape[:2]) > _MAX_ANNOTATED
        count = (5 if self.big else 4) if conv else 3
        self.fig = draw.figure(2.9 * count + 0.5, 4.6, dpi)
        axes = list(
            self.fig.subplots(
                1,
                count,
                gridspec_kw={
                    "left": 0.02,
                    "right": 0.98,
                    "top": 0.78,
                    "bottom": 0.2,
                    "wspace": 0.15,
                },
            )
        )
        self.channel = walk.channel if walk.padded.shape[2] > 1 else 0
        channels = walk.padded.shape[2]
        label = f" (channel {self.channel} of {channels})" if channels > 1 else ""
        first = walk.steps[0]
        rows, cols = walk.window
        source = _Panel(axes[0], walk.padded[..., self.channel], "Blues", "input" + label)
        _shade_padding(axes[0], walk)
        self.window = draw.box(axes[0], *first.corner, rows, cols, "tab:green")
        self.patch = None
        if self.big or not conv:
            title = "input patch" if conv else "window"
            self.patch = _Panel(
                axes[1], first.values[..., self.channel], "Blues", title, limits=source.limits
            )
            draw.box(axes[1], 0, 0, rows, cols, "tab:green")
            axes = axes[:1] + axes[2:]
        if conv:
            _Panel(axes[1], walk.kernel[..., self.channel], "Greens", "kernel" + label)
            self.products = _Panel(
                axes[2], first.products[..., self.channel], "Greens", "input x kernel"
            )
            draw.box(axes[2], 0, 0, rows, cols, "tab:green")
            out_ax = axes[3]
        else:
            self.best_in = draw.box(axes[0], 0, 0, 1, 1, "tab:red", 2)
            self.best_window = draw.box(self.fig.axes[1], 0, 0, 1, 1, "tab:red", 3)
            self.best_in.set_visible(walk.kind == "max")
            self.best_window.set_visible(walk.kind == "max")
            out_ax = axes[1]
        self.output = _Panel(
            out_ax,
            self._progress(0),
            "Reds",
            "output (feature map)" if conv else "output",
            limits=_output_limits(walk),
        )
        self.cell = draw.box(out_ax, 0, 0, 1, 1, "tab:red")
        self._header()
        self.sum = self.fig.text(0.5, 0.06, "", ha="center", fontsize=11, family="monospace")

    def _header(self):
        walk = self.walk
        rows, cols = walk.formulas
        size = rows if rows == cols else f"rows {rows}, cols {cols}"
        stride = walk.strides[0] if walk.strides[0] == walk.strides[1] else walk.strides
        kind = {"conv": "", "max": ", max pooling", "avg": ", average pooling"}[walk.kind]
        default = "Convolution" if walk.kind == "conv" else "Pooling"
        self.fig.text(
            0.5, 0.965, walk.title or default, ha="center", va="top", fontsize=12, weight="bold"
        )
        self.fig.text(
            0.5,
            0.895,
            f"window {walk.window[0]}x{walk.window[1]}, stride {stride}, "
            f"padding '{walk.padding}'{kind}   output size: {size}",
            ha="center",
            va="top",
            fontsize=10,
        )

    def _progress(self, n):
        """The output cells done so far (NaN elsewhere), or all of them when the walkthrough
        shows only some positions."""
        walk = self.walk
        if len(walk.steps) < walk.output.size:
            return walk.output
        shown = np.full(walk.output.shape, np.nan)
        for step in walk.steps[: n + 1]:
            shown[step.position] = step.total
        return shown

    def show(self, n):
        walk, step, c = self.walk, self.walk.steps[n], self.channel
        _move(self.window, *step.corner)
        _move(self.cell, *step.position)
        self.output.update(self._progress(n))
        if self.patch is not None:
            self.patch.update(step.values[..., c])
        if walk.kind == "conv":
            self.products.update(step.products[..., c])
            self.sum.set_text(_conv_sum_text(walk, step, c))
            return
        if step.argmax is not None:
            r, col = step.argmax
            _move(self.best_in, step.corner[0] + r, step.corner[1] + col)
            _move(self.best_window, r, col)
        self.sum.set_text(_pool_text(walk, step))


def _conv_sum_text(walk, step, c):
    at = f"output[{step.position[0]}, {step.position[1]}]"
    products = step.products[..., c].ravel()
    channels = walk.kernel.shape[2]
    if channels == 1 and products.size <= 16 and walk.bias == 0:
        terms = " + ".join(_number(p) for p in products)
        text = f"{at} = {terms} = {_number(step.total)}"
    else:
        parts = [f"sum of the {products.size} products = {products.sum():.3f}"]
        if channels > 1:
            parts.append(f"all {channels} channels: {step.products.sum():.3f}")
        parts.append(f"+ bias {walk.bias:.3f}")
        text = f"{at}: " + ", ".join(parts) + f" = {step.total:.3f}"
    if walk.activated is not None:
        text += f";  {walk.activation}: {walk.activated[step.position]:.3f}"
    return text


def _pool_text(walk, step):
    values = [v for v in step.values[..., 0].ravel() if np.isfinite(v)]
    at = f"output[{step.position[0]}, {step.position[1]}]"
    if len(values) > 9:
        return f"{at} = {walk.kind} of {len(values)} values = {_number(step.total)}"
    if walk.kind == "max":
        return f"{at} = max({', '.join(_number(v) for v in values)}) = {_number(step.total)}"
    terms = " + ".join(_number(v) for v in values)
    return f"{at} = ({terms}) / {len(values)} = {_number(step.total)}"
