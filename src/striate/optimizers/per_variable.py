"""Lamb and Adafactor: Keras 3's rules, which need norms or means over each variable, so they
update one variable at a time (`per_variable`; the slots still live in the packed buffers).
`t` is the step number, from 1."""

import math

import numpy as np

from striate.optimizers.base import Optimizer, _check_rate
from striate.optimizers.schedules import LearningRateSchedule


class Lamb(Optimizer):
    """Adam's moments, rescaled per variable by the trust ratio:
    m = m + (g - m)(1 - b1);  v = v + (g^2 - v)(1 - b2)
    u = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    r = |w| / |u| (1 where either norm is 0);  w = w - r lr u
    """

    rule_slots = ("m", "v")
    per_variable = True

    def __init__(
        self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None, **options
    ):
        super().__init__(learning_rate, name, **options)
        self.beta_1 = _check_rate("Lamb", "beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _check_rate("Lamb", "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _check_rate("Lamb", "epsilon", epsilon)

    def _update(self, w, g, slots):
        kind = w.dtype.type
        t = self.iterations
        m, v = slots["m"], slots["v"]
        m += (g - m) * kind(1 - self.beta_1)
        v += (g * g - v) * kind(1 - self.beta_2)
        m_hat = m / kind(1 - self.beta_1**t)
        update = m_hat / (np.sqrt(v / kind(1 - self.beta_2**t)) + kind(self.epsilon))
        w_norm = math.sqrt(float(np.vdot(w, w)))
        u_norm = math.sqrt(float(np.vdot(update, update)))
        ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
        w -= kind(ratio * self._lr) * update

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


def _rms(x):
    return math.sqrt(float(np.vdot(x, x)) / x.size) if x.size else 0.0


class Adafactor(Optimizer):
    """Adafactor (Keras 3), with `g2 = g^2 + epsilon_1` and `b = 1 - t^beta_2_decay`:
    lr = min(lr, 1 / sqrt(t)) when relative_step (and lr is not a schedule)
    alpha = max(epsilon_2, rms(w)) min(lr, 1 / sqrt(t))
    rank >= 2:  r = b r + (1 - b) mean(g2, -1);  c = b c + (1 - b) mean(g2, -2)
                v = (r / mean(r, -1))[..., None] c[..., None, :]
    else:       v = b v + (1 - b) g2
    u = g / sqrt(v);  w = w - alpha u / max(1, rms(u) / clip_threshold)

    The factored moments r and c are kept broadcast to the variable's shape (each column of
    'r' holds r, each row of 'c' holds c), so every slot has the layout of the weights.
    """

    rule_slots = ("r", "c", "v")
    per_variable = True

    def __init__(
        self,
        learning_rate=0.001,
        beta_2_decay=-0.8,
        epsilon_1=1e-30,
        epsilon_2=1e-3,
        clip_threshold=1.0,
        relative_step=True,
        name=None,
        **options,
    ):
        super().__init__(learning_rate, name, **options)
        if isinstance(beta_2_decay, bool) or not isinstance(beta_2_decay, (int, float)):
            raise TypeError(f"Adafactor: beta_2_decay must be a number. Received: {beta_2_decay=}")
        self.beta_2_decay = float(beta_2_decay)
        self.epsilon_1 = _check_rate("Adafactor", "epsilon_1", epsilon_1)
        self.epsilon_2 = _check_rate("Adafactor", "epsilon_2", epsilon_2)
        self.clip_threshold = _check_rate("Adafactor", "clip_threshold", clip_threshold)
        self.relative_step = bool(relative_step)

    def _flush_tiny(self, slots):
        pass  # epsilon_1 (1e-30) keeps the second moments above any flush threshold

    def _update(self, w, g, slots):
        kind = w.dtype.type
        t = float(self.iterations)
        lr = self._lr
        if self.relative_step and not isinstance(self._learning_rate, LearningRateSchedule):
            lr = min(lr, 1 / math.sqrt(t))
        alpha = max(self.epsilon_2, _rms(w)) * min(lr, 1 / math.sqrt(t))
        g2 = g * g + kind(self.epsilon_1)
        beta = kind(1 - t**self.beta_2_decay)
        v = slots["v"]
        if w.ndim >= 2:
            r, c = slots["r"], slots["c"]
            r_new = beta * r[..., :1] + (1 - beta) * g2.mean(axis=-1, keepdims=True)
            c_new = beta * c[..., :1, :] + (1 - beta) * g2.mean(axis=-2, keepdims=True)
            r[...], c[...] = r_new, c_new
            np.multiply(r_new / r_new.mean(axis=-2, keepdims=True), c_new, out=v)
        else:
            v *= beta
            v += (1 - beta) * g2
        u = g / np.sqrt(v)
        w -= kind(alpha) * u / kind(max(1.0, _rms(u) / self.clip_threshold))

    def get_config(self):
        return {
            **super().get_config(),
            "beta_2_decay": self.beta_2_decay,
            "epsilon_1": self.epsilon_1,
            "epsilon_2": self.epsilon_2,
            "clip_threshold": self.clip_threshold,
            "relative_step": self.relative_step,
        }
