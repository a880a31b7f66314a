import keras
import pytest

from keras_panns.errors import UnknownModelError
from keras_panns.hub import registry
from keras_panns.models import Cnn14, PANNsModel


def test_names_resolve_case_insensitively_to_the_classes_keras_holds():
    assert registry.get_architecture("cnn14") is Cnn14
    assert keras.saving.get_registered_object("keras_panns>Cnn14") is registry.ARCHITECTURES["Cnn14"]
    assert "PANNsModel" not in registry.ARCHITECTURES  # the base class is no architecture of its own
    with pytest.raises(UnknownModelError, match="Known: Cnn10, Cnn14"):
        registry.get_architecture("Cnn15")


def test_a_subclass_of_an_architecture_counts_and_the_base_class_does_not():
    class Wider(Cnn14):
        pass

    assert registry.is_architecture(Wider) and registry.is_architecture(Cnn14)
    assert not registry.is_architecture(PANNsModel) and not registry.is_architecture(keras.Model)
    assert not registry.is_architecture("Cnn14")


def test_the_architectures_read_from_the_source_are_those_registered():
    from keras_panns.hub import zoo

    assert zoo.built_architectures() == set(registry.ARCHITECTURES)
