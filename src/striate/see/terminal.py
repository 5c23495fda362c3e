"""Pictures in the terminal, no window: maps drawn with Unicode shade blocks.

Plain mode uses five shades " ░▒▓█" (two characters a pixel, so pixels look square); it is plain
text and survives logs and CI. `color=True` uses ANSI 24-bit gray with half blocks "▀": two pixel
rows per line, 8-bit gray levels.
"""

import numpy as np

from striate.see.draw import normalize

SHADES = " ░▒▓█"


def blocks(array, color=False, max_width=64):
    """A 2-D array as text, normalized 0..1 (black = smallest). Larger arrays are subsampled to
    at most `max_width` pixels a row.

    >>> print(blocks(np.array([[0.0, 1.0], [0.5, 0.25]])))
    ··██
    ▒▒░░
    """
    image = normalize(np.asarray(array, dtype=np.float64))
    if image.ndim != 2:
        raise ValueError(f"blocks: expected a 2-D array. Received: shape {image.shape}.")
    step = max(1, int(np.ceil(image.shape[1] / max_width)))
    image = image[::step, ::step]
    if color:
        return _half_blocks(image)
    levels = np.minimum((image * len(SHADES)).astype(int), len(SHADES) - 1)
    glyphs = np.array([s * 2 for s in SHADES])
    glyphs[0] = "··"  # so the shape of a dark map still shows
    return "\n".join("".join(glyphs[row]) for row in levels)


def _half_blocks(image):
    gray = np.rint(image * 255).astype(int)
    if gray.shape[0] % 2:
        gray = np.vstack([gray, np.zeros((1, gray.shape[1]), int)])
    lines = []
    for top, bottom in zip(gray[0::2], gray[1::2]):
        cells = [f"\x1b[38;2;{t};{t};{t}m\x1b[48;2;{b};{b};{b}m▀" for t, b in zip(top, bottom)]
        lines.append("".join(cells) + "\x1b[0m")
    return "\n".join(lines)


def side_by_side(pictures, titles, gap=2):
    """Join text pictures horizontally, each under its title."""
    columns = []
    for text, title in zip(pictures, titles):
        lines = text.split("\n")
        width = max(len(_visible(line)) for line in lines + [title])
        columns.append(
            [title.ljust(width)] + [line + " " * (width - len(_visible(line))) for line in lines]
        )
    height = max(len(c) for c in columns)
    out = []
    for row in range(height):
        out.append(
            (" " * gap)
            .join(c[row] if row < len(c) else " " * len(_visible(c[0])) for c in columns)
            .rstrip()
        )
    return "\n".join(out)


def _visible(line):
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", line)


def feature_maps_text(inspection, layers=None, max_channels=8, per_row=None, color=False):
    """The input and each layer's feature maps (or output vector) as Unicode blocks, as many
    side by side as the terminal is wide (or `per_row`)."""
    import shutil

    columns = shutil.get_terminal_size((120, 40)).columns

    def grid(array, count):
        fits = max(1, columns // (min(array.shape[1], 64) * (1 if color else 2) + 2))
        step = per_row or fits
        rows = []
        for start in range(0, count, step):
            chosen = range(start, min(start + step, count))
            rows.append(
                side_by_side(
                    [blocks(array[..., c], color) for c in chosen], [f"ch {c}" for c in chosen]
                )
            )
        return "\n".join(rows)

    parts = [
        f"input {inspection.input.shape}",
        grid(inspection.input, min(max_channels, inspection.input.shape[-1])),
    ]
    records = inspection.layers if layers is None else [inspection.layer(k) for k in layers]
    for record in records:
        parts.append(f"\n{record.name} ({record.type}) {record.shape}")
        if record.spatial:
            parts.append(grid(record.output, min(max_channels, record.shape[-1])))
        else:
            parts.append(blocks(record.output.reshape(1, -1), color))
    return "\n".join(parts)


def bars(values, labels=None, width=40):
    """A horizontal bar chart in text: one line per value, the largest marked with '<'.

    >>> print(bars([0.25, 0.75], width=8))
    0 ███        0.250
    1 ████████   0.750 <
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    labels = [str(i) for i in range(values.size)] if labels is None else [str(v) for v in labels]
    high = max(values.max(), 1e-12)
    pad = max(len(label) for label in labels)
    best = int(np.argmax(values))
    lines = []
    for i, (label, value) in enumerate(zip(labels, values)):
        bar = "█" * round(max(value, 0) / high * width)
        mark = " <" if i == best else ""
        lines.append(f"{label.rjust(pad)} {bar.ljust(width + 2)} {value:.3f}{mark}".rstrip())
    return "\n".join(lines)
