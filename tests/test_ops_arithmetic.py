"""Keras's `ops` for custom layers (striate.ops.arithmetic) and the Tensor operators: values
against NumPy and Keras 3, gradients by float64 finite differences (broadcasting included)."""

import numpy as np
import pytest
from gradcheck import check_gradients

import striate
from striate import ops
from striate.tensor import Tensor

rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4))
ROW = rng.standard_normal((4,))
COLUMN = rng.standard_normal((3, 1))
POSITIVE = rng.random((3, 4)) + 0.5


@pytest.mark.parametrize(
    ("fn", "arrays"),
    [
        (lambda a, b: a + b, [A, ROW]),
        (lambda a, b: a - b, [A, COLUMN]),
        (lambda a, b: a * b, [A, ROW]),
        (lambda a, b: a / b, [A, POSITIVE]),
        (lambda a, b: a**b, [POSITIVE, ROW]),
        (lambda a: a**2 - 3 * a + 1, [A]),
        (lambda a: 2 / a, [POSITIVE]),
        (lambda a, b: a @ b, [A, rng.standard_normal((4, 5))]),
        (lambda a, b: a @ b, [rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 2))]),
        (lambda a, b: a @ b, [A, ROW]),
        (lambda a, b: ops.maximum(a, b), [A, ROW]),
        (lambda a, b: ops.minimum(a, b), [A, COLUMN]),
        (lambda a: -a[1:, ::2], [A]),
        (lambda a: a[np.array([0, 0, 2])], [A]),
        (lambda a: ops.sum(a, axis=1, keepdims=True), [A]),
        (lambda a: ops.mean(a, axis=(0, 1)), [A]),
        (lambda a: ops.max(a, axis=0), [A]),
        (lambda a: ops.transpose(a) @ a, [A]),
        (lambda a: ops.reshape(a, (2, 6)), [A]),
        (lambda a: ops.squeeze(ops.expand_dims(a, 1), 1), [A]),
        (lambda a, b: ops.concatenate([a, b], axis=1), [A, COLUMN]),
        (lambda a: ops.sqrt(a) + ops.log(a) + ops.exp(a) + ops.square(a), [POSITIVE]),
        (lambda a: ops.abs(a) + ops.clip(a, -0.5, 0.5), [A]),
        (lambda a: ops.relu(a) + ops.sigmoid(a) + ops.softmax(a), [A]),
    ],
)
def test_gradients_match_finite_differences(fn, arrays):
    check_gradients(fn, arrays)


def test_values_match_numpy_and_keep_the_tensors_float_type():
    x = Tensor(A.astype(np.float32))
    np.testing.assert_array_equal((x * 2 + 1).data, A.astype(np.float32) * 2 + 1)
    assert (x * 2 + 1).dtype == np.float32  # a Python number takes the tensor's float type
    assert (1 - x).dtype == np.float32
    np.testing.assert_array_equal((np.ones(4, np.float32) + x).data, 1 + A.astype(np.float32))
    np.testing.assert_array_equal(ops.max(x, axis=1).data, A.astype(np.float32).max(axis=1))
    np.testing.assert_array_equal(x[0].data, A.astype(np.float32)[0])


def test_a_custom_layer_written_with_keras_ops_trains_and_counts_its_weights():
    class Linear(striate.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units))
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    model = striate.Sequential([striate.Input((4,)), Linear(3), striate.layers.Softmax()])
    assert model.count_params() == 15 and model.output_shape == (None, 3)
    model.compile(optimizer=striate.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0)
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before * 0.6


@pytest.mark.slow  # imports Keras
def test_values_match_keras_ops():
    keras = pytest.importorskip("keras")
    kops = keras.ops
    x, r = A.astype(np.float32), ROW.astype(np.float32)
    for ours, theirs in [
        (ops.add(x, r), kops.add(x, r)),
        (ops.divide(x, POSITIVE), kops.divide(x, POSITIVE)),
        (ops.power(POSITIVE, r), kops.power(POSITIVE, r)),
        (ops.matmul(x, x.T), kops.matmul(x, x.T)),
        (ops.mean(x, axis=0, keepdims=True), kops.mean(x, axis=0, keepdims=True)),
        (ops.max(x, axis=-1), kops.max(x, axis=-1)),
        (ops.transpose(x), kops.transpose(x)),
        (ops.clip(x, -0.5, 0.5), kops.clip(x, -0.5, 0.5)),
        (ops.softmax(Tensor(x)), kops.softmax(x)),
    ]:
        np.testing.assert_allclose(ours.data, kops.convert_to_numpy(theirs), rtol=1e-6, atol=1e-7)
