"""AdamW, Adadelta, Adagrad, Adamax, Nadam, Lion and Ftrl: Keras 3's defaults and update rules,
each elementwise, so one update covers the packed buffer of every weight (`Optimizer.build`).
`t` below is the step number, from 1."""

import math

import numpy as np

from striate.optimizers.base import Optimizer, _check_rate
from striate.optimizers.classic import Adam


class AdamW(Adam):
    """Adam with decoupled weight decay (Keras 3: `weight_decay=0.004` by default, applied as
    `w *= 1 - weight_decay * lr` before the Adam step)."""

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        name=None,
        **options,
    ):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a number. Received: weight_decay=None")
        super().__init__(
            learning_rate,
            beta_1,
            beta_2,
            epsilon,
            amsgrad,
            name,
            weight_decay=weight_decay,
            **options,
        )

    def get_config(self):
        return {**super().get_config(), "weight_decay": self.weight_decay}


class Adadelta(Optimizer):
    """a = rho a + (1 - rho) g^2
    delta = -sqrt(d + eps) g / sqrt(a + eps)
    d = rho d + (1 - rho) delta^2
    w = w + lr delta
    """

    rule_slots = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name=None, **options):
        super().__init__(learning_rate, name, **options)
        self.rho = _check_rate("Adadelta", "rho", rho, 0.0, 1.0, inclusive_high=True)
        self.epsilon = _check_rate("Adadelta", "epsilon", epsilon)

    def _update(self, w, g, slots):
        kind = w.dtype.type
        rho, eps = kind(self.rho), kind(self.epsilon)
        a, d = slots["accumulated_grad"], slots["accumulated_delta_var"]
        a *= rho
        a += kind(1 - self.rho) * (g * g)
        delta = -(np.sqrt(d + eps) * g) / np.sqrt(a + eps)
        d *= rho
        d += kind(1 - self.rho) * (delta * delta)
        w += kind(self._lr) * delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adagrad(Optimizer):
    """a = a + g^2 (a starts at initial_accumulator_value);  w = w - lr g / sqrt(a + eps)"""

    rule_slots = ("accumulator",)

    def __init__(
        self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, name=None, **options
    ):
        super().__init__(learning_rate, name, **options)
        self.initial_accumulator_value = _check_rate(
            "Adagrad", "initial_accumulator_value", initial_accumulator_value
        )
        self.epsilon = _check_rate("Adagrad", "epsilon", epsilon)
        self.slot_initial = {"accumulator": self.initial_accumulator_value}

    def _update(self, w, g, slots):
        kind = w.dtype.type
        a = slots["accumulator"]
        a += g * g
        w -= kind(self._lr) * g / np.sqrt(a + kind(self.epsilon))

    def _flush_tiny(self, slots):
        pass  # the accumulator only grows

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class _Betas(Optimizer):
    def __init__(self, learning_rate, beta_1, beta_2, name, options, epsilon=None):
        super().__init__(learning_rate, name, **options)
        owner = type(self).__name__
        self.beta_1 = _check_rate(owner, "beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _check_rate(owner, "beta_2", beta_2, 0.0, 1.0)
        self.epsilon = None if epsilon is None else _check_rate(owner, "epsilon", epsilon)

    def get_config(self):
        config = {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
        if self.epsilon is not None:
            config["epsilon"] = self.epsilon
        return config


class Adamax(_Betas):
    """m = m + (g - m)(1 - b1);  u = max(b2 u, |g|);  w = w - lr m / ((1 - b1^t)(u + eps))"""

    rule_slots = ("m", "u")

    def __init__(
        self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None, **options
    ):
        super().__init__(learning_rate, beta_1, beta_2, name, options, epsilon)

    def _update(self, w, g, slots):
        kind = w.dtype.type
        m, u = slots["m"], slots["u"]
        m += (g - m) * kind(1 - self.beta_1)
        np.maximum(u * kind(self.beta_2), np.abs(g), out=u)
        correction = kind(1 - self.beta_1**self.iterations)
        w -= kind(self._lr) * m / (correction * (u + kind(self.epsilon)))


class Nadam(_Betas):
    """Adam with Nesterov momentum and Keras's momentum schedule:
    mu_t = b1 (1 - 0.96^t / 2),  P_t = mu_1 ... mu_t
    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    m_hat = mu_{t+1} m / (1 - P_t mu_{t+1}) + (1 - mu_t) g / (1 - P_t)
    w = w - lr m_hat / (sqrt(v / (1 - b2^t)) + eps)
    """

    rule_slots = ("m", "v")

    def __init__(
        self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None, **options
    ):
        super().__init__(learning_rate, beta_1, beta_2, name, options, epsilon)
        self._product = (0, 1.0)  # (t, P_t), kept so a step costs O(1)

    def _mu(self, t):
        return self.beta_1 * (1.0 - 0.5 * 0.96**t)

    def _prepare_step(self):
        t = self.iterations
        done, product = self._product
        if done > t:
            done, product = 0, 1.0
        for step in range(done + 1, t + 1):
            product *= self._mu(step)
        self._product = (t, product)
        mu, mu_next = self._mu(t), self._mu(t + 1)
        self._scalars = (
            mu_next / (1 - product * mu_next),
            (1 - mu) / (1 - product),
            1 - self.beta_2**t,
        )

    def _update(self, w, g, slots):
        kind = w.dtype.type
        m, v = slots["m"], slots["v"]
        m *= kind(self.beta_1)
        m += kind(1 - self.beta_1) * g
        v *= kind(self.beta_2)
        v += kind(1 - self.beta_2) * (g * g)
        on_m, on_g, correction = (kind(x) for x in self._scalars)
        m_hat = m * on_m + g * on_g
        w -= m_hat * kind(self._lr) / (np.sqrt(v / correction) + kind(self.epsilon))


class Lion(_Betas):
    """w = w - lr sign(b1 m + (1 - b1) g);  m = b2 m + (1 - b2) g"""

    rule_slots = ("m",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, name=None, **options):
        super().__init__(learning_rate, beta_1, beta_2, name, options)

    def _update(self, w, g, slots):
        kind = w.dtype.type
        m = slots["m"]
        w -= kind(self._lr) * np.sign(m * kind(self.beta_1) + g * kind(1 - self.beta_1))
        m *= kind(self.beta_2)
        m += g * kind(1 - self.beta_2)


class Ftrl(Optimizer):
    """Follow the regularised leader (Keras 3), with p = learning_rate_power:
    g' = g + 2 l2_shrinkage w;  n' = n + g^2
    z = z + g' - (n'^-p - n^-p) / lr w
    w = (clip(z, -l1, l1) - z) / (n'^-p / lr + 2 (l2 + beta / (2 lr)));  n = n'
    """

    rule_slots = ("accumulator", "linear")

    def __init__(
        self,
        learning_rate=0.001,
        learning_rate_power=-0.5,
        initial_accumulator_value=0.1,
        l1_regularization_strength=0.0,
        l2_regularization_strength=0.0,
        l2_shrinkage_regularization_strength=0.0,
        beta=0.0,
        name=None,
        **options,
    ):
        super().__init__(learning_rate, name, **options)
        if isinstance(learning_rate_power, bool) or not (
            isinstance(learning_rate_power, (int, float)) and -math.inf < learning_rate_power <= 0
        ):
            raise ValueError(
                "Ftrl: learning_rate_power must be a number <= 0. "
                f"Received: learning_rate_power={learning_rate_power!r}"
            )
        self.learning_rate_power = float(learning_rate_power)
        for key, value in (
            ("initial_accumulator_value", initial_accumulator_value),
            ("l1_regularization_strength", l1_regularization_strength),
            ("l2_regularization_strength", l2_regularization_strength),
            ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength),
            ("beta", beta),
        ):
            setattr(self, key, _check_rate("Ftrl", key, value))
        self.slot_initial = {"accumulator": self.initial_accumulator_value}

    def _update(self, w, g, slots):
        kind = w.dtype.type
        n, z = slots["accumulator"], slots["linear"]
        lr, power = kind(self._lr), kind(-self.learning_rate_power)
        l2 = kind(self.l2_regularization_strength + self.beta / (2.0 * self._lr))
        shrunk = g + kind(2 * self.l2_shrinkage_regularization_strength) * w
        new_n = n + g * g
        new_n_power = new_n**power
        z += shrunk - (new_n_power - n**power) / lr * w
        quadratic = new_n_power / lr + kind(2) * l2
        l1 = kind(self.l1_regularization_strength)
        np.divide(np.clip(z, -l1, l1) - z, quadratic, out=w)
        np.copyto(n, new_n)

    def _flush_tiny(self, slots):
        pass  # the accumulator only grows; the linear term is not a decaying moment

    def get_config(self):
        return {
            **super().get_config(),
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }
