"""The tape itself: gradients through a DAG with fan-out, which leaves get a gradient, no_grad,
Variable's trainable flag, what backward frees, and a chain deeper than Python's recursion limit.
Ops here are written with `Tensor.from_op`, as striate's ops are, so only the tape is tested."""

import gc
import sys
import weakref

import numpy as np
import pytest

from striate.tensor import Tensor, Variable, as_tensor, grad_enabled, no_grad


def add(a, b):
    return Tensor.from_op(a.data + b.data, (a, b), lambda g: (g, g), "add")


def mul(a, b):
    return Tensor.from_op(a.data * b.data, (a, b), lambda g: (g * b.data, g * a.data), "mul")


def scale(a, factor):
    return Tensor.from_op(a.data * factor, (a,), lambda g: (g * factor,), "scale")


def leaf(values, requires_grad=True):
    return Tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def test_fan_out_accumulates_gradients():
    # d = (2x + x*x) * 2x = 4x^2 + 2x^3, so dd/dx = 8x + 6x^2; `a` and `x` are used twice.
    x = leaf([0.5, -1.0, 2.0])
    a = scale(x, 2.0)
    c = add(a, mul(x, x))
    d = mul(c, a)
    d.backward()
    np.testing.assert_allclose(x.grad, 8 * x.data + 6 * x.data**2)


def test_a_diamond_sends_both_paths_to_the_shared_input():
    # y = 3x + 5x: both branches start from x and end in one add.
    x = leaf([1.0, 2.0])
    y = add(scale(x, 3.0), scale(x, 5.0))
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [8.0, 80.0])


def test_each_backward_function_runs_once_after_all_its_gradient_arrived():
    calls = []

    def traced(name, parents):
        def backward(g):
            calls.append((name, g.copy()))
            return tuple(g for _ in parents)

        data = sum(p.data for p in parents)
        return Tensor.from_op(data, parents, backward, name)

    x = leaf([1.0])
    a = traced("a", (x,))
    b = traced("b", (a,))
    c = traced("c", (a,))
    top = traced("top", (b, c, a))
    top.backward()
    names = [name for name, _ in calls]
    assert names[0] == "top" and names[-1] == "a" and sorted(names[1:3]) == ["b", "c"]
    assert dict(calls)["a"][0] == 3.0  # from b, c and top directly
    assert x.grad[0] == 3.0


def test_leaves_that_need_no_gradient_get_none():
    x = leaf([1.0, 2.0])
    constant = leaf([3.0, 4.0], requires_grad=False)
    y = mul(add(x, constant), constant)
    y.backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])
    assert constant.grad is None


def test_ops_on_constants_only_are_not_recorded():
    a, b = leaf([1.0], requires_grad=False), leaf([2.0], requires_grad=False)
    y = mul(a, b)
    assert not y.requires_grad
    assert y.parents == ()
    assert y.backward_fn is None


def test_no_grad_records_nothing_and_restores_recording():
    x = leaf([1.0, 2.0])
    assert grad_enabled()
    with no_grad():
        assert not grad_enabled()
        y = mul(x, x)
    assert grad_enabled()
    assert not y.requires_grad
    assert y.parents == () and y.backward_fn is None
    np.testing.assert_array_equal(y.data, [1.0, 4.0])
    with pytest.raises(RuntimeError), no_grad():
        raise RuntimeError("inside")
    assert grad_enabled()
    z = mul(x, x)
    assert z.requires_grad and z.parents == (x, x)


def test_nested_no_grad_blocks():
    with no_grad():
        with no_grad():
            pass
        assert not grad_enabled()
    assert grad_enabled()


def test_variable_trainable_flags():
    w = Variable(np.array([1.0, 2.0]), name="kernel")
    frozen = Variable(np.array([3.0, 4.0]), trainable=False, name="moving_mean")
    assert w.trainable and w.requires_grad
    assert not frozen.trainable and not frozen.requires_grad
    y = mul(w, frozen)
    y.backward()
    np.testing.assert_array_equal(w.grad, [3.0, 4.0])
    assert frozen.grad is None
    assert repr(w) == "Variable(name='kernel', shape=(2,), dtype=float64, trainable=True)"
    assert repr(frozen).endswith("trainable=False)")


def test_only_frozen_variables_record_nothing():
    frozen = Variable(np.array([1.0]), trainable=False)
    y = mul(frozen, frozen)
    assert not y.requires_grad and y.backward_fn is None


def test_backward_frees_intermediate_closures_and_gradients():
    x = leaf(np.ones(8))
    big = np.arange(8.0)
    watch = weakref.ref(big)
    hidden = Tensor.from_op(x.data * big, (x,), lambda g, big=big: (g * big,), "mul_by_big")
    del big
    y = scale(hidden, 2.0)
    gc.collect()
    assert watch() is not None  # the tape keeps it until backward
    y.backward()
    gc.collect()
    assert watch() is None  # backward dropped the closure that held it
    np.testing.assert_array_equal(x.grad, 2 * np.arange(8.0))
    assert hidden.grad is None  # intermediate gradients are not kept
    assert y.grad is None


def test_default_seed_is_ones_of_the_output_shape_and_dtype():
    x = Tensor(np.array([[1.0, 2.0]], dtype=np.float32), requires_grad=True)
    y = scale(x, 3.0)
    y.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [[3.0, 3.0]])


def test_a_chain_deeper_than_the_recursion_limit():
    depth = 5_000
    assert depth > sys.getrecursionlimit()
    x = leaf([1.0, -2.0])
    y = x
    for _ in range(depth):
        y = scale(add(y, leaf([0.0, 0.0], requires_grad=False)), 1.0001)
    y.backward()
    np.testing.assert_allclose(x.grad, [1.0001**depth] * 2, rtol=1e-10)


def test_as_tensor_wraps_arrays_without_copying():
    array = np.zeros(3)
    wrapped = as_tensor(array)
    assert wrapped.data is array and not wrapped.requires_grad
    assert as_tensor(wrapped) is wrapped
    assert "shape=(3,)" in repr(wrapped)
