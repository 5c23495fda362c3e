"""What the doctor found, and how it says it: one `Finding` per pathology (what it saw, with
numbers; why it matters; the fix), and the warning block that prints the sure ones once."""

import os
import warnings
from dataclasses import asdict, dataclass

ENVIRONMENT = "STRIATE_DOCTOR"  # "0", "off", "false" or "no" turns the default doctor off


class DoctorWarning(UserWarning):
    """The training doctor's warning: a pathology it is sure of (`striate.callbacks.Doctor`)."""


@dataclass
class Finding:
    """One pathology.

    Attributes:
        kind: 'input_range', 'labels', 'learning_rate', 'activation_loss', 'clipped',
            'dead_units', 'saturated', 'exploding', 'vanishing', 'nonfinite', 'plateau'.
        layer: the layer it is about ('' when none).
        seen: what was measured, with numbers. why: why it matters. fix: what to do.
        sure: True for pathologies that warn by default; False for notes (`Doctor(verbose=1)`).
        epoch, step: when it was first seen (-1: before training).
    """

    kind: str
    layer: str
    seen: str
    why: str
    fix: str
    sure: bool = True
    epoch: int = -1
    step: int = -1

    @property
    def key(self):
        return (self.kind, self.layer)

    def text(self, number):
        lines = [f"{number}. {self.seen}", f"   Why: {self.why}", f"   Fix: {self.fix}"]
        return "\n".join(lines)

    def as_dict(self):
        return asdict(self)


def enabled_by_environment():
    """False when the environment variable STRIATE_DOCTOR switches the doctor off."""
    value = os.environ.get(ENVIRONMENT, "").strip().lower()
    return value not in ("0", "off", "false", "no")


def block(findings, title="striate doctor"):
    """The findings as one text block, numbered, with how to turn the doctor off.

    >>> print(block([Finding("labels", "", "All 10 labels are class 3.", "Nothing to learn.",
    ...                      "Check the labels.")]))
    striate doctor: 1 problem with this training (fit(doctor=False) or STRIATE_DOCTOR=0 hides this)
    1. All 10 labels are class 3.
       Why: Nothing to learn.
       Fix: Check the labels.
    """
    count = len(findings)
    head = (
        f"{title}: {count} problem{'s' if count != 1 else ''} with this training "
        f"(fit(doctor=False) or {ENVIRONMENT}=0 hides this)"
    )
    return "\n".join([head] + [f.text(i + 1) for i, f in enumerate(findings)])


def warn(findings):
    """One DoctorWarning holding every finding in `findings` (nothing when empty)."""
    if findings:  # from "striate.doctor", not a line of striate: the block says it all
        warnings.warn_explicit("\n" + block(findings), DoctorWarning, "striate.doctor", 0)
