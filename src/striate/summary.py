"""The text of `model.summary()`: Keras's table of layers, output shapes and parameter counts."""

from striate.layers.base import format_shape


def summary_text(model, line_length=None):
    """Keras 2's layout (as printed in the article), widened to fit long names and shapes."""
    rows = []
    for layer in model.layers:
        shape = format_shape(layer.output_shape) if layer.built else "? (not built)"
        rows.append(
            (
                f"{layer.name} ({type(layer).__name__})",
                shape,
                f"{layer.count_params():,}" if layer.built else "?",
            )
        )
    widths = [
        max([28] + [len(r[0]) + 2 for r in rows]),
        max([26] + [len(r[1]) + 2 for r in rows]),
        12,
    ]
    total = line_length or sum(widths) + 1
    lines = [
        f'Model: "{model.name}"',
        "_" * total,
        _row(("Layer (type)", "Output Shape", "Param #"), widths),
        "=" * total,
    ]
    for index, row in enumerate(rows):
        lines.append(_row(row, widths))
        lines.append(("_" if index < len(rows) - 1 else "=") * total)
    if not rows:
        lines.append("=" * total)
    trainable = sum(w.data.size for w in model.trainable_weights)
    everything = sum(w.data.size for w in model.weights)
    lines += [
        f"Total params: {everything:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {everything - trainable:,}",
        "_" * total,
    ]
    if not model.built:
        lines.append(
            "The model is not built: give the first layer input_shape=... or call "
            "build((None, ...)) to see every shape."
        )
    return "\n".join(lines)


def _row(cells, widths):
    return " " + "".join(cell.ljust(width) for cell, width in zip(cells, widths))
