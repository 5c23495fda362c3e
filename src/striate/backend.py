"""Global numeric settings: the float type, the fuzz factor, the cross-entropy rule and the
random generator; and one process setting, `keep_freed_memory`, that `fit`, `evaluate` and
`predict` apply.

Everything that makes random numbers (initializers, dropout, shuffling) draws from `rng()`,
so `striate.utils.set_random_seed(n)` makes two runs identical.
"""

import ctypes
import os
import sys

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7
_RNG = np.random.default_rng()
_CROSSENTROPY_RULES = ("logits", "keras3")


def _crossentropy_from_environment():
    value = os.environ.get("STRIATE_CROSSENTROPY", "").strip()
    if not value:
        return "logits"
    if value.lower() not in _CROSSENTROPY_RULES:
        raise ValueError(
            f"The environment variable STRIATE_CROSSENTROPY must be 'logits' or 'keras3' (or "
            f"unset, for 'logits'). Received: STRIATE_CROSSENTROPY={value!r}"
        )
    return value.lower()


_CROSSENTROPY = _crossentropy_from_environment()


def floatx():
    """The default float type name, 'float32' unless changed.

    >>> floatx()
    'float32'
    """
    return _FLOATX


def set_floatx(value):
    """Set the default float type: 'float32' (default) or 'float64' (for gradient checks)."""
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(f"set_floatx: expected 'float32' or 'float64'. Received: value={value!r}")
    _FLOATX = value


def epsilon():
    """The fuzz factor Keras uses in losses and optimizers (1e-7)."""
    return _EPSILON


def set_epsilon(value):
    """Set the fuzz factor the losses, metrics and constraints read (Keras's; default 1e-7)."""
    global _EPSILON
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"set_epsilon: expected a number in (0, 1). Received: value={value!r}")
    _EPSILON = float(value)


def is_keras_tensor(x):
    """True for the symbolic tensors of the Functional API (what `Input` and layers called on
    them return), as Keras's `backend.is_keras_tensor`."""
    from striate.layers.symbolic import SymbolicTensor

    return isinstance(x, SymbolicTensor)


def crossentropy_rule():
    """How a cross-entropy after a softmax (or a binary cross-entropy after a sigmoid) is
    computed when a model is trained or evaluated: 'logits' (default) or 'keras3'.

    - 'logits' (tf.keras 2's rule, and PyTorch's): from the activation's input, exactly
      (log-sum-exp), so every sample has a gradient, `p - onehot`, however saturated.
    - 'keras3': Keras 3's, from the probabilities clipped to [1e-7, 1 - 1e-7], with no
      gradient where the clip bites: for bit-level parity with Keras 3.

    The default comes from the environment variable `STRIATE_CROSSENTROPY` if set, read at
    import; `set_crossentropy` changes it. The rules live in `striate.ops.losses`.

    >>> crossentropy_rule() in ("logits", "keras3")
    True
    """
    return _CROSSENTROPY


def set_crossentropy(rule):
    """Choose the cross-entropy rule (see `crossentropy_rule`): 'logits' or 'keras3'."""
    global _CROSSENTROPY
    if not isinstance(rule, str) or rule not in _CROSSENTROPY_RULES:
        raise ValueError(
            f"set_crossentropy: the rule must be 'logits' or 'keras3'. Received: rule={rule!r}"
        )
    _CROSSENTROPY = rule


def rng():
    """The shared NumPy random generator."""
    return _RNG


def set_seed(seed):
    """Reseed the shared generator (see `striate.utils.set_random_seed`)."""
    global _RNG
    _RNG = np.random.default_rng(seed)


_MALLOC_TUNED = None
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory():
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it to the OS.

    By default glibc serves every block over 128 KiB to 32 MiB with a fresh `mmap` and unmaps it
    on free (or trims the heap), so a training step that makes and drops the same large arrays
    every time pays page faults to get that memory back each step: a third of a convnet step on
    a 2-core machine. With a 1 GiB trim threshold and a 32 MiB mmap threshold, freed blocks stay
    in the heap and the next step reuses them; memory in use is unchanged. Process-wide, applied
    once; a no-op (returning False) where glibc is not the C library. Returns True if applied.

    >>> keep_freed_memory() in (True, False)
    True
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED is None:
        _MALLOC_TUNED = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None)
                mallopt = libc.mallopt  # glibc only (musl has no mallopt)
                libc.gnu_get_libc_version  # noqa: B018 - raises AttributeError if not glibc
            except (OSError, AttributeError):
                return False
            _MALLOC_TUNED = bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30)) and bool(
                mallopt(_M_MMAP_THRESHOLD, 32 << 20)
            )
    return _MALLOC_TUNED


# -- Keras's backend namespace: image layout, object names, sessions ----------------------------
_NAME_UIDS = {}


def image_data_format():
    """The image layout: always 'channels_last' (NHWC), the only one striate runs.

    >>> image_data_format()
    'channels_last'
    """
    return "channels_last"


def set_image_data_format(data_format):
    """Accept 'channels_last' (a no-op); refuse 'channels_first' with the reason.

    >>> set_image_data_format("channels_last")
    """
    if data_format == "channels_last":
        return
    if data_format == "channels_first":
        raise ValueError(
            "set_image_data_format: striate runs images channels_last only (batch, height, "
            "width, channels); transpose channels_first data with "
            "np.transpose(x, (0, 2, 3, 1)). Received: data_format='channels_first'"
        )
    raise ValueError(
        "set_image_data_format: data_format must be 'channels_last' (or Keras's "
        f"'channels_first', which striate does not run). Received: data_format={data_format!r}"
    )


def get_uid(prefix=""):
    """1 the first time `prefix` is asked for, then 2, 3...: what default names count with
    (`dense`, `dense_1`...), as Keras's `backend.get_uid`.

    >>> clear_session(free_memory=False); get_uid("x"), get_uid("x")
    (1, 2)
    """
    _NAME_UIDS[prefix] = _NAME_UIDS.get(prefix, 0) + 1
    return _NAME_UIDS[prefix]


def clear_session(free_memory=True):
    """Forget the default-name counters, so new layers are named `conv2d`, `dense`... again
    (as `keras.backend.clear_session`); with `free_memory`, also run the garbage collector.

    >>> clear_session(); get_uid("dense")
    1
    """
    _NAME_UIDS.clear()
    if free_memory:
        import gc

        gc.collect()
