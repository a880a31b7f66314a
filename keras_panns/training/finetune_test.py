import keras
import numpy as np

import keras_panns
from keras_panns.training.finetune import cross_validate, embed_waveforms, embedding_classifier, make_classifier

TINY = dict(sample_rate=8000, window_size=256, hop_size=80, fmax=4000, mel_bins=32, embedding_size=16)


def test_classifier_freezes_the_base_and_round_trips(tmp_path):
    base = keras_panns.Cnn6(**TINY)
    model = make_classifier(base, 3, freeze_base=True)
    assert len(model.trainable_weights) == 2  # the head's kernel and bias
    x = np.random.RandomState(0).uniform(-0.5, 0.5, (4, 16000)).astype(np.float32)
    before = [np.asarray(w) for w in base.weights]
    model.compile("adam", "categorical_crossentropy")
    model.fit(x, np.eye(3)[[0, 1, 2, 0]], epochs=1, verbose=0)
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(before, base.weights))  # BN stats too
    model.save(tmp_path / "clf.keras")
    loaded = keras.saving.load_model(tmp_path / "clf.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    multi = make_classifier(keras_panns.Cnn6(**TINY), 5, multi_label=True, freeze_base=False)
    assert multi.layers[-1].activation.__name__ == "sigmoid" and len(multi.trainable_weights) > 2


def test_cross_validation_on_separable_embeddings():
    rng = np.random.RandomState(0)
    labels = np.repeat(np.arange(3), 20)
    features = rng.normal(0, 0.3, (60, 8)).astype(np.float32)
    features[np.arange(60), labels] += 2.0
    folds = np.tile(np.arange(1, 6), 12)

    def build():
        model = embedding_classifier(8, 3, dropout=0.0)
        model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
        return model

    scores, mean = cross_validate(build, lambda m, x, y: m.fit(x, y, epochs=30, verbose=0), features, labels, folds)
    assert len(scores) == 5 and mean > 0.9
    base = keras_panns.Cnn6(**TINY)
    assert embed_waveforms(base, np.zeros((3, 16000), np.float32), batch_size=2).shape == (3, 16)
