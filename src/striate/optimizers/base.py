"""The optimizer base: packing, state, and what Keras 3's BaseOptimizer does around every rule.

One step (`apply`), in Keras 3's order: read the learning rate (a number, or a schedule
evaluated at `iterations` before the step); clip the gradients (`clipnorm` per variable, else
`global_clipnorm` over all, else `clipvalue` per element; at most one may be set); decay the
weights (`w *= 1 - weight_decay * lr`); apply the rule; update the moving average of the
weights (`use_ema`: `average = m * average + (1 - m) * w`, with `m = 0` on the first step) and
every `ema_overwrite_frequency` steps copy it into the weights; count the step.

Each optimizer validates its hyperparameters in `__init__`, writes its rule as math in the class
docstring, and keeps the update a small function over ndarrays: over the packed buffer of all
weights at once, or one variable at a time where the rule needs per-variable norms
(`per_variable`). Scalars are cast to the weight's dtype so a float32 model never makes float64
temporaries.
"""

import math

import numpy as np

from striate.optimizers import schedules
from striate.optimizers.options import AroundTheRule
from striate.optimizers.schedules import LearningRateSchedule


def _check_rate(owner, name, value, low=0.0, high=None, inclusive_high=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise TypeError(f"{owner}: {name} must be a number. Received: {name}={value!r}")
    too_high = high is not None and (value > high if inclusive_high else value >= high)
    if value < low or too_high or not math.isfinite(value):
        closing = "]" if inclusive_high else ")"
        bound = f"finite and >= {low}" if high is None else f"in [{low}, {high}{closing}"
        raise ValueError(f"{owner}: {name} must be {bound}. Received: {name}={value!r}")
    return float(value)


_BASE_DEFAULTS = {
    "weight_decay": None,
    "clipnorm": None,
    "clipvalue": None,
    "global_clipnorm": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
}
_FLUSH_EVERY = 64  # steps between flushes of tiny slot values (see Optimizer._flush_tiny)
_FLUSH_MARGIN = 2.0**24  # flush below tiny * margin: no later op then makes a subnormal


class Optimizer(AroundTheRule):
    """Base: holds `learning_rate`, the step counter `iterations` and per-weight slots.

    Options every optimizer takes (Keras 3's): `weight_decay`, `clipnorm`, `clipvalue`,
    `global_clipnorm`, `use_ema`, `ema_momentum`, `ema_overwrite_frequency` (see the module).
    """

    rule_slots = ()  # the rule's slots; `slot_names` adds "ema" with use_ema
    slot_initial = {}  # slot name -> the value a new slot starts at (else 0)
    per_variable = False  # the rule needs each variable on its own (norms per variable)

    def __init__(
        self,
        learning_rate,
        name=None,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
    ):
        owner = type(self).__name__
        self.name = name or owner.lower()
        self.learning_rate = learning_rate
        self._lr = 0.0  # the learning rate of the step being taken (`apply`)
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        given = [key for key, value in clips.items() if value is not None]
        if len(given) > 1:
            raise ValueError(
                f"{owner}: only one of clipnorm, clipvalue and global_clipnorm can be set. "
                f"Received: {', '.join(f'{k}={clips[k]!r}' for k in given)}"
            )
        for key in given:
            _check_rate(owner, key, clips[key])
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.weight_decay = (
            None if weight_decay is None else _check_rate(owner, "weight_decay", weight_decay)
        )
        self.use_ema = bool(use_ema)
        self.ema_momentum = _check_rate(owner, "ema_momentum", ema_momentum, 0.0, 1.0, True)
        if ema_overwrite_frequency is not None and (
            isinstance(ema_overwrite_frequency, bool)
            or not isinstance(ema_overwrite_frequency, (int, np.integer))
            or ema_overwrite_frequency < 1
        ):
            raise ValueError(
                f"{owner}: ema_overwrite_frequency must be None or a positive int. "
                f"Received: ema_overwrite_frequency={ema_overwrite_frequency!r}"
            )
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self._excluded = (set(), None)  # exclude_from_weight_decay: (variable ids, name pattern)
        self.iterations = 0
        self.slots = None  # one list of ndarrays per slot name, aligned with the variables
        self._variables = None  # the variables `build` prepared for
        self._packed = None  # their values, slots and gradients in one buffer each (`build`)
        self._scratch = {}

    @property
    def slot_names(self):
        return tuple(self.rule_slots) + (("ema",) if self.use_ema else ())

    @property
    def learning_rate(self):
        """The learning rate now: a schedule's value at `iterations` (Keras)."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            return self._learning_rate(self.iterations)
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        """Checked as the constructor checks it (callbacks that change it go through here)."""
        if isinstance(value, LearningRateSchedule):
            self._learning_rate = value
            return
        if isinstance(getattr(self, "_learning_rate", None), LearningRateSchedule):
            raise TypeError(
                f"{type(self).__name__}: the learning rate is a schedule "
                f"({type(self._learning_rate).__name__}) and cannot be set to a number. "
                f"Received: learning_rate={value!r}"
            )
        self._learning_rate = _check_rate(type(self).__name__, "learning_rate", value)

    def build(self, variables):
        """Get ready to update `variables` (Variables, or Tensors with `requires_grad`): make
        the slots (zeros, unless `set_state` restored them) and pack.

        Packing: when the variables share one dtype, their values are copied into one flat
        buffer and each variable's `.data` is rebound to a view of it (same shape, dtype and
        values); the slots and a gradient buffer are laid out the same way. One update then
        covers every weight in a dozen NumPy calls, not a dozen per weight. Writing into
        `variable.data` (as `set_weights` does) updates the buffer; an array taken from
        `variable.data` before the build no longer follows the updates. `fit` calls this before
        training, and `apply` calls it when it is given other variables, or a variable whose
        `.data` was rebound since; otherwise it returns at once.
        """
        variables = list(variables)
        if self._is_built_for(variables):
            return
        if self.slots is None:
            self.slots = {
                name: [np.full_like(v.data, self.slot_initial.get(name, 0)) for v in variables]
                for name in self.slot_names
            }
        for name, arrays in self.slots.items():
            if len(arrays) != len(variables):
                raise ValueError(
                    f"{type(self).__name__}.build: the optimizer holds state for "
                    f"{len(arrays)} weights (slot {name!r}); give it the same "
                    f"weights, or use a new optimizer (compile again) for others. "
                    f"Received: {len(variables)} variables."
                )
        self._variables, self._packed = variables, None
        if not variables or len({v.data.dtype for v in variables}) != 1:
            return  # nothing to pack, or mixed dtypes: updated one by one
        dtype = variables[0].data.dtype
        offsets = np.cumsum([0] + [v.data.size for v in variables])

        def pack(arrays):
            buffer = np.empty(offsets[-1], dtype)
            views = []
            for start, stop, array in zip(offsets[:-1], offsets[1:], arrays):
                view = buffer[start:stop].reshape(array.shape)
                view[...] = array
                views.append(view)
            return buffer, views

        params, param_views = pack([v.data for v in variables])
        for variable, view in zip(variables, param_views):
            variable.data = view
        grads, grad_views = pack([np.zeros_like(v.data) for v in variables])
        slots = {}
        for name in self.slot_names:
            slots[name], self.slots[name] = pack(self.slots[name])
        self._packed = {
            "params": params,
            "param_views": param_views,
            "grads": grads,
            "grad_views": grad_views,
            "slots": slots,
        }

    def _is_built_for(self, variables):
        built = self._variables
        if built is None or len(built) != len(variables):
            return False
        if self._packed is None:
            return all(v is b for v, b in zip(variables, built))
        return all(
            v is b and v.data is view
            for v, b, view in zip(variables, built, self._packed["param_views"])
        )

    def apply_gradients(self, grads_and_vars):
        """Apply one update. `grads_and_vars` is a list of (gradient ndarray, variable) pairs."""
        pairs = list(grads_and_vars)
        for grad, variable in pairs:
            variable.grad = grad
        self.apply([variable for _, variable in pairs])

    def apply(self, variables):
        """One update step for `variables`, using each variable's `.grad` (None is skipped).
        Builds first (see `build`: it packs the variables) when not built for them."""
        if not self._is_built_for(variables):
            self.build(variables)
        self._lr = float(self.learning_rate)  # at `iterations` before the step, as Keras
        self.iterations += 1
        self._prepare_step()
        packed = self._packed
        if packed is not None:
            # One update over every weight at once: a dozen NumPy calls per step, not per weight
            # (unless a gradient is missing: then weight by weight, below).
            for view, variable in zip(packed["grad_views"], variables):
                if variable.grad is None:
                    break
                np.copyto(view, variable.grad)
            else:
                params, grads = packed["params"], packed["grads"]
                self._clip(grads, packed["grad_views"])
                self._decay(params, packed["param_views"])
                if self.per_variable:
                    self._update_each(packed["param_views"], packed["grad_views"])
                else:
                    self._update(params, grads, packed["slots"])
                self._average(params, packed["slots"].get("ema"))
                if self.iterations % _FLUSH_EVERY == 0:
                    self._flush_tiny(packed["slots"])
                return
        present = [i for i, v in enumerate(variables) if v.grad is not None]
        grads = [variables[i].grad for i in present]
        if self.clipnorm is not None or self.clipvalue is not None or self.global_clipnorm:
            grads = [np.array(g, dtype=variables[i].data.dtype) for i, g in zip(present, grads)]
            self._clip(None, grads)
        weights = [variables[i].data for i in present]
        for i, w in zip(present, weights):
            if self._decays(variables[i]):
                self._decay(w)
        self._update_each(weights, grads, present)
        if self.use_ema:
            for i in present:
                self._average(variables[i].data, self.slots["ema"][i])

    def _update_each(self, weights, grads, indices=None):
        indices = range(len(weights)) if indices is None else indices
        for index, w, g in zip(indices, weights, grads):
            self._update(w, g, {name: self.slots[name][index] for name in self.slot_names})

    def _flush_tiny(self, slots):
        """Set slot values too small to matter to zero. The moments of a weight whose gradient
        stays zero decay geometrically (Adam's m by 0.9 a step), and once they come within a
        factor ~1e7 of the smallest normal float, the update's products are subnormal numbers,
        each many times slower on x86 (in the article's model, where most steps' gradients are
        zero, this made Adam much slower: benchmarks/README.md). Values under `tiny * 2**24`
        (2e-31 in float32) are dropped every 64 steps, so none decays that far in between; their
        effect on a weight (< 1e-26 per step with Keras's epsilon) is below float32's resolution
        of any weight that is not itself ~0."""
        for name, array in slots.items():
            threshold = self._flush_threshold(name, array.dtype)
            np.copyto(array, 0, where=np.abs(array) < threshold)

    def _flush_threshold(self, slot_name, dtype):
        return np.finfo(dtype).tiny * _FLUSH_MARGIN

    def _scratch_like(self, w):
        """A reusable temporary array of w's shape and dtype."""
        key = (w.shape, w.dtype.str)
        scratch = self._scratch.get(key)
        if scratch is None:
            scratch = self._scratch[key] = np.empty_like(w)
        return scratch

    def _prepare_step(self):
        """Compute the per-step scalars once (e.g. Adam's bias correction)."""

    def get_config(self):
        """Name, learning rate (a schedule as its serialised dict), the rule's settings, and
        the base options that differ from their defaults."""
        rate = self._learning_rate
        if isinstance(rate, LearningRateSchedule):
            rate = schedules.serialize(rate)
        config = {"name": self.name, "learning_rate": rate}
        for key, default in _BASE_DEFAULTS.items():
            if getattr(self, key) != default:
                config[key] = getattr(self, key)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.get(config["learning_rate"])
        return cls(**config)

    def state_arrays(self):
        """The optimizer's state as a flat list of arrays (iterations first), for saving. (The
        weights it updates are not in it: they are the model's.)"""
        arrays = [np.array(self.iterations, dtype=np.int64)]
        for name in self.slot_names:
            arrays.extend(self.slots[name] if self.slots else [])
        return arrays

    def set_state(self, arrays):
        """Restore what `state_arrays()` returned: iterations, then each slot's arrays in
        `slot_names` order (none when the optimizer had not taken a step yet)."""
        arrays = list(arrays)
        owner = type(self).__name__
        if not arrays or np.ndim(arrays[0]) != 0 or np.asarray(arrays[0]).dtype.kind not in "iu":
            raise ValueError(
                f"{owner}.set_state: the first array must be the integer step count "
                f"(iterations). Received: {len(arrays)} arrays."
            )
        slot_arrays = arrays[1:]
        if slot_arrays and (not self.slot_names or len(slot_arrays) % len(self.slot_names)):
            raise ValueError(
                f"{owner}.set_state: expected iterations then one array per weight "
                f"for each slot {list(self.slot_names)}. Received: "
                f"{len(slot_arrays)} slot arrays."
            )
        per_slot = len(slot_arrays) // len(self.slot_names) if slot_arrays else 0
        self.iterations = int(arrays[0])
        self._variables = self._packed = None  # the next build packs the restored slots
        self.slots = (
            None
            if not slot_arrays
            else {
                name: [np.array(a) for a in slot_arrays[i * per_slot : (i + 1) * per_slot]]
                for i, name in enumerate(self.slot_names)
            }
        )

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({settings})"
