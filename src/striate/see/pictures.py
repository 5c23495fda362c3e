"""Still pictures of a model: filters, feature maps, a receptive field, class probabilities and
saliency. Each function returns a matplotlib Figure (Agg canvas, no window); save it with
`striate.see.save(figure, "file.png")`. The arrays drawn come from small functions beside them
(`feature_map_images`, `filter_images`, `saliency_map`), so what a picture shows can be checked.
"""

import math

import numpy as np

from striate.layers.conv import Conv2D
from striate.layers.lookup import layer_index
from striate.see import draw
from striate.see.field import receptive_field
from striate.see.inspect import Inspection, inspect_model


def _inspection(model_or_inspection, x=None, class_index=None):
    if isinstance(model_or_inspection, Inspection):
        return model_or_inspection
    if x is None:
        raise ValueError("pass an Inspection, or a model and one input x")
    return inspect_model(model_or_inspection, x, class_index)


# -- filters ----------------------------------------------------------------------------------
def filter_images(model, layer=None):
    """A Conv2D's kernels as pictures, (filters, in_channels, kh, kw), each normalized 0..1 by
    its filter's min and max (all input channels of a filter share one scale).

    Args:
        model: a Sequential. layer: a Conv2D's name or index (default: the first Conv2D).

    Returns:
        (name, array): the layer's name and the normalized kernels.
    """
    conv = _conv_layer(model, layer)
    return conv.name, np.stack([draw.normalize(k) for k in kernel_values(model, layer)])


def kernel_values(model, layer=None):
    """A Conv2D's raw kernels as (filters, in_channels, kh, kw)."""
    conv = _conv_layer(model, layer)
    return np.moveaxis(conv.kernel.data.astype(np.float64), (2, 3), (1, 0))


def _write_weights(ax, weights, shade):
    for (r, c), w in np.ndenumerate(weights):
        ax.text(
            c,
            r,
            f"{w:.2f}",
            ha="center",
            va="center",
            fontsize=7,
            color="black" if shade[r, c] > 0.5 else "white",
        )


def _conv_layer(model, layer):
    if not model.built:
        model.build()
    if layer is None:
        convs = [m for m in model.layers if isinstance(m, Conv2D)]
        if not convs:
            raise ValueError(f"Sequential '{model.name}' has no Conv2D layer: no filters to show.")
        return convs[0]
    conv = model.layers[layer_index(model.layers, layer)]
    if not isinstance(conv, Conv2D):
        raise TypeError(
            f"{conv.describe()} is not a Conv2D layer: it has no filters. Conv2D "
            f"layers: {[m.name for m in model.layers if isinstance(m, Conv2D)]}."
        )
    return conv


def filter_mosaic(images):
    """Kernels (filters, channels, kh, kw) tiled into one array: row i, column c holds filter i
    on input channel c, with a NaN line between tiles."""
    count, shown, kh, kw = images.shape
    mosaic = np.full((count * (kh + 1) - 1, shown * (kw + 1) - 1), np.nan)
    for (i, c), tile in zip(np.ndindex(count, shown), images.reshape(-1, kh, kw)):
        mosaic[i * (kh + 1) : i * (kh + 1) + kh, c * (kw + 1) : c * (kw + 1) + kw] = tile
    return mosaic


def filters(model, layer=None, max_filters=None, max_channels=16):
    """A Conv2D's filters: one picture per filter when the layer reads 1 or 3 channels (the
    first layer: gray, or color for RGB; small kernels with their weights written in), else a
    mosaic with one row per filter and one column per input channel. Gray scale per filter:
    white is its largest weight, black its smallest.

    Args:
        model: a Sequential. layer: a Conv2D's name or index (default: the first Conv2D).
        max_filters: filters shown (default 64 as pictures, 32 in a mosaic).
        max_channels: input channels shown in a mosaic.
    """
    name, images = filter_images(model, layer)
    total, channels, kh, kw = images.shape
    notes = []
    if channels in (1, 3):
        count = min(total, max_filters or 64)
        fig = _filter_pictures(name, images[:count], kernel_values(model, layer))
    else:
        count, shown = min(total, max_filters or 32), min(channels, max_channels)
        fig = _filter_mosaic_figure(name, images[:count, :shown])
        if shown < channels:
            notes.append(f"input channels 0..{shown - 1} of {channels}")
    if count < total:
        notes.insert(0, f"first {count} of {total} filters")
    suffix = f"\n({', '.join(notes)})" if notes else ""
    fig.suptitle(f"Filters of '{name}', kernel {kh}x{kw}{suffix}", fontsize=11)
    return fig


def _filter_pictures(name, images, weights):
    count, channels = images.shape[:2]
    columns = min(count, 8)
    rows = math.ceil(count / columns)
    fig = draw.figure(1.3 * columns + 0.4, 1.3 * rows + 0.8)
    axes = fig.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < count:
            picture = images[i, 0] if channels == 1 else np.moveaxis(images[i], 0, -1)
            ax.imshow(picture, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"{i}", fontsize=9)
            ax.set_label(f"{name}/{i}")
            if channels == 1 and max(picture.shape) <= 5 and count <= 16:
                _write_weights(ax, weights[i, 0], picture)
    return fig


