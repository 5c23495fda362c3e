"""The doctor's numbers as text: a line per epoch (`Doctor(verbose=2)`) and the report
`striate doctor` prints (every finding, then per-layer statistics over the training)."""

import math

from striate.doctor.findings import Finding, block


def _series(health, field):
    """`{layer: [value per check]}` of one per-layer field ('dead', 'saturated', 'grad_norm',
    'update_ratio')."""
    series = {}
    for check in health.get("checks", []):
        if field in ("dead", "saturated"):
            items = {k: v.get(field) for k, v in check.get("layers", {}).items()}
        elif field == "grad_norm":
            items = {k: v[0] for k, v in check.get("grad_norm", {}).items()}
        else:
            items = check.get(field, {})
        for name, value in items.items():
            if value is not None:
                series.setdefault(name, []).append(value)
    return series


def _last(values):
    return values[-1] if values else math.nan


def epoch_line(health, epoch):
    """One line: the checks so far, the dead share and the gradient norm per layer, overhead."""
    checks = [c for c in health["checks"] if c["epoch"] == epoch]
    dead = _series({"checks": checks}, "dead")
    norms = _series({"checks": checks}, "grad_norm")
    parts = [f"doctor: epoch {epoch + 1}, {len(checks)} checks"]
    if dead:
        parts.append("dead " + ", ".join(f"{k} {_last(v):.0%}" for k, v in dead.items()))
    if norms:
        parts.append("|grad| " + ", ".join(f"{k} {_last(v):.2g}" for k, v in norms.items()))
    return " - ".join(parts)


def report(health):
    """The full report: every finding (sure ones and notes), then each layer's statistics at the
    first and the last check.

    >>> print(report({"checks": [], "loss": [], "findings": [], "overhead": 0.0}))
    striate doctor: no problem found (0 sampled checks).
    """
    findings = [Finding(**f) for f in health.get("findings", [])]
    checks = health.get("checks", [])
    lines = []
    if findings:
        lines.append(block(findings))
    else:
        lines.append(f"striate doctor: no problem found ({len(checks)} sampled checks).")
    if not checks:
        return "\n".join(lines)
    lines += ["", f"Per layer, first -> last of {len(checks)} sampled checks:"]
    fields = (
        ("grad_norm", "|gradient|", "{:.3g}"),
        ("update_ratio", "update/weight", "{:.3g}"),
        ("dead", "dead units", "{:.0%}"),
        ("saturated", "saturated", "{:.0%}"),
    )
    for field, label, form in fields:
        for name, values in _series(health, field).items():
            lines.append(
                f"  {label:<14} {name:<24} {form.format(values[0])} -> {form.format(values[-1])}"
            )
    clipped = [c["clipped"] for c in checks if c.get("clipped") is not None]
    if clipped:
        lines.append(
            f"  clipped share  (true class < epsilon)  {clipped[0]:.0%} -> {clipped[-1]:.0%}"
        )
    lines.append(f"Doctor overhead: {health.get('overhead', 0.0):.1%} of training time.")
    return "\n".join(lines)
