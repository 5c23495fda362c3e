"""SGD, Adam (with amsgrad) and RMSprop: Keras 3's defaults and update rules."""

import math

import numpy as np

from striate.optimizers.base import _FLUSH_MARGIN, Optimizer, _check_rate


class SGD(Optimizer):
    """Stochastic gradient descent, Keras's rule.

    momentum == 0:  w = w - lr * g
    otherwise:      m = momentum * m - lr * g
                    w = w + m                       (nesterov=False)
                    w = w + momentum * m - lr * g   (nesterov=True)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name=None, **options):
        super().__init__(learning_rate, name, **options)
        self.momentum = _check_rate("SGD", "momentum", momentum, 0.0, 1.0, inclusive_high=True)
        self.nesterov = bool(nesterov)
        self.rule_slots = ("momentum",) if self.momentum else ()

    def _update(self, w, g, slots):
        lr = w.dtype.type(self._lr)
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

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        name=None,
        **options,
    ):
        super().__init__(learning_rate, name, **options)
        owner = type(self).__name__
        self.beta_1 = _check_rate(owner, "beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _check_rate(owner, "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _check_rate(owner, "epsilon", epsilon)
        self.amsgrad = bool(amsgrad)
        self.rule_slots = ("m", "v", "v_hat") if self.amsgrad else ("m", "v")
        self._alpha = 0.0

    def _prepare_step(self):
        t = self.iterations
        self._alpha = self._lr * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)

    def _flush_threshold(self, slot_name, dtype):
        # With epsilon > 0, dropping v < (epsilon * 2**-26)**2 leaves sqrt(v) + epsilon exactly
        # unchanged; with epsilon == 0 only subnormals are dropped, as m / sqrt(v) may need them.
        tiny = np.finfo(dtype).tiny
        if self.epsilon == 0:
            return tiny
        if slot_name in ("v", "v_hat"):
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
        if self.amsgrad:  # v_hat = max(v_hat, v), used in place of v
            v = np.maximum(slots["v_hat"], v, out=slots["v_hat"])
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
            **({"amsgrad": True} if self.amsgrad else {}),
        }


class RMSprop(Optimizer):
    """RMSprop, Keras's rule (epsilon inside the square root):

    v = rho * v + (1 - rho) * g^2
    centered:  a = rho * a + (1 - rho) * g;  d = v - a^2 + eps   else  d = v + eps
    step = lr * g / sqrt(d)
    momentum:  m = momentum * m + step;  w = w - m        else  w = w - step
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        name=None,
        **options,
    ):
        super().__init__(learning_rate, name, **options)
        self.rho = _check_rate("RMSprop", "rho", rho, 0.0, 1.0)
        self.momentum = _check_rate("RMSprop", "momentum", momentum, 0.0, 1.0, inclusive_high=True)
        self.epsilon = _check_rate("RMSprop", "epsilon", epsilon)
        self.centered = bool(centered)
        self.rule_slots = (
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
        step = kind(self._lr) * g / np.sqrt(denominator)
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
