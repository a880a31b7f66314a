"""Every workaround keras_panns needs for Keras internals or Keras bugs, in one module.

Each function names the Keras version it was written against, the bug or the
missing public API, and the test in `keras_panns/training/keras_compat_test.py` (or, for the
multi-worker one, `tests/test_distributed.py`) that fails
once Keras no longer needs it (then delete the workaround and its test).
Nothing else in keras_panns touches a private Keras attribute.
"""

#: The Keras release these workarounds were written and checked against.
CHECKED_WITH = "3.15.1"


def rerun_graph(model, inputs, call_fn):
    """Runs `model`'s functional graph on new `inputs`, calling every layer through `call_fn(layer, *args)`.

    Why: Keras 3.15 has no public way to re-run a functional graph with the
    same layer objects (shared weights) while adding an input of its own:
    `keras.models.clone_model(clone_function=lambda layer: layer,
    call_function=...)` builds a `Functional(model inputs -> outputs)` and
    raises "graph disconnected" for an output that depends on an extra input
    (feature mixup's `mixup_lambda`). `Functional._run_through_graph` is what
    `clone_model` calls inside. Test: `test_clone_model_still_cannot_add_an_input`.
    """
    return model._run_through_graph(inputs, operation_fn=lambda layer: layer, call_fn=call_fn)  # noqa: SLF001


def scalar_safe_reduce(strategy):
    """Makes `strategy.reduce(op, scalar, axis=0)` reduce the scalar across replicas instead of failing.

    Why: under `tf.distribute.MultiWorkerMirroredStrategy` with several
    workers, Keras 3.15's `reduce_per_replica` calls `strategy.reduce("MEAN",
    loss, axis=0)` on the per-replica loss, a scalar, and TensorFlow raises
    "Invalid reduction dimension 0 for input with 0 dimensions". A scalar has
    no axis; the cross-replica mean is what is meant. Test:
    `test_multi_worker_fit_still_needs_the_workarounds`.
    """
    reduce = strategy.reduce

    def reduce_scalars_whole(reduce_op, value, axis=None):
        first = strategy.experimental_local_results(value)[0]
        if axis is not None and getattr(first, "shape", None) is not None and first.shape.rank == 0:
            axis = None
        return reduce(reduce_op, value, axis=axis)

    strategy.reduce = reduce_scalars_whole
    return strategy


def build_train_state_from_shapes(model, strategy, batch):
    """Builds `model`'s train step state from a batch of zeros before `fit`, and stops `fit` rebuilding it.

    Why: under several-worker `MultiWorkerMirroredStrategy`, Keras 3.15's
    `fit` builds the optimizer and metric state by all-reducing a first data
    batch through `Trainer._symbolic_build`, which fails ("Attempt to convert
    a value (PerReplica ...) with an unsupported type") and would also consume
    a batch of the stream. Calling `_symbolic_build` on a batch of zeros under
    the strategy's scope and turning `_maybe_symbolic_build` into a no-op
    avoids both. Test: `test_multi_worker_fit_still_needs_the_workarounds`.

    Args:
        model: a compiled Keras model.
        strategy: the `tf.distribute` strategy it was built under.
        batch: `(inputs, targets)` of zeros with one replica's batch shapes.
    """
    with strategy.scope():
        model._symbolic_build(data_batch=batch)  # noqa: SLF001
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None  # noqa: SLF001
