"""The text of `model.summary()`: Keras's table of layers, output shapes and parameter counts."""

from striate.layers.base import format_shape


def summary_text(
    model,
    line_length=None,
    positions=None,
    expand_nested=False,
    show_trainable=False,
    layer_range=None,
):
    """Keras 2's layout (as printed in the article), widened to fit long names and shapes; a
    functional model's table has Keras's "Connected to" column (`layer[node][tensor]`, one
    input per line). Keras's options: `positions` (column ends, as fractions of `line_length`
    or in characters), `expand_nested` (a nested model's layers under it, indented),
    `show_trainable` (a "Trainable" column: Y, N, or - for a layer without weights) and
    `layer_range` (the names of the first and last layers to show)."""
    functional = hasattr(model, "_nodes")
    rows = []
    for layer, depth in _layers_in_range(model, layer_range, expand_nested):
        shape = _shape_text(layer.output_shape) if layer.built else "? (not built)"
        row = [
            f"{'  ' * depth}{layer.name} ({type(layer).__name__})",
            shape,
            f"{layer.count_params():,}" if layer.built else "?",
        ]
        if show_trainable:
            row.append("-" if not layer.weights else "Y" if layer.trainable else "N")
        if functional:
            row.append(_connections(model, layer) if depth == 0 else [])
        rows.append(row)
    widths = [
        max([28] + [len(r[0]) + 2 for r in rows]),
        max([26] + [len(r[1]) + 2 for r in rows]),
        12,
    ]
    header = ["Layer (type)", "Output Shape", "Param #"]
    if show_trainable:
        header.append("Trainable")
        widths.append(11)
    if functional:
        header.append("Connected to")
        widths.append(max([20] + [len(c) + 2 for r in rows for c in r[-1]]))
    if positions is not None:
        widths = _widths_from_positions(positions, line_length or sum(widths) + 1, len(widths))
    total = line_length or sum(widths) + 1
    lines = [f'Model: "{model.name}"', "_" * total, _row(header, widths), "=" * total]
    for index, row in enumerate(rows):
        if functional:
            connected = row[-1] or ["-"]
            lines.append(_row(row[:-1] + [connected[0]], widths))
            blank = [""] * (len(row) - 1)
            lines += [_row(blank + [more], widths) for more in connected[1:]]
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


def _layers_in_range(model, layer_range, expand_nested):
    """(layer, depth) rows: the model's layers, a nested model's own under it when expanded,
    from the first to the last name of `layer_range`."""
    rows = []
    for layer in model.layers:
        rows.append((layer, 0))
        if expand_nested and hasattr(layer, "layers") and hasattr(layer, "held_layers"):
            rows += [(inner, depth + 1) for inner, depth in _layers_in_range(layer, None, True)]
    if layer_range is None:
        return rows
    if not isinstance(layer_range, (list, tuple)) or len(layer_range) != 2:
        raise ValueError(
            f"summary: layer_range must be a list of two layer names [first, last]. "
            f"Received: layer_range={layer_range!r}"
        )
    names = [layer.name for layer, _ in rows]
    for name in layer_range:
        if name not in names:
            raise ValueError(
                f"summary: layer_range names {name!r}, which is not a layer of model "
                f"'{model.name}'. Received: layer_range={layer_range!r}; layers: {names}."
            )
    first, last = names.index(layer_range[0]), names.index(layer_range[1])
    return rows[first : last + 1]


def _widths_from_positions(positions, line_length, columns):
    """Column widths from Keras's `positions`: each column's end, as fractions of the line
    (all <= 1) or in characters."""
    if len(positions) != columns or any(b <= a for a, b in zip(positions, positions[1:])):
        raise ValueError(
            f"summary: positions must give the end of each of the {columns} columns, "
            f"increasing. Received: positions={positions!r}"
        )
    ends = [int(line_length * p) if positions[-1] <= 1 else int(p) for p in positions]
    return [end - start for start, end in zip([0] + ends, ends)]


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