def _filter_mosaic_figure(name, images):
    count, shown, kh, kw = images.shape
    inch = 0.4 / (max(kh, kw) + 1)  # one filter row or column is 0.4 inch
    fig = draw.figure(max(6.0, shown * (kw + 1) * inch + 1.2), count * (kh + 1) * inch + 1.5)
    ax = fig.add_axes(
        [
            0.9 / fig.get_figwidth(),
            0.2 / fig.get_figheight(),
            1 - 1.1 / fig.get_figwidth(),
            1 - 1.4 / fig.get_figheight(),
        ]
    )
    gray = draw.matplotlib().colormaps["gray"].with_extremes(bad="#b9cde5")  # tile gaps
    ax.imshow(
        np.ma.masked_invalid(filter_mosaic(images)),
        cmap=gray,
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    ax.set_label(f"{name}/mosaic")
    ax.set_xticks(
        [c * (kw + 1) + (kw - 1) / 2 for c in range(shown)],
        [str(c) for c in range(shown)],
        fontsize=7,
    )
    ax.set_yticks(
        [i * (kh + 1) + (kh - 1) / 2 for i in range(count)],
        [str(i) for i in range(count)],
        fontsize=7,
    )
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("input channel", fontsize=9)
    ax.set_ylabel("filter", fontsize=9)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    return fig


# -- feature maps -------------------------------------------------------------------------------
def feature_map_images(record, max_channels=None):
    """A layer's output as pictures: for (H, W, C) outputs one (H, W) map per channel, each
    normalized to 0..1 by its own min and max; for vector outputs one (1, units) strip.

    Returns:
        list of (channel, array) (channel is None for a vector).
    """
    output = record.output
    if output.ndim == 3:
        channels = output.shape[-1] if max_channels is None else min(max_channels, output.shape[-1])
        return [(c, draw.normalize(output[..., c])) for c in range(channels)]
    return [(None, draw.normalize(output.reshape(1, -1)))]


def feature_maps(model_or_inspection, x=None, layers=None, max_channels=16, columns=8):
    """Every layer's output for one input: a block of feature maps per layer (brighter =
    stronger), vectors as a strip. `layers` picks some by name or index (default: all).
    """
    inspection = _inspection(model_or_inspection, x)
    records = inspection.layers if layers is None else [inspection.layer(k) for k in layers]
    # (key, title, pictures, raw values): the key labels each axes, e.g. "conv2d/3"
    blocks = [
        (
            "input",
            f"input {inspection.input.shape}",
            [
                (c, draw.normalize(inspection.input[..., c]))
                for c in range(inspection.input.shape[-1])
            ][:max_channels],
            inspection.input,
        )
    ]
    blocks += [
        (
            r.name,
            f"{r.name} ({r.type}) {tuple(r.shape)}",
            feature_map_images(r, max_channels),
            r.output,
        )
        for r in records
    ]
    spatial = [len(maps) for _, _, maps, _ in blocks if maps[0][0] is not None]
    columns = max(4, min(columns, max(spatial, default=1)))
    rows = [
        math.ceil(len(maps) / columns) if maps[0][0] is not None else 0 for _, _, maps, _ in blocks
    ]
    heights = [0.4 + (1.3 * r if r else 0.55) for r in rows]
    fig = draw.figure(1.2 * columns + 0.3, sum(heights) + 0.1)
    parts = fig.subfigures(len(blocks), 1, height_ratios=heights, squeeze=False)[:, 0]
    for part, (key, title, maps, values), r, height in zip(parts, blocks, rows, heights):
        part.suptitle(
            title, x=0.01, y=1 - 0.06 / height, ha="left", va="top", fontsize=10, weight="bold"
        )
        part.subplots_adjust(
            left=0.01, right=0.99, top=1 - 0.4 / height, bottom=0.03, wspace=0.08, hspace=0.25
        )
        if r == 0:
            ax = part.subplots(1, 1)
            _vector(ax, maps[0][1], key, values.ravel())
            continue
        axes = part.subplots(r, columns, squeeze=False)
        for k, ax in enumerate(axes.flat):
            ax.axis("off")
            if k < len(maps):
                channel, image = maps[k]
                _show(ax, image, f"{key}/{channel}")
                ax.text(
                    0.03,
                    0.97,
                    str(channel),
                    transform=ax.transAxes,
                    fontsize=7,
                    color="white",
                    va="top",
                    bbox={"facecolor": "black", "alpha": 0.6, "pad": 1, "linewidth": 0},
                )
    return fig


def _vector(ax, image, key, values):
    """A vector as a strip of cells; short ones get their values written in."""
    _show(ax, image, f"{key}/vector")
    ax.set_aspect("auto")
    if values.size <= 32:
        for i, v in enumerate(values):
            ax.text(
                i,
                0,
                f"{i}\n{v:.2g}",
                ha="center",
                va="center",
                fontsize=7,
                color="black" if image[0, i] > 0.5 else "white",
            )


def _show(ax, image, label):
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_label(label)


# -- receptive field ----------------------------------------------------------------------------
def receptive_field_picture(model, x, layer, position, channel=0):
    """The input with the rectangle one unit of `layer` sees, beside that layer's map with the
    unit marked."""
    inspection = inspect_model(model, x)
    index = layer_index(model.layers, layer, "receptive_field_picture")
    record = inspection.layers[index]
    channels = record.output.shape[-1]
    if record.spatial and not 0 <= channel < channels:
        raise ValueError(
            f"receptive_field_picture: {model.layers[index].describe()} has "
            f"{channels} channels. Received: channel={channel!r}"
        )
    field = receptive_field(model, index, position)
    fig = draw.figure(9, 4.4)
    axes = fig.subplots(1, 2)
    axes[0].imshow(draw.image_of(inspection.input), cmap="gray", interpolation="nearest")
    draw.box(axes[0], field.top, field.left, field.size[0], field.size[1], "tab:red")
    where = (
        f"rows {field.top}..{field.bottom - 1}, cols {field.left}..{field.right - 1} "
        f"({field.size[0]}x{field.size[1]})"
        if min(field.size)
        else "only padding"
    )
    axes[0].set_title(f"input: {where}", fontsize=10)
    if record.spatial:
        axes[1].imshow(record.output[..., channel], cmap="gray", interpolation="nearest")
        draw.box(axes[1], position[0], position[1], 1, 1, "tab:red")
        axes[1].set_title(f"{record.name}, channel {channel}: unit {tuple(position)}", fontsize=10)
    else:
        axes[1].imshow(record.output.reshape(1, -1), cmap="gray", aspect="auto")
        axes[1].set_title(f"{record.name}: every unit sees the whole input", fontsize=10)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"Receptive field of {record.name} ({record.type}) at {tuple(position or ())}", fontsize=12
    )
    return fig


