"""Optimizers with Keras 3's defaults and update rules, updating weights in place.

Each optimizer validates its hyperparameters in `__init__`, writes its rule as math in the class
docstring, and keeps the per-weight update a small function over ndarrays. Scalars are cast to
the weight's dtype so a float32 model never makes float64 temporaries.
"""

import math

import numpy as np

from striate._registry import lookup


def _check_rate(owner, name, value, low=0.0, high=None, inclusive_high=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise TypeError(f"{owner}: {name} must be a number. Received: {name}={value!r}")
    too_high = high is not None and (value > high if inclusive_high else value >= high)
    if value < low or too_high or not math.isfinite(value):
        closing = "]" if inclusive_high else ")"
        bound = f"finite and >= {low}" if high is None else f"in [{low}, {high}{closing}"
        raise ValueError(f"{owner}: {name} must be {bound}. Received: {name}={value!r}")
    return float(value)


_FLUSH_EVERY = 64  # steps between flushes of tiny slot values (see Optimizer._flush_tiny)
_FLUSH_MARGIN = 2.0**24  # flush below tiny * margin: no later op then makes a subnormal


class Optimizer:
    """Base: holds `learning_rate`, the step counter `iterations` and per-weight slots."""

    slot_names = ()

    def __init__(self, learning_rate, name=None):
        self.name = name or type(self).__name__.lower()
        self.learning_rate = learning_rate
        self.iterations = 0
        self.slots = None  # one list of ndarrays per slot name, aligned with the variables
        self._variables = None  # the variables `build` prepared for
        self._packed = None  # their values, slots and gradients in one buffer each (`build`)
        self._scratch = {}

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        """Checked as the constructor checks it (callbacks that change it go through here)."""
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
                name: [np.zeros_like(v.data) for v in variables] for name in self.slot_names
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
                self._update(packed["params"], packed["grads"], packed["slots"])
                if self.iterations % _FLUSH_EVERY == 0:
                    self._flush_tiny(packed["slots"])
                return
        for index, variable in enumerate(variables):
            if variable.grad is not None:
                slots = {name: self.slots[name][index] for name in self.slot_names}
                self._update(variable.data, variable.grad, slots)

    def _flush_tiny(self, slots):
        """Set slot values too small to matter to zero. The moments of a weight whose gradient
        stays zero decay geometrically (Adam's m by 0.9 a step), and once they come within a
        factor ~1e7 of the smallest normal float, the update's products are subnormal numbers,
        each many times slower on x86 (in the article's model, where most steps' gradients are
        zero, this made Adam 4x slower). Values under `tiny * 2**24` (2e-31 in float32) are
        dropped every 64 steps, so none decays that far in between; their effect on a weight
        (< 1e-26 per step with Keras's epsilon) is below float32's resolution of any weight that
        is not itself ~0."""
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
        return {"name": self.name, "learning_rate": self.learning_rate}

    @classmethod
    def from_config(cls, config):
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


class SGD(Optimizer):
    """Stochastic gradient descent, Keras's rule.

    momentum == 0:  w = w - lr * g
    otherwise:      m = momentum * m - lr * g
                    w = w + m                       (nesterov=False)
                    w = w + momentum * m - lr * g   (nesterov=True)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name=None):
        super().__init__(learning_rate, name)
        self.momentum = _check_rate("SGD", "momentum", momentum, 0.0, 1.0, inclusive_high=True)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()

    def _update(self, w, g, slots):
        lr = w.dtype.type(self.learning_rate)
        if not self.momentum:
            w -= lr * g
            return
        m = slots["momentum"]
        m *= w.dtype.type(self.momentum)
        m -= lr * g
        if self.nesterov:
            w += w.dtype.type(self.momentum) * m - lr * g
        else:
            w += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam with Keras's epsilon-hat placement (not PyTorch's):

    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g^2
    alpha = lr * sqrt(1 - b2^t) / (1 - b1^t)
    w = w - alpha * m / (sqrt(v) + epsilon)
    """

    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None):
        super().__init__(learning_rate, name)
        self.beta_1 = _check_rate("Adam", "beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _check_rate("Adam", "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _check_rate("Adam", "epsilon", epsilon)
        self._alpha = 0.0

    def _prepare_step(self):
        t = self.iterations
        self._alpha = self.learning_rate * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)

    def _flush_threshold(self, slot_name, dtype):
        # With epsilon > 0, dropping v < (epsilon * 2**-26)**2 leaves sqrt(v) + epsilon exactly
        # unchanged; with epsilon == 0 only subnormals are dropped, as m / sqrt(v) may need them.
        tiny = np.finfo(dtype).tiny
        if self.epsilon == 0:
            return tiny
        if slot_name == "v":
            return max(tiny, min(tiny * _FLUSH_MARGIN, (self.epsilon * 2.0**-26) ** 2))
        return tiny * _FLUSH_MARGIN

    def _update(self, w, g, slots):
        kind = w.dtype.type
        m, v = slots["m"], slots["v"]
        scratch = self._scratch_like(w)
        # m += (g - m) * (1 - b1), v += (g^2 - v) * (1 - b2): Keras's in-place forms
        np.subtract(g, m, out=scratch)
        scratch *= kind(1 - self.beta_1)
        m += scratch
        np.multiply(g, g, out=scratch)
        scratch -= v
        scratch *= kind(1 - self.beta_2)
        v += scratch
        # w -= alpha * m / (sqrt(v) + eps)
        np.sqrt(v, out=scratch)
        scratch += kind(self.epsilon)
        np.divide(m, scratch, out=scratch)
        scratch *= kind(self._alpha)
        w -= scratch

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class RMSprop(Optimizer):
    """RMSprop, Keras's rule (epsilon inside the square root):

    v = rho * v + (1 - rho) * g^2
    centered:  a = rho * a + (1 - rho) * g;  d = v - a^2 + eps   else  d = v + eps
    step = lr * g / sqrt(d)
    momentum:  m = momentum * m + step;  w = w - m        else  w = w - step
    """

    def __init__(
        self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, name=None
    ):
        super().__init__(learning_rate, name)
        self.rho = _check_rate("RMSprop", "rho", rho, 0.0, 1.0)
        self.momentum = _check_rate("RMSprop", "momentum", momentum, 0.0, 1.0, inclusive_high=True)
        self.epsilon = _check_rate("RMSprop", "epsilon", epsilon)
        self.centered = bool(centered)
        self.slot_names = (
            ("velocity",)
            + (("average",) if self.centered else ())
            + (("momentum",) if self.momentum else ())
        )

    def _update(self, w, g, slots):
        kind = w.dtype.type
        rho = kind(self.rho)
        v = slots["velocity"]
        v *= rho
        v += kind(1 - self.rho) * (g * g)
        if self.centered:
            a = slots["average"]
            a *= rho
            a += kind(1 - self.rho) * g
            denominator = v - a * a + kind(self.epsilon)
        else:
            denominator = v + kind(self.epsilon)
        step = kind(self.learning_rate) * g / np.sqrt(denominator)
        if self.momentum:
            m = slots["momentum"]
            m *= kind(self.momentum)
            m += step
            w -= m
        else:
            w -= step

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get(identifier):
    """An optimizer from a name ('adam', case-insensitive), a config dict or an instance.

    >>> get("Adam")
    Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07)
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return lookup("optimizer", identifier["class_name"], _BY_NAME).from_config(
            identifier["config"]
        )
    return lookup("optimizer", identifier, _BY_NAME)()


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}
