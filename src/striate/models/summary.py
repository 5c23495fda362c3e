"""The text of `model.summary()`: Keras's table of layers, output shapes and parameter counts."""

from striate.layers.base import format_shape


def summary_text(model, line_length=None):
    """Keras 2's layout (as printed in the article), widened to fit long names and shapes; a
    functional model's table has Keras's "Connected to" column (`layer[node][tensor]`, one
    input per line)."""
    functional = hasattr(model, "_nodes")
    rows = []
    for layer in model.layers:
        shape = _shape_text(layer.output_shape) if layer.built else "? (not built)"
        row = [
            f"{layer.name} ({type(layer).__name__})",
            shape,
            f"{layer.count_params():,}" if layer.built else "?",
        ]
        if functional:
            row.append(_connections(model, layer))
        rows.append(row)
    widths = [
        max([28] + [len(r[0]) + 2 for r in rows]),
        max([26] + [len(r[1]) + 2 for r in rows]),
        12,
    ]
    header = ["Layer (type)", "Output Shape", "Param #"]
    if functional:
        header.append("Connected to")
        widths.append(max([20] + [len(c) + 2 for r in rows for c in r[3]]))
    total = line_length or sum(widths) + 1
    lines = [f'Model: "{model.name}"', "_" * total, _row(header, widths), "=" * total]
    for index, row in enumerate(rows):
        if functional:
            connected = row[3] or ["-"]
            lines.append(_row(row[:3] + [connected[0]], widths))
            lines += [_row(["", "", "", more], widths) for more in connected[1:]]
        else:
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


def _shape_text(shape):
    if shape and not isinstance(shape[0], (int, type(None))):  # several outputs
        return ", ".join(format_shape(s) for s in shape)
    return format_shape(shape)


def _connections(model, layer):
    """`conv2d[0][0]` for each input of each call of `layer` in `model`."""
    found = []
    for node in model._nodes:
        if node.layer is layer:
            for tensor in node.input_tensors:
                made_by = tensor.node
                calls = getattr(made_by.layer, "_inbound_nodes", [made_by])
                index = next((i for i, n in enumerate(calls) if n is made_by), 0)
                found.append(f"{made_by.layer.name}[{index}][{tensor.index}]")
    return found


def _row(cells, widths):
    return " " + "".join(cell.ljust(width) for cell, width in zip(cells, widths))
