"""Keras 3's ``image_dataset_from_directory``: a lazy dataset of batches from an image folder.

The files are listed, shuffled and split exactly as Keras lists, shuffles and splits them
(``image_folder.index_directory`` / ``shuffle_files`` / ``split_files``); the returned
:class:`~striate.datasets.pipeline.Dataset` decodes them (with pillow, as ``load_image`` does)
batch by batch when iterated, on a prefetch thread, and never holds more than a few batches.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from striate.datasets.image_folder import (
    _check_split,
    index_directory,
    shuffle_files,
    split_files,
)
from striate.datasets.images import (
    COLOR_MODES,
    INTERPOLATIONS,
    check_choice,
    check_size,
    pillow,
    read_image,
)
from striate.datasets.pipeline import DEFAULT_PREFETCH, Dataset

__all__ = ["image_dataset_from_directory"]

WHERE = "image_dataset_from_directory"
LABEL_MODES = ("int", "categorical", "binary", None)
DECODE_THREADS = 4  # pillow decodes without the GIL: a batch's files are read in parallel


def image_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    color_mode="rgb",
    batch_size=32,
    image_size=(256, 256),
    shuffle=True,
    seed=None,
    validation_split=None,
    subset=None,
    interpolation="bilinear",
    follow_links=False,
    crop_to_aspect_ratio=False,
    pad_to_aspect_ratio=False,
    data_format=None,
    verbose=True,
    on_unreadable="error",
    prefetch=DEFAULT_PREFETCH,
):
    """A lazy dataset of ``(images, labels)`` batches from a folder of images, as Keras 3's.

    ``directory/cat/1.jpg, directory/dog/a.png ...``: with ``labels="inferred"`` the classes are
    the subfolders in alphabetical order (or ``class_names``' order); .jpg, .jpeg, .png, .bmp,
    .gif files (any case) are listed, nested folders too. The list is shuffled with
    ``numpy.random.RandomState(seed)`` and split (the last ``int(validation_split * N)`` files
    for validation) exactly as Keras does, so ``file_paths`` equals Keras's for the same folder.
    Nothing is decoded here: each pass (``for images, labels in dataset``) reads its batches
    from the files, on a background thread that stays ``prefetch`` batches ahead. With
    ``shuffle`` every pass visits the files in a new order drawn from ``seed`` (Keras reshuffles
    each epoch too, with tf.data's buffer; the order of the batches differs from Keras's).

    Args:
        directory: the folder.
        labels: "inferred" (from the subfolders), None (images only), or a list of int labels,
            one per file in the sorted order of the paths (the whole tree is then one folder).
        label_mode: "int" (int32 (batch,)), "categorical" (float32 one-hot (batch, classes)),
            "binary" (float32 (batch, 1); exactly 2 classes) or None (images only).
        class_names: with labels="inferred", the subfolders to use, in label order.
        color_mode: "grayscale", "rgb" or "rgba" (1, 3 or 4 channels).
        batch_size: images per batch (the last may be smaller); None yields single samples.
        image_size: (height, width), or one int for a square, every image is resized to.
        shuffle: shuffle the files (and reshuffle each pass); False keeps Keras's sorted order.
        seed: the shuffle's seed; needed with validation_split and shuffle.
        validation_split: fraction in (0, 1) held out for validation, or None.
        subset: "training", "validation" or "both" (a list [training, validation]; only the
            training part is reshuffled each pass), with validation_split.
        interpolation: "bilinear", "nearest", "bicubic", "area", "lanczos3" or "hamming"
            (pillow's filters).
        follow_links: walk into folders that are symbolic links.
        crop_to_aspect_ratio: crop to the target aspect ratio before resizing, not stretch.
        pad_to_aspect_ratio: resize within the target keeping the aspect ratio, pad with zeros.
        data_format: None or "channels_last" (striate runs images channels-last only).
        verbose: print "Found N files belonging to K classes." and the split, as Keras does.
        on_unreadable: "error" (raise, naming the file) or "skip" (warn once, naming it, and
            leave it out of its batch) for an image that cannot be read or a folder that cannot
            be listed.
        prefetch: batches decoded ahead on a background thread; 0 decodes in the caller's.

    Returns:
        A :class:`~striate.datasets.pipeline.Dataset` (``len()`` batches, ``map``, ``take``,
        ``prefetch``) with ``class_names``, ``file_paths``, ``batch_size`` and
        ``image_size``; yielding ``(images float32 (batch, height, width, channels) in 0..255,
        labels)``, or images alone when label_mode or labels is None.

    Example:
        >>> import os, tempfile
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> for name, shade in [("dark", 0), ("light", 255)]:
        ...     os.mkdir(os.path.join(root, name))
        ...     for i in range(5):
        ...         Image.new("L", (9, 7), shade).save(os.path.join(root, name, f"{i}.png"))
        >>> data = image_dataset_from_directory(root, color_mode="grayscale", batch_size=4,
        ...                                     image_size=(4, 4), seed=1, verbose=False)
        >>> len(data), data.class_names, [x.shape for x, y in data]
        (3, ['dark', 'light'], [(4, 4, 4, 1), (4, 4, 4, 1), (2, 4, 4, 1)])
    """
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError(
                f"{WHERE}: labels must be 'inferred', None or a list of int labels, one per "
                f"image file. Received: labels={labels!r}"
            )
        if class_names:
            raise ValueError(
                f"{WHERE}: class_names goes with labels='inferred' only. "
                f"Received: labels={labels!r}, class_names={class_names!r}"
            )
    check_choice(label_mode, LABEL_MODES, "label_mode", WHERE)
    if labels is None or label_mode is None:
        labels = label_mode = None
    check_choice(color_mode, tuple(COLOR_MODES), "color_mode", WHERE)
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    image_size = check_size(image_size, WHERE)
    check_choice(interpolation, tuple(INTERPOLATIONS), "interpolation", WHERE)
    check_choice(data_format, (None, "channels_last"), "data_format", WHERE)
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(
            f"{WHERE}: crop_to_aspect_ratio and pad_to_aspect_ratio exclude each other. "
            f"Received: both True"
        )
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(
            f"{WHERE}: batch_size must be a positive int or None. Received: "
            f"batch_size={batch_size!r}"
        )
    _check_split(validation_split, subset, shuffle, seed)
    check_choice(on_unreadable, ("error", "skip"), "on_unreadable", WHERE)
    pillow()
    directory = os.fspath(directory)
    if seed is None:
        seed = np.random.randint(1e6)
    paths, indices, class_names = index_directory(
        directory, labels, class_names, follow_links, on_unreadable
    )
    if verbose:
        print(
            f"Found {len(paths)} files."
            if labels is None
            else f"Found {len(paths)} files belonging to {len(class_names)} classes."
        )
    if shuffle:
        paths, indices = shuffle_files(paths, indices, seed)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(
            f"{WHERE}: label_mode='binary' needs exactly 2 classes. "
            f"Received: class_names={class_names}"
        )
    targets = None if label_mode is None else _encode(indices, label_mode, len(class_names))
    reading = {
        "image_size": image_size,
        "color_mode": color_mode,
        "interpolation": interpolation,
        "crop_to_aspect_ratio": crop_to_aspect_ratio,
        "pad_to_aspect_ratio": pad_to_aspect_ratio,
        "on_unreadable": on_unreadable,
    }

    def dataset(subset, reshuffle):
        part_paths, part_targets = split_files(
            paths, targets, validation_split, subset, directory, verbose, WHERE
        )
        return folder_dataset(
            part_paths, part_targets, class_names, batch_size, reshuffle, seed, prefetch, reading
        )

    if subset == "both":
        return [dataset("training", shuffle), dataset("validation", False)]
    return dataset(subset, shuffle)


def _encode(indices, label_mode, classes):
    if label_mode == "int":
        return np.asarray(indices, dtype=np.int32)
    if label_mode == "binary":
        return np.asarray(indices, dtype=np.float32).reshape(-1, 1)
    indices = np.asarray(indices)
    wrong = (indices < 0) | (indices >= classes)
    if wrong.any():
        raise ValueError(
            f"{WHERE}: label_mode='categorical' needs labels in 0..{classes - 1}. "
            f"Received: label {indices[wrong][0]!r}"
        )
    return np.eye(classes, dtype=np.float32)[indices.astype(np.int64)]


def folder_dataset(paths, targets, class_names, batch_size, shuffle, seed, prefetch, reading):
    """The lazy :class:`Dataset` over `paths` (and their encoded `targets`, or None)."""
    order_rng = np.random.default_rng(seed)
    skipped = set()  # unreadable files already warned about
    step = batch_size or 1

    def source():  # the pass's order is drawn here, in the caller's thread
        order = order_rng.permutation(len(paths)) if shuffle else np.arange(len(paths))
        return _batches(order)

    def _batches(order):
        with ThreadPoolExecutor(max_workers=min(DECODE_THREADS, os.cpu_count() or 1)) as pool:
            for start in range(0, len(order), step):
                chosen = order[start : start + step]
                images, read = _decode(pool, [paths[i] for i in chosen], reading, skipped)
                if not read.all():
                    chosen, images = chosen[read], images[read]
                    if not len(chosen):
                        continue
                if batch_size is None:
                    images = images[0]
                    chosen = chosen[0]
                yield images if targets is None else (images, targets[chosen])

    length = -(-len(paths) // step)
    return Dataset(
        source,
        length,
        prefetch,
        class_names=class_names,
        file_paths=list(paths),
        batch_size=batch_size,
        image_size=reading["image_size"],
        _subset=lambda chosen: folder_dataset(
            [paths[i] for i in chosen],
            None if targets is None else targets[chosen],
            class_names,
            batch_size,
            shuffle,
            seed,
            prefetch,
            reading,
        ),
    )


def _decode(pool, paths, reading, skipped):
    """(float32 images, bool mask of the files read) for one batch."""
    height, width = reading["image_size"]
    channels = COLOR_MODES[reading["color_mode"]][1]
    images = np.empty((len(paths), height, width, channels), dtype=np.float32)
    read = np.ones(len(paths), dtype=bool)

    def one(item):
        index, path = item
        try:
            images[index] = read_image(
                path,
                reading["image_size"],
                reading["color_mode"],
                reading["interpolation"],
                reading["crop_to_aspect_ratio"],
                reading["pad_to_aspect_ratio"],
            )
        except (ValueError, OSError) as error:
            if reading["on_unreadable"] == "error":
                message = str(error)
                raise ValueError(
                    f"{WHERE}: {message if path in message else f'{path}: {message}'}. Fix it, "
                    f"or pass on_unreadable='skip' to go on without it."
                ) from None
            read[index] = False
            if path not in skipped:
                skipped.add(path)
                warnings.warn(f"{WHERE}: {error}; skipped.", UserWarning, stacklevel=2)

    list(pool.map(one, enumerate(paths)))
    return images, read
