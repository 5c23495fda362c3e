"""`Doctor`: notices, explains and records why a model is not learning, while `fit` runs.

`fit` runs a default `Doctor()` (unless `fit(..., doctor=False)` or the environment variable
STRIATE_DOCTOR=0), or the one given in `callbacks`. It only reads: training is bit for bit the
same with it on. The loop calls it at three points of a step (`before_update`, after the
backward pass; `after_update`, after the optimizer; `on_bad_loss`), and it samples: a check runs
at the first step and then whenever the time spent checking stays under `budget` of the time
spent training (or every `every` steps).

What it says: the pathologies it is sure of, once, as one DoctorWarning block (what it saw, with
numbers; why it matters; the fix); with `verbose=1` the notes too, with `verbose=2` a health
line per epoch. Everything goes to `history.health` (a JSON-able dict: `striate show health`).

The checks walk the model with `striate.see`, which sits above the training loop: they are
imported when training starts (`striate.doctor`), as the model tools are.
"""

import json
import math
import sys
import time

import numpy as np

from striate.callbacks.base import Callback


class Doctor(Callback):
    """The training doctor (`striate.doctor`).

    Args:
        verbose: 0: warn about the pathologies it is sure of (the default doctor); 1: print the
            notes too; 2: and one health line per epoch.
        budget: the largest share of training time its sampled checks may take (0.02).
        every: check every `every` steps instead of by time (deterministic schedules).
        sample: samples of the batch walked through the layers for the activation checks.
        patience: steps after which a loss that has not moved since the start is reported.

    >>> doctor = Doctor(verbose=1)
    >>> doctor.health["checks"]
    []
    """

    def __init__(self, verbose=0, budget=0.02, every=None, sample=32, patience=200):
        super().__init__()
        if verbose not in (0, 1, 2):
            raise ValueError(f"Doctor: verbose must be 0, 1 or 2. Received: verbose={verbose!r}")
        if not 0 < budget <= 1:
            raise ValueError(f"Doctor: budget must be in (0, 1]. Received: budget={budget!r}")
        if every is not None and (not isinstance(every, int) or every < 1):
            raise ValueError(f"Doctor: every must be a positive int. Received: every={every!r}")
        self.verbose, self.budget, self.every = verbose, budget, every
        self.sample, self.patience = int(sample), int(patience)
        self.findings = []
        self._reset()

    @staticmethod
    def attach(callbacks, enabled, model, data):
        """The Doctor of `fit`, begun on `data` ((x, y) arrays, or None: the first batch): the
        one in `callbacks`, else a default one when `enabled` and the environment allows, else
        `OFF`, which does nothing. Returns (doctor, callbacks)."""
        from striate.doctor.findings import enabled_by_environment

        callbacks = list(callbacks or [])
        doctor = next((c for c in callbacks if isinstance(c, Doctor)), None)
        if doctor is None:
            if not isinstance(enabled, (bool, np.bool_)):
                raise TypeError(f"fit: doctor must be True or False. Received: doctor={enabled!r}")
            if not enabled or not enabled_by_environment():
                return OFF, callbacks
            doctor = Doctor()
            callbacks.append(doctor)
        doctor.begin(model, *(data or (None, None)))
        return doctor, callbacks

    def _reset(self):
        self.health = {"checks": [], "loss": [], "findings": [], "overhead": 0.0}
        self.findings, self._said, self._pending = [], set(), []
        self._step = self._last = self._epoch = 0
        self._train = self._spent = self._cost = 0.0
        self._mark = self._before = None
        self._started, self._data = False, None

    # -- called by fit ---------------------------------------------------------------------
    def begin(self, model, x, y):
        """Start checks on the training data (arrays; None: on the first batch instead)."""
        from striate.doctor import sampled, walk

        self._reset()
        self.model = model
        self._modules = (sampled, walk)
        self._owner, _ = sampled.owners(model)
        self._steps = walk.steps_or_none(model)
        # checked at the first step, in fit's parallel region (one BLAS thread, as training)
        self._data = (x, y) if x is not None else None
        self._before = {id(v): v.data.copy() for v in model.weights}  # the first step is checked
        self._mark = time.perf_counter()

    def _ensure_started(self, x, y):
        """The start checks, once: on the training arrays, else on the first batch."""
        if self._started:
            return
        from striate.doctor import start

        self._started = True
        x, y = self._data or (x, y)
        self._data = None
        self._add(start.start_checks(self.model, x, y), epoch=-1, step=-1)

    def after_step(self, step, x, y, outputs, loss_value, variables):
        """After the optimizer's step (the gradients still there): the step's loss; on a
        sampled step, the gradient norms, the update ratios (from the weights kept before
        it), the activations of a few samples, the clipped share. New findings are said."""
        now = time.perf_counter()
        if self._mark is not None:
            self._train += now - self._mark
        self.health["loss"].append(loss_value)
        checked = self._before is not None
        if checked:
            self._check(x, y, outputs, loss_value, variables)
        self._step += 1
        due = self._due()
        self._before = {id(v): v.data.copy() for v in variables} if due else None
        self._mark = time.perf_counter()
        self._spent += self._mark - now
        if checked:  # what the next check will cost, about
            self._cost = self._mark - now

    def _due(self):
        if self.every is not None:
            return self._step % self.every == 0
        if self._step - self._last < 5:
            return False
        return self._spent + self._cost <= self.budget * self._train

    def _check(self, x, y, outputs, loss_value, variables):
        sampled, walk = self._modules
        self._ensure_started(x, y)
        first = x[0] if isinstance(x, list) else x
        before = [self._before.get(id(v), v.data) for v in variables]
        check = {
            "epoch": self._epoch,
            "step": self._step,
            "loss": loss_value,
            "grad_norm": {
                k: list(v) for k, v in sampled.gradient_norms(variables, self._owner).items()
            },
            "update_ratio": sampled.update_ratios(variables, self._owner, before),
            "clipped": sampled.clipped_share(self.model, outputs, y),
            "layers": {},
        }
        if self._steps is not None and not isinstance(x, list):
            check["layers"] = sampled.activation_stats(
                self.model, first[: self.sample], self._steps
            )
        self.health["checks"].append(check)
        self._add(sampled.findings_of(check))
        self._plateau()
        self._last = self._step
        self._say()

    def on_bad_loss(self, x, variables):
        """The loss is NaN or inf: find where it first appeared, and say it now."""
        sampled, _ = self._modules
        self._ensure_started(x, None)
        first = x[0] if isinstance(x, list) else x
        finding = sampled.locate_nonfinite(self.model, first, variables, self._owner)
        self._add([finding])
        self._say()

    # -- callback hooks --------------------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self._plateau()
        self._say()
        if self.verbose >= 2 and self.health["checks"]:
            from striate.doctor.report import epoch_line

            print(epoch_line(self.health, epoch), flush=True)

    def on_train_end(self, logs=None):
        self._say()
        spent = self._spent
        self.health["overhead"] = spent / self._train if self._train > 0 else 0.0
        history = getattr(self.model, "history", None)
        if history is not None:
            history.health = self.health

    # -- findings --------------------------------------------------------------------------
    def _add(self, findings, epoch=None, step=None):
        for finding in findings:
            if finding.key in self._said:
                continue
            finding.epoch = self._epoch if epoch is None else epoch
            finding.step = self._step if step is None else step
            self._said.add(finding.key)
            self.findings.append(finding)
            self.health["findings"].append(finding.as_dict())
            self._pending.append(finding)

    def _plateau(self):
        losses = self.health["loss"]
        if len(losses) < self.patience or ("plateau", "") in self._said:
            return
        quarter = max(1, self.patience // 4)
        head, tail = float(np.mean(losses[:quarter])), float(np.mean(losses[-quarter:]))
        if math.isfinite(head) and abs(head - tail) <= 0.01 * abs(head):
            from striate.doctor.findings import Finding

            self._add(
                [
                    Finding(
                        "plateau",
                        "",
                        f"The loss has not moved in {len(losses)} steps: {head:.4g} over the "
                        f"first {quarter}, {tail:.4g} over the last {quarter}.",
                        "nothing is being learned: the gradients are zero, the learning rate "
                        "is too small, or the units are dead or saturated.",
                        "read the other findings; try scaled inputs (x / 255) and "
                        "Adam(learning_rate=1e-3).",
                    )
                ]
            )

    def _say(self):
        """Warn once about the new sure findings (one block); print the notes (verbose >= 1)."""
        from striate.doctor.findings import block, warn

        pending, self._pending = self._pending, []
        sure = [f for f in pending if f.sure]
        notes = [f for f in pending if not f.sure]
        if (sure or (notes and self.verbose)) and self.params.get("verbose") == 1:
            from striate.models.progress import is_interactive

            if is_interactive(sys.stdout):
                print(flush=True)  # end the progress bar's line first
        warn(sure)
        if notes and self.verbose >= 1:
            print(block(notes, title="striate doctor notes"), flush=True)

    def save(self, path):
        """Write `health` as JSON (what `striate show health` draws)."""
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.health, handle)


class _Off:
    """What `fit` calls when the doctor is off: nothing happens."""

    def after_step(self, step, x, y, outputs, loss_value, variables):
        pass

    def on_bad_loss(self, x, variables):
        pass


OFF = _Off()
