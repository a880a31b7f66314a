"""`keras_panns.Index` on a small index with classes of its own: labels and groups map to its classes."""

import pytest

from keras_panns.errors import ArchiveError
from keras_panns.search.index import Index
from keras_panns.testing import REPO

INDEX_V1 = REPO / "tests" / "data" / "index_v1"  # 3 classes: Speech, Dog, Music


def test_a_label_and_a_group_find_the_windows_of_the_index_own_classes():
    archive = Index(INDEX_V1)
    by_label = archive.search(label="Dog", min_score=0.5)
    assert list(by_label.path) == ["a.wav", "a.wav"] and set(by_label.label) == {"Dog"}
    by_group = archive.search(group="Animal", min_score=0.5)  # Dog is an Animal; Speech and Music are not
    assert list(by_group.path) == ["a.wav", "a.wav"]


def test_a_group_with_none_of_the_index_classes_is_named():
    with pytest.raises(ArchiveError, match="no class of the group 'Vehicle' is among this index's 3 classes"):
        Index(INDEX_V1).search(group="Vehicle")
