"""The training doctor's record as a picture (`striate show health`): the loss curve beside
per-layer gradient norms, update/weight ratios, dead ReLU units and saturated outputs, one line
per layer, over the sampled checks of training (`history.health`, `striate.callbacks.Doctor`)."""

import json
import math
import os

from striate.see import draw
from striate.see.results import MAX_HISTORY_BYTES

_PANELS = (
    ("grad_norm", "gradient norm", True),
    ("update_ratio", "update / weight", True),
    ("dead", "dead ReLU units (share)", False),
    ("saturated", "saturated outputs (share)", False),
)


def load_health(source):
    """A health record: from a History (`history.health`), a dict, or a JSON file.

    >>> load_health({"checks": [], "loss": [1.0]})["loss"]
    [1.0]
    """
    if hasattr(source, "health"):
        source = source.health
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no health file at {path}")
        if os.path.getsize(path) > MAX_HISTORY_BYTES:
            raise ValueError(f"{path} is over {MAX_HISTORY_BYTES} bytes: not a health record.")
        try:
            with open(path, encoding="utf-8") as handle:
                source = json.load(handle)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise ValueError(f"{path} is not a JSON health record: {error}") from None
    if not isinstance(source, dict) or not isinstance(source.get("checks"), list):
        raise ValueError(
            "load_health: expected a health record (a dict with 'checks' and 'loss', as "
            "history.health or `striate doctor --health` gives). Received: "
            f"{type(source).__name__}."
        )
    return source


def _values(check, field):
    if field in ("dead", "saturated"):
        return {k: v.get(field) for k, v in check.get("layers", {}).items()}
    if field == "grad_norm":
        return {k: v[0] for k, v in check.get("grad_norm", {}).items()}
    return dict(check.get(field, {}))


def health_picture(health):
    """The loss per step, then one panel per statistic, a line per layer, at the checked steps."""
    health = load_health(health)
    checks = health["checks"]
    panels = [
        p for p in _PANELS if any(v is not None for c in checks for v in _values(c, p[0]).values())
    ]
    fig = draw.figure(4.2 * (1 + len(panels)), 3.6)
    axes = fig.subplots(1, 1 + len(panels), squeeze=False)[0]
    loss = [v if v is not None and math.isfinite(v) else math.nan for v in health.get("loss", [])]
    axes[0].plot(range(len(loss)), loss, lw=1)
    axes[0].set_title("loss (every step)", fontsize=11)
    for finding in health.get("findings", []):
        if finding.get("step", -1) >= 0:
            axes[0].axvline(finding["step"], color="red", alpha=0.4, lw=1)
    for ax, (field, title, log) in zip(axes[1:], panels):
        lines = {}
        for check in checks:
            for name, value in _values(check, field).items():
                if value is not None:
                    lines.setdefault(name, ([], []))
                    lines[name][0].append(check["step"])
                    lines[name][1].append(value)
        for name, (steps, values) in lines.items():
            ax.plot(steps, values, "-o", markersize=3, label=name)
        if log and any(v > 0 for _, vs in lines.values() for v in vs):
            ax.set_yscale("log")
        ax.set_title(title, fontsize=11)
        ax.legend(fontsize=7)
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
