"""Which file format a save or load uses: on write by the name's suffix (`.keras` is Keras 3's
model file, `.weights.h5` Keras 3's weights file, `.h5` is refused: legacy, read only; anything
else, `.striate` included, is striate's own, which keeps the optimizer and random state for an
exact resume); on read by the content (a zip holding config.json and model.weights.h5 is
Keras's, HDF5's magic bytes a Keras weights or legacy file, anything else striate's own).

It wraps the model tools `striate.saving` registers, so those stay as they are."""

import functools
import os

from striate import models
from striate.saving import keras_file, legacy_h5


def _suffix(filepath):
    name = os.fspath(filepath).lower() if isinstance(filepath, (str, os.PathLike)) else ""
    for suffix in (".weights.h5", ".keras", ".h5", ".hdf5"):
        if name.endswith(suffix):
            return suffix
    return ""


def _exists(filepath):
    return isinstance(filepath, (str, os.PathLike)) and os.path.isfile(filepath)


def wrap(striate_save, striate_save_weights, striate_load_weights, striate_load_model):
    def save_model(model, filepath, overwrite=True):
        suffix = _suffix(filepath)
        if suffix == ".keras":
            return keras_file.save_keras(model, filepath, overwrite=overwrite)
        if suffix in (".h5", ".hdf5", ".weights.h5"):
            raise ValueError(
                f"save: {os.fspath(filepath)!r}: {legacy_h5.NOT_WRITTEN} Received: "
                f"{os.fspath(filepath)!r}."
            )
        return striate_save(model, filepath, overwrite=overwrite)

    def save_weights(model, filepath, overwrite=True):
        suffix = _suffix(filepath)
        if suffix == ".weights.h5":
            return keras_file.save_weights_h5(model, filepath, overwrite=overwrite)
        if suffix in (".h5", ".hdf5", ".keras"):
            raise ValueError(
                f"save_weights: {os.fspath(filepath)!r}: weights go to 'x.weights.h5' (Keras 3's "
                f"layout) or 'x.weights.striate'; legacy .h5 is read only. Received: "
                f"{os.fspath(filepath)!r}."
            )
        return striate_save_weights(model, filepath, overwrite=overwrite)

    def load_weights(model, filepath):
        if _exists(filepath) and legacy_h5.is_hdf5(filepath):
            with legacy_h5.open_h5(os.fspath(filepath)) as h5:
                modern = "layers" in h5 or "_layer_checkpoint_dependencies" in h5
            if modern:
                return keras_file.read_weights_h5(os.fspath(filepath), filepath, model)
            return legacy_h5.load_h5_weights(model, filepath)
        if _exists(filepath) and keras_file.is_keras_zip(filepath):
            loaded = keras_file.load_keras(filepath, compile=False)
            return model.set_weights(loaded.get_weights())
        return striate_load_weights(model, filepath)

    def load_model(filepath, custom_objects=None, compile=True):
        if _exists(filepath) and legacy_h5.is_hdf5(filepath):
            return legacy_h5.load_h5_model(filepath)
        if _exists(filepath) and keras_file.is_keras_zip(filepath):
            return keras_file.load_keras(filepath, compile=compile)
        return striate_load_model(filepath, custom_objects=custom_objects, compile=compile)

    return save_model, save_weights, load_weights, load_model


def install(save_model, save_weights, load_weights, load_model):
    """The four tools dispatching by format around striate's own (registered in their place,
    and returned for `striate.saving` to offer under the same names)."""
    names = ("save_model", "save_weights", "load_weights", "load_model")
    originals = (save_model, save_weights, load_weights, load_model)
    if getattr(load_model, "_dispatches", False):
        return originals
    tools = wrap(*originals)
    for name, function, original in zip(names, tools, originals):
        functools.update_wrapper(function, original)
        function._dispatches = True
        models.register_tool(name, function)
    return tools
