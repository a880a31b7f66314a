"""PANNs' balanced sampling, over example indices (the audio stays on disk)."""

import numpy as np


class BalancedSampler:
    """Endless example indices with every class equally often, as PANNs' `BalancedTrainSampler`.

    Classes are visited in a random order, one example each, and the order is
    reshuffled after every pass, so every aligned run of C draws (C = classes
    with at least one example) covers all C classes. Within a class, examples
    come in a shuffled cycle. Only indices are held: about 4 bytes per label
    (20 MB for AudioSet's 1.9 M clips).

    Args:
        labels: list of int sequences, the classes of each example.
        num_classes: int.
        seed: int. The sequence is a pure function of the seed.

    Example:
    ```python
    sampler = BalancedSampler([[0], [1, 2], [2]], num_classes=3, seed=0)
    [next(sampler) for _ in range(6)]   # every class twice
    ```
    """

    def __init__(self, labels, num_classes, seed=0, *, members=None):
        self._rng = np.random.RandomState(seed)
        if members is None:
            members = [[] for _ in range(num_classes)]
            for i, example_labels in enumerate(labels):
                for c in example_labels:
                    members[c].append(i)
        self._members = [np.asarray(m, np.int64) for m in members]
        self.classes = np.asarray([c for c in range(num_classes) if len(self._members[c])], np.int64)
        if not len(self.classes):
            raise ValueError("no example has a label: nothing to balance")
        for c in self.classes:
            self._rng.shuffle(self._members[c])
        self._pointers = np.zeros(num_classes, np.int64)
        self._queue = []

    @classmethod
    def from_flat_labels(cls, values, splits, num_classes, seed=0):
        """The same sampler from flat labels: example i holds `values[splits[i]:splits[i + 1]]`.

        Vectorised (a stable sort instead of a Python loop over 5 M labels for AudioSet).

        Args:
            values: int array, every example's class indices, concatenated.
            splits: int array `(num_examples + 1,)`, where each example's labels start.
            num_classes: int.
            seed: int. Seed of the sampling order.

        Returns:
            `BalancedSampler`.

        Example:
        ```python
        sampler = BalancedSampler.from_flat_labels([0, 2, 1], [0, 2, 3], num_classes=3)  # 2 examples
        ```
        """
        values = np.asarray(values, np.int64)
        examples = np.repeat(np.arange(len(splits) - 1), np.diff(splits))
        order = np.argsort(values, kind="stable")
        counts = np.bincount(values, minlength=num_classes)
        return cls(None, num_classes, seed, members=np.split(examples[order], np.cumsum(counts)[:-1]))

    def __iter__(self):
        return self

    def __next__(self):
        if not self._queue:
            order = self.classes.copy()
            self._rng.shuffle(order)
            self._queue = list(order[::-1])  # pop() from the end is O(1)
        c = self._queue.pop()
        members = self._members[c]
        index = members[self._pointers[c]]
        self._pointers[c] += 1
        if self._pointers[c] >= len(members):
            self._pointers[c] = 0
            self._rng.shuffle(members)
        return int(index)
