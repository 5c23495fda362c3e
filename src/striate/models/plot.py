"""`striate.utils.plot_model`: a model's graph as Graphviz's DOT text, drawn by Graphviz.

Keras draws through pydot and Graphviz's `dot` program; striate writes the DOT text itself (no
pydot) and calls `dot` only to turn it into a picture: `to_file="model.dot"` needs nothing
installed, `.png`, `.svg` and `.pdf` need Graphviz (`apt-get install graphviz`), and without it
the error says so and the DOT text is kept next to the file asked for.
"""

import os
import shutil
import subprocess

from striate.layers.base import format_shape


def model_to_dot(model, show_shapes=False, show_layer_names=True, rankdir="TB"):
    """The DOT text of the model's layers (boxes) and their connections (arrows)."""
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"plot_model: rankdir must be 'TB' or 'LR'. Received: {rankdir!r}")
    lines = ["digraph model {", f'  rankdir="{rankdir}";', "  node [shape=record];"]
    ids = {id(layer): f"layer_{i}" for i, layer in enumerate(model.layers)}
    for layer in model.layers:
        label = type(layer).__name__
        if show_layer_names:
            label = f"{layer.name} | {label}"
        if show_shapes and layer.built:
            shape = format_shape(getattr(layer, "output_shape", None) or ())
            label += f" | {shape}"
        text = label.replace('"', "'").replace("{", "(").replace("}", ")")
        lines.append(f'  {ids[id(layer)]} [label="{text}"];')
    for source, target in _edges(model):
        lines.append(f"  {ids[source]} -> {ids[target]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _edges(model):
    if hasattr(model, "_nodes"):  # functional: from each call's inputs to its layer
        found = []
        for node in model._nodes:
            for tensor in node.input_tensors:
                pair = (id(tensor.node.layer), id(node.layer))
                if pair not in found and pair[0] in {id(layer) for layer in model.layers}:
                    found.append(pair)
        return found
    return [(id(a), id(b)) for a, b in zip(model.layers, model.layers[1:])]


def plot_model(
    model,
    to_file="model.png",
    show_shapes=False,
    show_dtype=False,
    show_layer_names=True,
    rankdir="TB",
    expand_nested=False,
    dpi=200,
    **unused,
):
    """Draw the model's graph into `to_file` (.dot, or .png/.svg/.pdf through Graphviz)."""
    if show_dtype or expand_nested:
        raise ValueError(
            "plot_model: show_dtype and expand_nested are not supported by striate; the "
            f"picture shows layer names, classes and shapes. Received: show_dtype={show_dtype}, "
            f"expand_nested={expand_nested}."
        )
    text = model_to_dot(model, show_shapes, show_layer_names, rankdir)
    stem, suffix = os.path.splitext(str(to_file))
    suffix = suffix.lower().lstrip(".")
    if suffix == "dot":
        with open(to_file, "w") as handle:
            handle.write(text)
        return to_file
    if suffix not in ("png", "svg", "pdf"):
        raise ValueError(
            f"plot_model: to_file must end in .dot, .png, .svg or .pdf. Received: {to_file!r}"
        )
    dot = shutil.which("dot")
    if dot is None:
        with open(stem + ".dot", "w") as handle:
            handle.write(text)
        raise ImportError(
            f"plot_model: drawing {to_file} needs Graphviz's `dot` program (apt-get install "
            f"graphviz); the graph's DOT text is in {stem}.dot."
        )
    subprocess.run(
        [dot, f"-T{suffix}", f"-Gdpi={int(dpi)}", "-o", str(to_file)],
        input=text.encode(),
        check=True,
        timeout=60,
    )
    return to_file
