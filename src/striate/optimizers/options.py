"""What Keras 3's BaseOptimizer does around every rule: gradient clipping, weight decay (with
`exclude_from_weight_decay`) and the moving average of the weights (`use_ema`). Mixed into
`striate.optimizers.base.Optimizer`, which validates the options and calls these in order."""

import math
import re

import numpy as np


class AroundTheRule:
    """The steps before and after an optimizer's rule (see `striate.optimizers.base`)."""

    def finalize_variable_values(self, variables):
        """With `use_ema`, set `variables` (those the optimizer was built for) to their moving
        average, as Keras does at the end of `fit`; otherwise nothing."""
        if self.use_ema and self.iterations and self.slots:
            for variable, average in zip(variables, self.slots["ema"]):
                np.copyto(variable.data, average)

    def _clip(self, whole, grads):
        """Clip in place, as Keras: per variable by norm, or by the global norm, or by value
        (`whole`: the packed buffer the `grads` views cover, or None)."""
        if self.clipnorm is not None:
            for g in grads:
                norm = math.sqrt(float(np.vdot(g, g)))
                if norm > self.clipnorm:
                    g *= g.dtype.type(self.clipnorm / norm)
        elif self.global_clipnorm is not None:
            norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
            if not math.isfinite(norm) or norm > self.global_clipnorm:
                scale = self.global_clipnorm / norm if math.isfinite(norm) else math.nan
                for g in [whole] if whole is not None else grads:
                    g *= g.dtype.type(scale)
        elif self.clipvalue is not None:
            for g in [whole] if whole is not None else grads:
                np.clip(g, -self.clipvalue, self.clipvalue, out=g)

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Leave out of the weight decay the variables in `var_list` and those whose name
        contains one of the strings in `var_names` (e.g. ['bias']), as Keras; only before the
        optimizer is built."""
        if self._variables is not None:
            raise ValueError(
                f"{type(self).__name__}.exclude_from_weight_decay() can only be called before "
                f"the optimizer is built (before fit or the first step)."
            )
        ids = {id(v) for v in var_list or []}
        pattern = (
            re.compile("|".join(map(re.escape, sorted(set(var_names))))) if var_names else None
        )
        self._excluded = (ids, pattern)

    def _decays(self, variable):
        ids, pattern = self._excluded
        name = getattr(variable, "name", None) or ""
        return id(variable) not in ids and (pattern is None or not pattern.search(name))

    def _decay(self, w, views=None):
        """w *= 1 - weight_decay * lr; with exclusions and a packed buffer, view by view."""
        if self.weight_decay is None:
            return
        factor = w.dtype.type(1 - self.weight_decay * self._lr)
        ids, pattern = self._excluded
        if views is None or (not ids and pattern is None):
            w *= factor
            return
        for view, variable in zip(views, self._variables):
            if self._decays(variable):
                view *= factor

    def _average(self, w, average):
        """The moving average of the weights (use_ema), and its copy into them when due."""
        if not self.use_ema:
            return
        momentum = self.ema_momentum if self.iterations > 1 else 0.0
        average *= average.dtype.type(momentum)
        average += average.dtype.type(1 - momentum) * w
        frequency = self.ema_overwrite_frequency
        if frequency and self.iterations % frequency == 0:
            np.copyto(w, average)
