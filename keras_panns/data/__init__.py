"""AudioSet-style data: packing clips to TFRecord shards and a balanced `tf.data` input for `model.fit`."""

from keras_panns.data.dataset import load_manifest, make_dataset
from keras_panns.data.packing import pack
from keras_panns.data.reader import ClipIndex
from keras_panns.data.sampling import BalancedSampler
from keras_panns.data.sources import Example, audioset_examples, generic_examples, read_segments
from keras_panns.errors import CorruptClip, DataError

__all__ = [
    "BalancedSampler",
    "ClipIndex",
    "CorruptClip",
    "DataError",
    "Example",
    "audioset_examples",
    "generic_examples",
    "load_manifest",
    "make_dataset",
    "pack",
    "read_segments",
]
