"""`from_pretrained` against an HTTP server on 127.0.0.1 (no other network)."""

import collections
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

import keras_panns
from keras_panns.errors import ChecksumError, DownloadError, UnknownModelError
from keras_panns.hub import zoo
from keras_panns.testing import golden

FILE_NAME = "Cnn6_test_mAP=0.343.pth"


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    torch = pytest.importorskip("torch")
    state = golden.fixture_state_dict("Cnn6")
    path = tmp_path_factory.mktemp("ckpt") / FILE_NAME
    model = collections.OrderedDict((k, torch.from_numpy(np.asarray(v))) for k, v in state.items())
    # The legacy format, as the official files were written by torch 1.0.
    torch.save({"iteration": 1, "model": model}, path, _use_new_zipfile_serialization=False)
    return path.read_bytes()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.server.requests.append(self.path)
        body = self.server.payload
        if self.path.startswith("/missing"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path.startswith("/broken"):
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(2)  # drop the connection mid-transfer
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(checkpoint_bytes):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.payload = checkpoint_bytes
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(server, path):
    return f"http://127.0.0.1:{server.server_address[1]}/{path}"


@pytest.fixture
def card(server, checkpoint_bytes):
    base = zoo.get_card("cnn6").to_dict()
    base.update(name="test_cnn6", default=False)
    base["checkpoint"] = dict(
        base["checkpoint"],
        file_name=FILE_NAME,
        url=_url(server, FILE_NAME),
        md5=hashlib.md5(checkpoint_bytes).hexdigest(),
        sha256=None,
        size_bytes=len(checkpoint_bytes),
    )
    registered = zoo.register_card(base)
    yield registered
    zoo.unregister_card("test_cnn6")


def _cache():
    return os.environ["KERAS_PANNS_CACHE"]


def _leftovers():
    root = os.path.join(_cache(), "checkpoints")
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def _assert_golden_cnn6(model):
    x = golden.load_inputs(32000)["clip_10s"][None]
    got = model.predict_on_batch(x)["clipwise_output"][0]
    np.testing.assert_allclose(got, golden.load_outputs("Cnn6")["clip_10s/clipwise_output"], atol=1e-4)


def test_download_convert_and_cache_hit(server, card):
    server.requests.clear()
    model = keras_panns.Cnn6.from_pretrained("test_cnn6", progress=False)
    assert model.card.name == "test_cnn6" and server.requests == [f"/{FILE_NAME}"]
    _assert_golden_cnn6(model)
    assert _leftovers() == [FILE_NAME]
    # Second load: served by the converted cache, not the network nor the .pth.
    os.remove(os.path.join(_cache(), "checkpoints", FILE_NAME))
    again = keras_panns.from_pretrained("test_cnn6", progress=False)
    assert server.requests == [f"/{FILE_NAME}"]
    _assert_golden_cnn6(again)
    # A new head for 10 classes reuses the cached conversion.
    tuned = keras_panns.Cnn6.from_pretrained("test_cnn6", num_classes=10, progress=False)
    assert tuned.get_layer("fc_audioset").units == 10 and server.requests == [f"/{FILE_NAME}"]
    np.testing.assert_array_equal(tuned.get_layer("fc1").get_weights()[0], again.get_layer("fc1").get_weights()[0])
    # Runtime overrides keep the pretrained classifier and need neither network nor .pth.
    names = [f"tag {i}" for i in range(527)]
    logits = keras_panns.Cnn6.from_pretrained("test_cnn6", classifier_activation=None, labels=names, progress=False)
    assert logits.labels[3] == "tag 3" and server.requests == [f"/{FILE_NAME}"]
    np.testing.assert_array_equal(
        logits.get_layer("fc_audioset").get_weights()[0], again.get_layer("fc_audioset").get_weights()[0]
    )


def test_hash_mismatch_leaves_nothing(server, card):
    bad = card.to_dict()
    bad["checkpoint"]["md5"] = "0" * 32
    zoo.register_card(bad)
    with pytest.raises(ChecksumError, match="md5"):
        keras_panns.from_pretrained("test_cnn6", progress=False)
    assert _leftovers() == []


def test_broken_connection_leaves_nothing(server, card):
    broken = card.to_dict()
    broken["checkpoint"]["url"] = _url(server, "broken/" + FILE_NAME)
    zoo.register_card(broken)
    with pytest.raises(DownloadError, match="KERAS_PANNS_MIRROR"):
        keras_panns.from_pretrained("test_cnn6", progress=False)
    assert _leftovers() == []


def test_unreachable_server_says_what_to_do(card):
    offline = card.to_dict()
    offline["checkpoint"]["url"] = "http://127.0.0.1:9/" + FILE_NAME  # discard port: refused
    zoo.register_card(offline)
    with pytest.raises(DownloadError) as info:
        keras_panns.from_pretrained("test_cnn6", progress=False)
    assert "offline" in str(info.value) and FILE_NAME in str(info.value)
    assert _leftovers() == []


def test_mirror_replaces_the_origin(server, card, monkeypatch):
    offline = card.to_dict()
    offline["checkpoint"]["url"] = "http://127.0.0.1:9/" + FILE_NAME
    zoo.register_card(offline)
    monkeypatch.setenv("KERAS_PANNS_MIRROR", _url(server, ""))
    server.requests.clear()
    keras_panns.from_pretrained("test_cnn6", progress=False)
    assert server.requests == ["/" + FILE_NAME.replace("=", "%3D")]


def test_url_source_and_local_path(server, card, tmp_path, checkpoint_bytes):
    model = keras_panns.Cnn6.from_pretrained(_url(server, FILE_NAME), progress=False)
    assert model.card.name == "test_cnn6"
    local = tmp_path / "my_weights.pth"
    local.write_bytes(checkpoint_bytes)
    _assert_golden_cnn6(keras_panns.Cnn6.from_pretrained(local))
    with pytest.raises(UnknownModelError, match="cannot tell which architecture"):
        keras_panns.from_pretrained(local)
    with pytest.raises(UnknownModelError, match="not Cnn14"):
        keras_panns.Cnn14.from_pretrained("test_cnn6")


def test_http_error_is_a_download_error(server):
    with pytest.raises(DownloadError, match="404"):
        keras_panns.Cnn6.from_pretrained(_url(server, "missing/x.pth"), progress=False)
    assert _leftovers() == []


def test_preset_directory_round_trip(tmp_path):
    model = keras_panns.Cnn6(num_classes=4, embedding_size=8)
    keras_panns.save_preset(model, tmp_path / "preset")
    loaded = keras_panns.from_pretrained(str(tmp_path / "preset"))
    x = np.random.RandomState(0).uniform(-0.5, 0.5, (1, 9000)).astype("float32")
    np.testing.assert_allclose(
        loaded.predict_on_batch(x)["clipwise_output"], model.predict_on_batch(x)["clipwise_output"], atol=1e-6
    )


def test_unknown_name_lists_the_zoo():
    with pytest.raises(UnknownModelError, match="cnn14_16k"):
        keras_panns.from_pretrained("cnn15")
