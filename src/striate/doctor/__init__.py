"""The training doctor: notices, explains and shows why a model is not learning.

`fit` runs it by default (`striate.callbacks.Doctor`; off with `fit(..., doctor=False)` or
STRIATE_DOCTOR=0). Its parts: `start` (checks at the start of `fit`: input range, labels,
learning rate, final activation and loss), `sampled` (checks on sampled steps: clipped
cross-entropy, dead units, saturation, gradient norms, update/weight ratios, where a NaN
appeared), `walk` (the model walked on a few samples with `striate.see`), `findings` (what it
found and the warning block), `report` (the text `striate doctor` prints).
"""

from striate.doctor.findings import DoctorWarning, Finding, block
from striate.doctor.report import report

__all__ = ["DoctorWarning", "Finding", "block", "report"]
