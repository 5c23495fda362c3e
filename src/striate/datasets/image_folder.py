"""A folder of labelled images, one subfolder per class: its file list, and read whole.

:func:`index_directory` and :func:`split_files` list and split the files exactly as Keras 3's
``dataset_utils`` does (same class order, same shuffle and split for the same seed); the lazy
``image_dataset_from_directory`` (``image_dataset.py``) decodes them batch by batch.
:func:`load_image_folder` reads a whole (small) folder into uint8 arrays (an
:class:`ImageDataset`), refused past ``MAX_FOLDER_BYTES``. Unreadable files and folders fail,
naming them, or are skipped with a warning that names them, as the caller chooses.
"""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from striate.datasets.images import (
    COLOR_MODES,
    IMAGE_FORMATS,
    INTERPOLATIONS,
    check_choice,
    check_size,
    pillow,
    read_image,
)

__all__ = ["ImageDataset", "index_directory", "load_image_folder", "split_files"]

# The decoded folder is held in memory: past this many bytes, a clear error before allocating
# (change it for a bigger machine).
MAX_FOLDER_BYTES = 8 * 2**30


class ImageDataset(tuple):
    """The pair ``(x, y)`` of a labelled image folder, with ``.class_names`` and ``.file_paths``.

    It unpacks like the tuples of ``load_data()`` (``x, y = data``) and can be passed as
    ``validation_data=`` to ``fit``. ``x`` is uint8 (N, height, width, channels), ``y`` int32
    labels (N,) indexing ``class_names``; ``file_paths[i]`` is the file ``x[i]`` came from.
    """

    def __new__(cls, x, y, class_names, file_paths):
        self = super().__new__(cls, (x, y))
        self.class_names = list(class_names)
        self.file_paths = list(file_paths)
        return self

    @property
    def x(self):
        return self[0]

    @property
    def y(self):
        return self[1]

    def __repr__(self):
        return (
            f"<ImageDataset images={len(self.x)}, shape={self.x.shape[1:]}, "
            f"class_names={self.class_names}>"
        )


# -- a whole folder in memory --------------------------------------------------------------------
def load_image_folder(
    directory,
    image_size=(256, 256),
    color_mode="rgb",
    validation_split=None,
    subset=None,
    seed=None,
    shuffle=True,
    class_names=None,
    interpolation="bilinear",
    crop_to_aspect_ratio=False,
    verbose=True,
    on_unreadable="error",
):
    """Load a folder with one subfolder of images per class, listed as Keras does, into arrays.

    ``directory/cat/1.jpg, directory/cat/2.png, directory/dog/a.bmp ...``: the classes are the
    subfolders in alphabetical order (or ``class_names``' order), label ``i`` is
    ``class_names[i]``. Files with the extensions .jpg, .jpeg, .png, .bmp, .gif (any case) are read,
    also in nested folders; other files and files directly in ``directory`` are ignored. With
    ``shuffle`` the list of files is shuffled by ``numpy.random.RandomState(seed)`` (the same order
    Keras gives for the same seed); ``validation_split`` then puts the last
    ``int(validation_split * N)`` files in the validation subset and the rest in training.

    Args:
        directory: the folder.
        image_size: (height, width) every image is resized to.
        color_mode: 'grayscale', 'rgb' or 'rgba' (1, 3 or 4 channels).
        validation_split: fraction in (0, 1) held out for validation, or None.
        subset: 'training', 'validation' or 'both' (needs validation_split), or None.
        seed: seed of the shuffle; required with validation_split when shuffling, so that the
            training and validation subsets never overlap across calls.
        shuffle: shuffle the files; False keeps class order, then file-name order.
        class_names: the subfolders to use, in the order that sets the labels (a subset of them
            is allowed); None for all, alphabetical.
        interpolation: the resize filter: 'bilinear', 'nearest', 'bicubic', 'area', 'lanczos3'
            or 'hamming'.
        crop_to_aspect_ratio: crop to the target aspect ratio before resizing, not stretch.
        verbose: print "Found N files belonging to K classes." as Keras does.
        on_unreadable: 'error' (raise, naming it) or 'skip' (warn, naming it, and go on) for a
            class folder that cannot be listed or an image file that cannot be read.

    Returns:
        An :class:`ImageDataset` ``(x, y)`` with ``.class_names``: x uint8 (N, height, width,
        channels), y int32 (N,). With ``subset='both'``, a pair ``(training, validation)`` of them.

    Raises:
        FileNotFoundError / NotADirectoryError: no such directory.
        ValueError: no class subfolders, no images, a split with no images, bad arguments, or an
            image that cannot be read (the message names the file).
        ImportError: pillow is not installed.

    Example:
        >>> import os, tempfile
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> for name, shade in [("dark", 0), ("light", 255)]:
        ...     os.mkdir(os.path.join(root, name))
        ...     for i in range(5):
        ...         Image.new("L", (9, 7), shade).save(os.path.join(root, name, f"{i}.png"))
        >>> train, val = load_image_folder(root, (4, 4), "grayscale", 0.2, "both",
        ...                                 seed=1, verbose=False)
        >>> train.x.shape, val.x.shape, train.class_names
        ((8, 4, 4, 1), (2, 4, 4, 1), ['dark', 'light'])
    """
    where = "load_image_folder"
    image_size = check_size(image_size, where)
    check_choice(color_mode, tuple(COLOR_MODES), "color_mode", where)
    check_choice(interpolation, tuple(INTERPOLATIONS), "interpolation", where)
    _check_split(validation_split, subset, shuffle, seed)
    check_choice(on_unreadable, ("error", "skip"), "on_unreadable", where)
    pillow()
    directory = os.fspath(directory)
    paths, labels, class_names = index_directory(
        directory, class_names=class_names, on_unreadable=on_unreadable, where=where
    )
    if verbose:
        print(f"Found {len(paths)} files belonging to {len(class_names)} classes.")
    if shuffle:
        paths, labels = shuffle_files(paths, labels, seed)

    def load(subset):
        subset_paths, subset_labels = split_files(
            paths, labels, validation_split, subset, directory, verbose, where
        )
        x, read = _read_all(
            subset_paths, image_size, color_mode, interpolation, crop_to_aspect_ratio, on_unreadable
        )
        if not read.all():
            subset_paths = [p for p, ok in zip(subset_paths, read) if ok]
            x, subset_labels = x[read], subset_labels[read]
            if not subset_paths:
                raise ValueError(
                    f"{where}: none of the {subset or 'listed'} images of {directory} could be "
                    f"read."
                )
        return ImageDataset(x, subset_labels, class_names, subset_paths)

    if subset == "both":
        return load("training"), load("validation")
    return load(subset)


def shuffle_files(paths, labels, seed):
    """`paths` and `labels` shuffled as Keras's ``index_directory`` shuffles them for `seed`
    (None: a seed drawn from NumPy's global generator, as Keras draws it)."""
    if seed is None:
        seed = np.random.randint(1e6)
    paths = list(paths)
    np.random.RandomState(seed).shuffle(paths)
    if labels is not None:
        labels = np.array(labels)
        np.random.RandomState(seed).shuffle(labels)
    return paths, labels


def split_files(
    paths, labels, validation_split, subset, directory, verbose=True, where="load_image_folder"
):
    """The training or validation part of the file list as Keras's
    ``get_training_or_validation_split`` cuts it: the last ``int(validation_split * N)`` files
    are for validation. A part with no files is an error (Keras would give the validation part
    every file when ``int(validation_split * N)`` is 0)."""
    if not validation_split:
        return paths, labels
    count = int(validation_split * len(paths))
    cut = len(paths) - count
    chosen = slice(None, cut) if subset == "training" else slice(cut, None)
    if not count or not paths[chosen]:
        raise ValueError(
            f"{where}: validation_split={validation_split} leaves no "
            f"{'validation' if not count else subset} images out of "
            f"{len(paths)} in {directory}."
        )
    if verbose:
        print(f"Using {len(paths[chosen])} files for {subset}.")
    return paths[chosen], None if labels is None else labels[chosen]


def _check_split(validation_split, subset, shuffle, seed):
    where = "image_dataset_from_directory"
    if validation_split is not None and (
        isinstance(validation_split, bool)
        or not isinstance(validation_split, (int, float))
        or not 0 < validation_split < 1
    ):
        raise ValueError(
            f"{where}: validation_split must be a fraction between 0 and 1. "
            f"Received: validation_split={validation_split!r}"
        )
    check_choice(subset, ("training", "validation", "both", None), "subset", where)
    if bool(validation_split) != bool(subset):
        raise ValueError(
            f"{where}: validation_split and subset go together: give both or "
            f"neither. Received: validation_split={validation_split!r}, "
            f"subset={subset!r}"
        )
    if validation_split and shuffle and seed is None:
        raise ValueError(
            f"{where}: with validation_split and shuffle=True, give a seed, so that "
            f"the training and validation subsets do not overlap. Received: seed=None"
        )


