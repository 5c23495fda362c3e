"""See inside a model: the article's pictures from any striate model.

As data (NumPy only):

- `inspect_model(model, x, class_index)` (also `model.inspect(x)`): every layer's output,
  pre-activation and, for a class, the gradient of its score.
- `receptive_field(model, layer, (row, col))`, `layer_fields(model)`, `detailed_summary(model)`.
- `conv_walkthrough`, `pool_walkthrough` (and `layer_*` versions for a model's layers): the steps
  of a convolution or pooling, each window's patch, products and sum.

As pictures (matplotlib and pillow: ``pip install 'striate[see]'``): `filters`, `feature_maps`,
`receptive_field_picture`, `probabilities`, `saliency`, `training_curves`, `confusion_picture`
return Figures for `save(figure, path)`; a walkthrough's `.save("conv.gif")` writes an animated
GIF. In a terminal: `terminal.feature_maps_text`, `terminal.blocks`.

>>> from striate.see import ARTICLE_INPUT, ARTICLE_KERNEL, conv_walkthrough
>>> conv_walkthrough(ARTICLE_INPUT, ARTICLE_KERNEL).steps[0].total
4.0
"""

from striate.see import terminal
from striate.see.field import (
    Field,
    LayerField,
    detailed_summary,
    layer_fields,
    output_size_formula,
    receptive_field,
)
from striate.see.health import health_picture, load_health
from striate.see.inspect import Inspection, LayerRecord, inspect_model
from striate.see.pictures import (
    feature_map_images,
    feature_maps,
    filter_images,
    filters,
    probabilities,
    receptive_field_picture,
    saliency,
    saliency_map,
)
from striate.see.results import (
    confusion_matrix,
    confusion_picture,
    load_history,
    most_confused,
    training_curves,
)
from striate.see.walk import (
    ARTICLE_INPUT,
    ARTICLE_KERNEL,
    POOL_EXAMPLE,
    Walkthrough,
    article_conv_walkthrough,
    conv_walkthrough,
    layer_conv_walkthrough,
    layer_pool_walkthrough,
    pool_walkthrough,
)


def save(picture, path):
    """Write a Figure (.png, .svg, .pdf, .jpg) or a Walkthrough (.gif animated, .png one frame),
    atomically; returns the path."""
    if isinstance(picture, Walkthrough):
        return picture.save(path)
    from striate.see.draw import save_figure

    return save_figure(picture, path)


__all__ = [
    "ARTICLE_INPUT",
    "ARTICLE_KERNEL",
    "POOL_EXAMPLE",
    "Field",
    "Inspection",
    "LayerField",
    "LayerRecord",
    "Walkthrough",
    "article_conv_walkthrough",
    "confusion_matrix",
    "confusion_picture",
    "conv_walkthrough",
    "detailed_summary",
    "feature_map_images",
    "feature_maps",
    "filter_images",
    "filters",
    "inspect_model",
    "layer_conv_walkthrough",
    "layer_fields",
    "layer_pool_walkthrough",
    "load_history",
    "most_confused",
    "output_size_formula",
    "pool_walkthrough",
    "probabilities",
    "receptive_field",
    "receptive_field_picture",
    "saliency",
    "saliency_map",
    "save",
    "terminal",
    "training_curves",
    "health_picture",
    "load_health",
]
