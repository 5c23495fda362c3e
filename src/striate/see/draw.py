"""Shared drawing plumbing: lazy matplotlib (Agg, no window, no pyplot state) and pillow imports,
figure creation, and atomic saving of figures and frame sequences."""

import os
import tempfile

import numpy as np

_HINT = "pip install 'striate[see]'  (or: pip install matplotlib pillow)"


def matplotlib():
    """The matplotlib module, forced to the Agg backend; a clear ImportError when missing."""
    try:
        import matplotlib as mpl
    except ImportError as error:
        raise ImportError(
            f"striate.see needs matplotlib to draw pictures. Install it with: {_HINT}"
        ) from error
    mpl.use("Agg", force=False)
    return mpl


def pil_image():
    """PIL.Image, with a clear ImportError when pillow is missing."""
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(
            f"striate.see needs pillow to write GIFs and read images. Install it with: {_HINT}"
        ) from error
    return Image


def figure(width, height, dpi=100):
    """A Figure on an Agg canvas (no pyplot: nothing to close, nothing global)."""
    matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def to_image(fig):
    """Render a figure to an RGB PIL image."""
    Image = pil_image()
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return Image.fromarray(rgba[..., :3].copy())


def _atomic(path, write):
    """Write through a temporary file in the same folder, then rename: never half a file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist")
    suffix = os.path.splitext(path)[1]
    handle, temporary = tempfile.mkstemp(suffix=suffix, dir=folder, prefix=".striate-")
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return path


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_figure(fig, path):
    """Save a figure (format from the extension: .png, .svg, .pdf, .jpg) atomically."""
    extension = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if extension not in ("png", "svg", "pdf", "jpg", "jpeg"):
        raise ValueError(f"cannot save a picture as {path!r}: use .png, .svg, .pdf or .jpg")
    fmt = "jpeg" if extension == "jpg" else extension
    return _atomic(path, lambda name: fig.savefig(name, format=fmt, facecolor="white"))


def save_frames(frames, path, duration=800):
    """Write PIL frames as an animated GIF (looping), or the first one as a PNG."""
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if not frames:
        raise ValueError("no frames to save")
    if extension == ".gif":
        palette = [
            frame.convert("P", palette=pil_image().Palette.ADAPTIVE, colors=255) for frame in frames
        ]
        return _atomic(
            path,
            lambda name: palette[0].save(
                name,
                format="GIF",
                save_all=True,
                append_images=palette[1:],
                duration=duration,
                loop=0,
                optimize=False,
                disposal=1,
            ),
        )
    if extension == ".png":
        return _atomic(path, lambda name: frames[0].save(name, format="PNG"))
    raise ValueError(f"cannot save an animation as {path!r}: use .gif (or .png for one frame)")


def normalize(array):
    """Scale to 0..1 by min and max (a constant array gives zeros)."""
    array = np.asarray(array, dtype=np.float64)
    low, high = np.nanmin(array), np.nanmax(array)
    if not np.isfinite(low) or high - low <= 0:
        return np.zeros_like(array)
    return (array - low) / (high - low)


def image_of(x):
    """An input (H, W, C) as something imshow draws: 2-D for one channel, RGB 0..1 for three."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3 and x.shape[-1] == 1:
        return x[..., 0]
    if x.ndim == 3 and x.shape[-1] == 3:
        return normalize(x)
    if x.ndim == 3:
        return x.mean(axis=-1)
    return x


def box(ax, top, left, rows, cols, color, width=3, style="-"):
    """Outline the cells rows x cols whose top left cell is (top, left) on an imshow axis."""
    from matplotlib.patches import Rectangle

    return ax.add_patch(
        Rectangle(
            (left - 0.5, top - 0.5),
            cols,
            rows,
            fill=False,
            edgecolor=color,
            linewidth=width,
            linestyle=style,
        )
    )
