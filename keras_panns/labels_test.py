import json

import numpy as np
import pytest

from keras_panns import labels
from keras_panns.errors import UnknownLabelError


def test_every_output_class_is_in_the_shipped_ontology():
    nodes = labels.ontology()
    assert len(nodes) == 632
    assert all(mid in nodes for mid in labels.audioset_mids())
    assert [nodes[mid]["name"] for mid in labels.audioset_mids()][:3] == labels.audioset_labels()[:3]


def test_shipped_ontology_equals_the_published_one(shared_data):
    published = json.loads((shared_data / "audioset" / "ontology.json").read_text())
    for node in published:
        shipped = labels.ontology()[node["id"]]
        assert shipped == {k: node[k] for k in ("id", "name", "description", "child_ids", "restrictions")}


def test_descendants_and_ancestors_by_name_or_mid():
    assert labels.find_class("vehicle") == labels.find_class("/m/07yv9") == "/m/07yv9"
    below = labels.descendants("Vehicle")
    assert below[0] == "Vehicle" and "Car" in below and "Sailboat, sailing ship" in below and "Dog" not in below
    assert "Vehicle" not in labels.descendants("Vehicle", include_self=False)
    assert labels.ancestors("Car")[:2] == ["Motor vehicle (road)", "Vehicle"]
    assert "Music" in labels.ancestors("Guitar")


def test_group_indices_and_scores():
    names = labels.audioset_labels()
    vehicle = labels.group_indices("Vehicle")
    assert names.index("Car") in vehicle and names.index("Vehicle") in vehicle and names.index("Speech") not in vehicle
    scores = np.random.RandomState(0).uniform(size=(3, 527)).astype(np.float32)
    groups = labels.group_scores(scores, ["Vehicle", "Music"])
    np.testing.assert_array_equal(groups["Vehicle"], scores[:, vehicle].max(axis=1))
    assert labels.group_union(["Vehicle", "Car"]) == vehicle


def test_unknown_names_suggest_close_ones():
    with pytest.raises(UnknownLabelError, match="did you mean 'Vehicle'"):
        labels.group_indices("Vehicel")
