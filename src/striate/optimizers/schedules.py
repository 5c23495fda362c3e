"""Learning-rate schedules with Keras 3's names, arguments and formulas (`keras.optimizers.
schedules`). A schedule passed as an optimizer's `learning_rate` is evaluated at the
optimizer's `iterations` before each step (0 for the first), and is saved with the optimizer's
config (`serialize` / `get`), so a saved model resumes on the same curve.

Values are computed in float64 (Keras computes them in float32: they agree within float32's
rounding).
"""

import math

from striate._registry import lookup


def _number(owner, name, value, positive=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{owner}: {name} must be a finite number. Received: {name}={value!r}")
    if positive and value <= 0:
        raise ValueError(f"{owner}: {name} must be > 0. Received: {name}={value!r}")
    return value


class LearningRateSchedule:
    """Base: `schedule(step)` is the learning rate at `step` (a Python float)."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must define __call__(step).")

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} must define get_config().")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"

    def __eq__(self, other):
        return type(other) is type(self) and other.get_config() == self.get_config()

    __hash__ = object.__hash__


class ExponentialDecay(LearningRateSchedule):
    """`initial_learning_rate * decay_rate ** (step / decay_steps)` (floored with staircase)."""

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase=False,
        name="ExponentialDecay",
    ):
        owner = type(self).__name__
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _number(owner, "decay_steps", decay_steps, positive=True)
        self.decay_rate = _number(owner, "decay_rate", decay_rate)
        self.staircase, self.name = bool(staircase), name

    def _p(self, step):
        p = float(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._p(step)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class InverseTimeDecay(ExponentialDecay):
    """`initial_learning_rate / (1 + decay_rate * step / decay_steps)` (floored: staircase)."""

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase=False,
        name="InverseTimeDecay",
    ):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._p(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """`values[0]` up to and including `boundaries[0]`, `values[i]` for `boundaries[i-1] <
    step <= boundaries[i]`, `values[-1]` after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        owner = type(self).__name__
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                f"{owner}: boundaries must have one element fewer than values. Received: "
                f"boundaries={boundaries} ({len(boundaries)}), values={values} ({len(values)})"
            )
        for name_, items in (("boundaries", boundaries), ("values", values)):
            for item in items:
                _number(owner, name_, item)
        for low, high in zip(boundaries, boundaries[1:]):
            if not low < high:
                raise ValueError(
                    f"{owner}: boundaries must be strictly increasing; {low} is followed by "
                    f"{high}. Received: boundaries={boundaries}"
                )
        self.boundaries, self.values, self.name = boundaries, values, name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return float(value)
        return float(self.values[-1])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """`(initial - end) * (1 - step / decay_steps) ** power + end`, with step capped at
    decay_steps, or (cycle) decay_steps stretched to the next multiple past step."""

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        end_learning_rate=0.0001,
        power=1.0,
        cycle=False,
        name="PolynomialDecay",
    ):
        owner = type(self).__name__
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _number(owner, "decay_steps", decay_steps, positive=True)
        self.end_learning_rate = _number(owner, "end_learning_rate", end_learning_rate)
        self.power = _number(owner, "power", power)
        self.cycle, self.name = bool(cycle), name

    def __call__(self, step):
        step, steps = float(step), float(self.decay_steps)
        if self.cycle:
            steps *= 1.0 if step == 0 else math.ceil(step / self.decay_steps)
        else:
            step = min(step, steps)
        fraction = 1 - step / steps
        start, end = self.initial_learning_rate, self.end_learning_rate
        return (start - end) * fraction**self.power + end

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup from `initial_learning_rate` to `warmup_target` over
    `warmup_steps`, then `lr0 * ((1 - alpha) * (1 + cos(pi * s / decay_steps)) / 2 + alpha)`
    with `lr0` the warmup target (or the initial rate) and `s` capped at decay_steps."""

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        alpha=0.0,
        name="CosineDecay",
        warmup_target=None,
        warmup_steps=0,
    ):
        owner = type(self).__name__
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _number(owner, "decay_steps", decay_steps, positive=True)
        self.alpha = _number(owner, "alpha", alpha)
        if warmup_target is not None:
            _number(owner, "warmup_target", warmup_target)
        if _number(owner, "warmup_steps", warmup_steps) < 0:
            raise ValueError(f"{owner}: warmup_steps must be >= 0. Received: {warmup_steps=}")
        self.name, self.warmup_target, self.warmup_steps = name, warmup_target, warmup_steps

    def _decay(self, step, start):
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return start * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step = float(step)
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return delta * (step / self.warmup_steps) + self.initial_learning_rate
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): periods of `first_decay_steps * t_mul ** i`
    steps, each starting at `initial_learning_rate * m_mul ** i`."""

    def __init__(
        self,
        initial_learning_rate,
        first_decay_steps,
        t_mul=2.0,
        m_mul=1.0,
        alpha=0.0,
        name="SGDRDecay",
    ):
        owner = type(self).__name__
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate)
        self.first_decay_steps = _number(owner, "first_decay_steps", first_decay_steps, True)
        self.t_mul = _number(owner, "t_mul", t_mul, positive=True)
        self.m_mul = _number(owner, "m_mul", m_mul)
        self.alpha = _number(owner, "alpha", alpha)
        self.name = name

    def __call__(self, step):
        fraction = float(step) / self.first_decay_steps
        t_mul = self.t_mul
        if t_mul == 1.0:
            restart = math.floor(fraction)
            fraction -= restart
        else:
            restart = math.floor(math.log(1.0 - fraction * (1.0 - t_mul)) / math.log(t_mul))
            done = (1.0 - t_mul**restart) / (1.0 - t_mul)
            fraction = (fraction - done) / t_mul**restart
        cosine = 0.5 * self.m_mul**restart * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_CLASSES = (
    ExponentialDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
    InverseTimeDecay,
    CosineDecay,
    CosineDecayRestarts,
)
_BY_NAME = {cls.__name__.lower(): cls for cls in _CLASSES}


def serialize(schedule):
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def get(identifier):
    """A schedule from `serialize`'s dict (by registered class name only) or an instance."""
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    if not isinstance(identifier, dict) or not isinstance(identifier.get("config"), dict):
        raise TypeError(
            "Expected a learning-rate schedule or {'class_name', 'config'}. "
            f"Received: {identifier!r}"
        )
    cls = lookup("learning-rate schedule", identifier.get("class_name"), _BY_NAME)
    return cls.from_config(identifier["config"])