def index_directory(
    directory,
    labels="inferred",
    class_names=None,
    follow_links=False,
    on_unreadable="error",
    where="image_dataset_from_directory",
):
    """(file paths, labels, class names) in Keras's order, before any shuffle.

    With ``labels="inferred"``: one class per subfolder (alphabetical, or ``class_names``'
    order), each walked in sorted order of its folders, then of file names; int32 labels. With
    ``labels=None`` or a list of labels (one per file, in that order), the whole tree under
    `directory` is walked as one folder, and class names are ``None`` or the sorted distinct
    labels as strings. Only files ending with :data:`IMAGE_FORMATS` (any case) are listed.
    """
    if not os.path.exists(directory):
        raise FileNotFoundError(f"{where}: no such directory: {directory}")
    if not os.path.isdir(directory):
        raise NotADirectoryError(
            f"{where}: {directory} is a file, not a directory of class subfolders"
        )
    if labels == "inferred":
        subdirs = _class_folders(directory, class_names, where)
    else:
        subdirs = [""]
    paths, indices = [], []

    def unreadable(error):
        _unreadable(
            f"{where}: cannot list the folder {error.filename} ({error.strerror})", on_unreadable
        )

    for label, name in enumerate(subdirs):
        top = os.path.join(directory, name)
        walk = os.walk(top, onerror=unreadable, followlinks=follow_links)
        for root, _, files in sorted(walk, key=lambda t: t[0]):
            for file in sorted(files):
                if file.lower().endswith(IMAGE_FORMATS):
                    relative = os.path.relpath(os.path.join(root, file), top)
                    paths.append(os.path.join(directory, os.path.join(name, relative)))
                    indices.append(label)
    if not paths:
        raise ValueError(
            f"{where}: no images found in "
            + (
                f"the class subfolders of {directory} ({', '.join(subdirs)})"
                if subdirs != [""]
                else directory
            )
            + f". Image files must end with {', '.join(IMAGE_FORMATS)}"
        )
    if labels == "inferred":
        return paths, np.asarray(indices, dtype=np.int32), list(subdirs)
    if labels is None:
        return paths, None, None
    if len(labels) != len(paths):
        raise ValueError(
            f"{where}: labels must give one label per image file, in the sorted order of their "
            f"paths: {len(paths)} files in {directory}. Received: {len(labels)} labels"
        )
    return paths, np.asarray(labels), [str(label) for label in sorted(set(labels))]


def _class_folders(directory, class_names, where):
    subdirs = sorted(
        name
        for name in os.listdir(directory)
        if not name.startswith(".") and os.path.isdir(os.path.join(directory, name))
    )
    if not subdirs:
        raise ValueError(
            f"{where}: {directory} has no class subfolders. Put the images of each "
            f"class in a subfolder named after it, e.g. {directory}/cat/1.jpg, "
            f"{directory}/dog/1.jpg"
        )
    if class_names is None:
        return subdirs
    missing = [name for name in class_names if name not in subdirs]
    if missing or len(set(class_names)) != len(class_names) or not class_names:
        raise ValueError(
            f"{where}: class_names must be distinct subfolders of {directory}: "
            f"{subdirs} (or some of them). Received: class_names={class_names!r}"
        )
    return list(class_names)


def _unreadable(message, on_unreadable):
    if on_unreadable == "error":
        raise ValueError(
            f"{message}. Fix it, or pass on_unreadable='skip' (striate: "
            f"--skip-unreadable) to go on without it."
        )
    warnings.warn(f"{message}; skipped.", UserWarning, stacklevel=4)


def _read_all(
    paths, image_size, color_mode, interpolation, crop_to_aspect_ratio, on_unreadable="error"
):
    """(uint8 images, bool mask of the files read); unreadable files raise or are skipped."""
    height, width = image_size
    shape = (len(paths), height, width, COLOR_MODES[color_mode][1])
    if math.prod(shape) > MAX_FOLDER_BYTES:
        raise ValueError(
            f"{len(paths)} images of {height}x{width}x{shape[3]} take {math.prod(shape):,} bytes, "
            f"over the limit of {MAX_FOLDER_BYTES:,} "
            f"(striate.datasets.image_folder.MAX_FOLDER_BYTES); use a smaller image_size or "
            f"fewer images"
        )
    x = np.empty(shape, dtype=np.uint8)
    read = np.ones(len(paths), dtype=bool)

    def read_into(item):
        index, path = item
        try:
            x[index] = read_image(path, image_size, color_mode, interpolation, crop_to_aspect_ratio)
        except ValueError as error:
            if on_unreadable == "error":
                raise
            read[index] = False
            return str(error)
        return None

    # pillow decodes and resizes without the GIL, so threads read files in parallel.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        problems = [p for p in pool.map(read_into, enumerate(paths)) if p]
    for problem in problems:
        _unreadable(problem, on_unreadable)
    return x, read