# -- probabilities and saliency -----------------------------------------------------------------
def probabilities(model_or_inspection, x=None, labels=None, true_label=None):
    """The input beside a bar chart of the model's output (class probabilities when the model
    ends in softmax), the predicted class in red, the true one (if given) outlined."""
    inspection = _inspection(model_or_inspection, x)
    values = inspection.output.ravel().astype(np.float64)
    labels = [str(i) for i in range(values.size)] if labels is None else [str(v) for v in labels]
    fig = draw.figure(10, 4)
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2.6]})
    axes[0].imshow(draw.image_of(inspection.input), cmap="gray", interpolation="nearest")
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    axes[0].set_title("input", fontsize=10)
    predicted = int(np.argmax(values))
    colors = ["tab:red" if i == predicted else "tab:blue" for i in range(values.size)]
    bars = axes[1].bar(range(values.size), values, color=colors)
    if true_label is not None:
        bars[int(true_label)].set_edgecolor("black")
        bars[int(true_label)].set_linewidth(2.5)
    axes[1].set_xticks(range(values.size), labels)
    word = "probability" if inspection.ends_in_softmax else "output"
    axes[1].set_ylabel(word)
    if inspection.ends_in_softmax:
        axes[1].set_ylim(0, 1)
    for i, v in enumerate(values):
        axes[1].text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
    truth = "" if true_label is None else f", true: {labels[int(true_label)]}"
    axes[1].set_title(
        f"predicted: {labels[predicted]} ({word} {values[predicted]:.3f}){truth}", fontsize=11
    )
    return fig


def saliency_map(inspection):
    """|d score / d input|, the largest over channels: (height, width)."""
    if inspection.input_gradient is None:
        raise ValueError(
            "saliency_map: the inspection has no gradients; inspect with "
            "class_index=... (e.g. 'predicted')."
        )
    return np.abs(inspection.input_gradient).max(axis=-1)


def saliency(model_or_inspection, x=None, class_index="predicted", labels=None):
    """Which pixels move the class score most: the input, |gradient|, and both overlaid."""
    inspection = _inspection(model_or_inspection, x, class_index)
    heat = saliency_map(inspection)
    fig = draw.figure(10, 3.9)
    axes = fig.subplots(1, 3)
    picture = draw.image_of(inspection.input)
    axes[0].imshow(picture, cmap="gray", interpolation="nearest")
    axes[0].set_title("input", fontsize=10)
    axes[1].imshow(heat, cmap="hot", interpolation="nearest")
    axes[1].set_title("|d score / d pixel|", fontsize=10)
    axes[1].set_label("saliency")
    axes[2].imshow(picture, cmap="gray", interpolation="nearest")
    axes[2].imshow(draw.normalize(heat), cmap="hot", alpha=0.55, interpolation="nearest")
    axes[2].set_title("overlaid", fontsize=10)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    name = str(inspection.class_index) if labels is None else str(labels[inspection.class_index])
    what = "logit (before softmax)" if inspection.ends_in_softmax else "output"
    fig.suptitle(
        f"Saliency for class {name}: gradient of its {what} {inspection.score:.3f}", fontsize=11
    )
    return fig
