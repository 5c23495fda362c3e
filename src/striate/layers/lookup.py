"""Finding a layer by name or index: the one search that models, `see` and the CLI share."""

import numbers


def layer_index(layers, key, where=None):
    """The index in `layers` of the layer given by name or by index.

    Args:
        layers: a sequence of objects with a `.name` (layers, or `see`'s per-layer records).
        key: a layer name, or an int index (negative counts from the end).
        where: who asks, put before the error message (e.g. 'get_layer').

    Returns:
        int: an index in `0..len(layers) - 1`.

    Raises:
        ValueError naming the valid names (or index range) when nothing matches.

    >>> from striate.layers import Dense, Flatten
    >>> layers = [Flatten(name="flat"), Dense(10, name="out")]
    >>> layer_index(layers, "out"), layer_index(layers, 0), layer_index(layers, -1)
    (1, 0, 1)
    """
    prefix = f"{where}: " if where else ""
    names = ", ".join(repr(layer.name) for layer in layers)
    if isinstance(key, str):
        for i, layer in enumerate(layers):
            if layer.name == key:
                return i
        raise ValueError(f"{prefix}no layer named {key!r}. Layers: {names or 'none'}.")
    count = len(layers)
    if isinstance(key, bool) or not isinstance(key, numbers.Integral) or not -count <= key < count:
        if not count:
            raise ValueError(f"{prefix}there are no layers to index. Received: {key!r}")
        raise ValueError(
            f"{prefix}layer index must be an int in {-count}..{count - 1} or a "
            f"layer name ({names}). Received: {key!r}"
        )
    return int(key) % count
