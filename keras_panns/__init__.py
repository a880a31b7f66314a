"""keras-panns: the PANNs audio tagging models (Kong et al., 2020) for Keras 3.

Example:
```python
import keras_panns
model = keras_panns.Cnn14.from_pretrained()
print(keras_panns.tag(model, "speech.wav", top_k=5))
```
"""

from keras_panns import layers
from keras_panns.errors import (AudioError, CheckpointError, ChecksumError, DownloadError, PANNsError,
                                UnknownModelError, UnsafeCheckpointError)
from keras_panns.labels import audioset_labels
from keras_panns.models import ARCHITECTURES, Cnn6, Cnn10, Cnn14, PANNsModel, get_architecture

__version__ = "0.1.0"


def from_pretrained(source, **kwargs):
    """Loads any PANNs model with pretrained weights; see `PANNsModel.from_pretrained`.

    Example:
    ```python
    model = keras_panns.from_pretrained("cnn14_16k")
    ```
    """
    return PANNsModel.from_pretrained(source, **kwargs)
