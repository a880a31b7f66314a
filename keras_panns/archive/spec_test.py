"""The job description: one spec for the API, the CLI, the fingerprint and both "same settings" checks."""

import dataclasses

import pytest

from keras_panns.archive import spec as job
from keras_panns.archive.store import FINGERPRINT_KEYS, manifest_differences
from keras_panns.errors import ArchiveError


def test_the_fingerprint_is_the_model_the_spec_and_the_runtime():
    assert set(FINGERPRINT_KEYS) == set(job.MODEL_KEYS) | set(job.SPEC_KEYS) | {"runtime"}
    assert len(FINGERPRINT_KEYS) == len(set(FINGERPRINT_KEYS))
    # Every field of the spec but the runtime request is in its fingerprint entries (the runtime is checked on
    # the path the index was made on): a field added to IndexSpec cannot be left out of "same settings".
    fields = {f.name for f in dataclasses.fields(job.IndexSpec)} - {"runtime", "precision"}
    fingerprint = job.IndexSpec(outputs=("events",)).fingerprint()
    covered = set(fingerprint) | set(fingerprint["events"])
    assert fields <= covered, fields - covered


def test_the_writer_names_every_spec_difference():
    old = {**job.IndexSpec().fingerprint(), "runtime": {"runtime": "keras", "precision": "float32"}}
    new = {**job.IndexSpec(hop_seconds=2, outputs=["scores", "tags"]).fingerprint(), "runtime": old["runtime"]}
    assert manifest_differences(old, new) == ["hop_seconds: 5.0 -> 2.0", "outputs: ['tags'] -> ['scores', 'tags']"]


def test_outputs_are_normalised_and_checked():
    assert job.IndexSpec(outputs="events").outputs == ("events",)
    assert job.IndexSpec(outputs=[" tags", "embeddings", "tags"]).outputs == ("embeddings", "tags")
    with pytest.raises(ArchiveError, match="outputs vectors: choose from tags, scores, embeddings, events"):
        job.IndexSpec(outputs=["tags", "vectors"])
    with pytest.raises(ArchiveError, match=r"outputs \(none\)"):
        job.IndexSpec(outputs=[])
    assert job.IndexSpec().event_options is None
    assert job.IndexSpec(outputs=("events",), low=0.1).event_options["low"] == 0.1


def test_keywords_override_the_spec_and_the_resources():
    spec, resources = job.from_keywords(job.IndexSpec(top_k=3), None, hop_seconds=2.5, model_workers=4)
    assert (spec.top_k, spec.hop_seconds, resources.model_workers) == (3, 2.5, 4)
    assert resources.batch_size == job.JobResources().batch_size
    with pytest.raises(TypeError, match="unknown index option hop; IndexSpec takes .*hop_seconds"):
        job.from_keywords(hop=2.0)


@pytest.mark.parametrize(
    "runtime, precision, made_on, same",
    [
        ("auto", "auto", {"runtime": "openvino", "precision": "bfloat16"}, True),
        ("keras", "auto", {"runtime": "keras", "precision": "float32"}, True),
        ("keras", "float32", {"runtime": "openvino", "precision": "float32"}, False),
        ("onnxruntime", "int8", {"runtime": "onnxruntime", "precision": "int8"}, True),
        ("onnxruntime", "auto", {"runtime": "onnxruntime", "precision": "int8"}, False),
    ],
)
def test_a_runtime_request_runs_on_the_path_the_index_was_made_on(runtime, precision, made_on, same):
    assert job.IndexSpec(runtime=runtime, precision=precision).runs_on(made_on) is same


def test_resources_take_the_ray_address_from_the_environment(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    assert job.JobResources().ray_address == "127.0.0.1:6379"
    assert job.JobResources(address="auto").ray_address == "auto"
