"""Pictures of results: training curves from a History (or its CSV / JSON file) and a confusion
matrix with the most-confused pairs listed."""

import csv
import json
import math
import os

import numpy as np

from striate.see import draw

MAX_HISTORY_BYTES = 64 * 2**20  # a training-history file (a CSVLogger file of 1000 epochs: 100 KB)


def load_history(source):
    """Training history as {'loss': [...], 'val_loss': [...], ...}, one value per epoch.

    Args:
        source: a History (from `fit`), a dict of lists, or a path: a CSV as Keras's CSVLogger
            writes it (an `epoch` column, then loss, acc, val_loss, ...), or JSON (a dict of lists,
            `{"history": {...}}`, or a list of per-epoch dicts).

    Returns:
        dict of str -> list of float (the epoch column dropped).

    >>> load_history({"loss": [2, 1], "val_loss": [2.5, 1.5]})
    {'loss': [2.0, 1.0], 'val_loss': [2.5, 1.5]}
    """
    if hasattr(source, "history") and isinstance(source.history, dict):
        source = source.history
    if isinstance(source, (str, os.PathLike)):
        source = _read_history_file(os.fspath(source))
    if isinstance(source, dict) and isinstance(source.get("history"), dict):
        source = source["history"]
    if isinstance(source, list):
        if not all(isinstance(row, dict) for row in source):
            raise ValueError(
                "load_history: a list history must hold one dict per epoch "
                "({'loss': ..., ...}). Received: a list of other values."
            )
        keys = [k for row in source for k in row]
        source = {k: [row.get(k, math.nan) for row in source] for k in dict.fromkeys(keys)}
    if not isinstance(source, dict) or not source:
        raise ValueError(
            "load_history: expected a History, a dict of lists, or a CSV/JSON file "
            "with one row per epoch. Received: nothing usable."
        )
    history = {}
    for key, values in source.items():
        if key == "epoch":
            continue
        try:
            history[str(key)] = [float(v) if v not in ("", None) else math.nan for v in values]
        except (TypeError, ValueError):
            raise ValueError(f"load_history: the column {key!r} is not numeric.") from None
    if not history:
        raise ValueError("load_history: no metric columns (only 'epoch').")
    return history


def _read_history_file(path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"no history file at {path}")
    size = os.path.getsize(path)
    if size > MAX_HISTORY_BYTES:
        raise ValueError(
            f"{path} holds {size} bytes, over the limit of {MAX_HISTORY_BYTES} for a "
            f"training history (striate.see.results.MAX_HISTORY_BYTES)."
        )
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not a text file (CSV or JSON): {error}") from None
    if path.lower().endswith(".json") or text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from None
    try:
        rows = list(csv.DictReader(text.splitlines(), delimiter=_delimiter(text)))
    except csv.Error as error:
        raise ValueError(f"{path} is not a valid CSV file: {error}") from None
    if not rows:
        raise ValueError(
            f"{path} has no rows: expected a header (epoch,loss,...) and one row "
            f"per epoch, as CSVLogger writes it."
        )
    return {key: [row[key] for row in rows] for key in rows[0]}


def _delimiter(text):
    header = text.splitlines()[0] if text else ""
    return ";" if header.count(";") > header.count(",") else ","


def training_curves(history):
    """One panel per quantity (loss, acc, ...), train and validation lines together."""
    history = load_history(history)
    names = [k for k in history if not k.startswith("val_")]
    names += [k[4:] for k in history if k.startswith("val_") and k[4:] not in names]
    fig = draw.figure(4.6 * len(names), 3.8)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        for key, style in ((name, "-o"), (f"val_{name}", "--s")):
            if key in history:
                values = history[key]
                ax.plot(range(1, len(values) + 1), values, style, label=key, markersize=4)
        ax.set_xlabel("epoch")
        ax.set_title(name, fontsize=11)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def confusion_matrix(y_true, y_pred, classes=None):
    """Counts: row = true class, column = predicted class.

    >>> confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2]).tolist()
    [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    y_true = np.asarray(y_true).astype(int).ravel()
    y_pred = np.asarray(y_pred).astype(int).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"confusion_matrix: y_true and y_pred differ in length. "
            f"Received: {y_true.size} and {y_pred.size}."
        )
    if classes is None:
        classes = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def most_confused(matrix, top=5):
    """The largest off-diagonal counts as (true, predicted, count), largest first.

    >>> most_confused(np.array([[5, 2], [0, 3]]))
    [(0, 1, 2)]
    """
    off = np.array(matrix, dtype=np.int64)
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")
    pairs = []
    for flat in order[:top]:
        true, predicted = np.unravel_index(flat, off.shape)
        if off[true, predicted] == 0:
            break
        pairs.append((int(true), int(predicted), int(off[true, predicted])))
    return pairs


def confusion_picture(y_true, y_pred, labels=None, top=5):
    """The confusion matrix (counts written in the cells) with the most-confused pairs listed."""
    matrix = confusion_matrix(y_true, y_pred, None if labels is None else len(labels))
    classes = matrix.shape[0]
    labels = [str(i) for i in range(classes)] if labels is None else [str(v) for v in labels]
    fig = draw.figure(max(6, 0.55 * classes + 4.5), max(4.5, 0.5 * classes + 1.5))
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1.4]})
    ax = axes[0]
    ax.imshow(matrix, cmap="Blues", interpolation="nearest")
    ax.set_label("confusion")
    high = matrix.max() or 1
    for (r, c), count in np.ndenumerate(matrix):
        if count:
            ax.text(
                c,
                r,
                str(count),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if count > high / 2 else "black",
            )
    ax.set_xticks(range(classes), labels, fontsize=8)
    ax.set_yticks(range(classes), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"{matrix.sum()} samples, accuracy {accuracy:.3f}", fontsize=11)
    axes[1].axis("off")
    pairs = most_confused(matrix, top)
    lines = ["Most confused", "(true -> predicted)", ""]
    lines += [f"{labels[t]} -> {labels[p]}: {n}" for t, p, n in pairs] or ["none"]
    axes[1].text(0, 1, "\n".join(lines), va="top", fontsize=10, family="monospace")
    fig.tight_layout()
    return fig
