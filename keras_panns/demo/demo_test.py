"""The demo page in a real headless Chromium: its scores equal onnxruntime's in Python on the same samples.

The site is built by `keras-panns demo` from the golden MobileNetV1 weights
with onnxruntime-web from the npm registry, served on 127.0.0.1 and driven by
selenium through Debian's chromium and chromedriver. The page's decoded
samples are read back, so browser decoding and resampling are accounted for;
raw PCM is also fed straight to the page. Screenshots go to
$KERAS_PANNS_TEST_ARTIFACTS (default: test-artifacts/ in the checkout).
"""

import base64
import functools
import http.server
import os
import shutil
import tempfile
import threading
import time

import numpy as np
import pytest
import soundfile

import keras_panns
from keras_panns.cli.main import main
from keras_panns.demo import runtime
from keras_panns.errors import ExportError
from keras_panns.testing import REPO, SHARED, golden

CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver") or \
    "/usr/bin/chromedriver"
EXAMPLES = SHARED / "data" / "examples"
ESC10 = SHARED / "data" / "esc10" / "audio"
ARTIFACTS = os.environ.get("KERAS_PANNS_TEST_ARTIFACTS", str(REPO / "test-artifacts"))
TOLERANCE = 1e-3


def _require(condition, why):
    # CI installs chromium, chromedriver and npm (.ci/run): there a missing one is a failure, not a skip.
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    _require(shutil.which("npm") is not None, "npm is not installed")
    return runtime.fetch_tarball(cache_dir=str(tmp_path_factory.mktemp("npm")))


@pytest.fixture(scope="module")
def site(tmp_path_factory, tarball):
    preset = keras_panns.save_preset(golden.fixture_model("MobileNetV1"), tmp_path_factory.mktemp("preset") / "mnv1")
    out = tmp_path_factory.mktemp("site") / "site"
    assert main(["keras-panns", "demo", "--checkpoint", str(preset), "--runtime", tarball, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def session(site):
    from keras_panns.export.onnx_export import load_session

    return load_session(str(site / "model.onnx"), threads=1)


def _browser(extra_args=()):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    _require(os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER), "chromium and chromedriver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Without the background-networking flags Chromium keeps dialling Google's hosts on this closed network.
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1000,1000", f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}", *extra_args):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(120)
    return driver


@pytest.fixture(scope="module")
def browser():
    # The fake microphone plays a real recording, so the recording path is tested end to end.
    recording = EXAMPLES / "R9_ZSCveAHg_7s.wav"
    if not recording.is_file():
        pytest.skip(f"{recording} not found")
    driver = _browser(["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                       f"--use-file-for-fake-audio-capture={recording}"])
    yield driver
    driver.quit()


def _open(driver, url):
    driver.get(url)
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "pannsDemo.ready.then(done, (e) => done({error: String(e.message || e)}));")


def _wait_state(driver, states=("done", "error"), timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = driver.execute_script("return document.body.dataset.state")
        if state in states:
            return state
        time.sleep(0.1)
    raise AssertionError(f"the page stayed in state {state!r}; status: {_status(driver)!r}")


def _status(driver):
    return driver.execute_script("return document.getElementById('status').textContent")


def _last(driver):
    """The samples the model saw, the window starts and scores, read back from the page."""
    samples = np.frombuffer(base64.b64decode(driver.execute_script(
        "return pannsDemo.toBase64(pannsDemo.last.samples)")), np.float32)
    starts = driver.execute_script("return pannsDemo.last.starts")
    scores = np.asarray(driver.execute_script("return pannsDemo.last.windowScores.map((s) => Array.from(s))"),
                        np.float32)
    return samples, starts, scores


def _displayed(driver):
    """`(class index, data-score, shown text)` of each tag on the page."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#tags li')).map((li) => "
        "[Number(li.dataset.index), Number(li.dataset.score), li.querySelector('.score').textContent])")


def _check_against_onnxruntime(driver, session, samples, starts, window_scores, window_samples=320000):
    """Every window's scores, and the displayed aggregate, equal onnxruntime's on the same samples."""
    length = min(window_samples, len(samples))
    want = np.stack([session.run(["clipwise_output"], {"waveform": samples[None, s:s + length]})[0][0]
                     for s in starts])
    np.testing.assert_allclose(window_scores, want, atol=TOLERANCE, rtol=0)
    aggregate = want.max(axis=0)
    shown = _displayed(driver)
    # The shown classes are the top 5 (up to ties within the tolerance), in order.
    np.testing.assert_allclose(aggregate[[index for index, _, _ in shown]], np.sort(aggregate)[::-1][:5],
                               atol=TOLERANCE, rtol=0)
    for index, score, text in shown:
        assert abs(score - aggregate[index]) <= TOLERANCE
        assert text == f"{score:.3f}"
    return float(np.abs(window_scores - want).max())


def _screenshot(driver, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    driver.save_screenshot(os.path.join(ARTIFACTS, name))


def test_page_states_the_model_and_times_a_ten_second_clip(browser, server, site):
    ready = _open(browser, server)
    assert "error" not in ready, ready
    assert ready["tenSecondMs"] > 0
    info = browser.find_element("id", "model-info").text
    assert "MobileNetV1" in info and "32000 Hz" in info and "onnxruntime-web 1.31.1" in info
    size_mb = os.path.getsize(site / "model.onnx") / 1e6
    assert f"{size_mb:.1f} MB" in info and "float32" in info
    assert "x real time" in browser.find_element("id", "info-one-10-s-clip").text


def test_dropped_file_scores_equal_onnxruntime(browser, server, session):
    path = EXAMPLES / "R9_ZSCveAHg_7s.wav"
    _open(browser, server)
    browser.find_element("id", "file").send_keys(str(path))
    assert _wait_state(browser) == "done", _status(browser)
    samples, starts, scores = _last(browser)
    # A 32 kHz file is not resampled, but Chromium scales positive int16 samples by 1/32767 (libsndfile:
    # 1/32768), so the page's samples differ from Python's by up to 3e-5 relative: the scores below are
    # compared on the page's own samples.
    np.testing.assert_allclose(samples, keras_panns.load_audio(str(path), 32000), rtol=4e-5, atol=1e-7)
    assert starts == [0]
    _check_against_onnxruntime(browser, session, samples, starts, scores)
    assert browser.find_element("id", "result-title").text == path.name
    assert browser.find_element("id", "timeline-figure").get_attribute("hidden")  # one window: no timeline
    _screenshot(browser, "demo_file.png")


def test_raw_pcm_and_browser_resampling(browser, server, session):
    path = ESC10 / "1-100032-A-0.wav"  # 16 kHz: the browser resamples it to 32 kHz
    if not path.is_file():
        pytest.skip(f"{path} not found")
    _open(browser, server)
    python_samples = keras_panns.load_audio(str(path), 32000)
    encoded = base64.b64encode(python_samples.astype("<f4").tobytes()).decode()
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "pannsDemo.tagSamples(pannsDemo.fromBase64(arguments[0]), 'raw PCM').then(() => done(), (e) => done(e));",
        encoded)
    samples, starts, scores = _last(browser)
    np.testing.assert_array_equal(samples, python_samples)
    _check_against_onnxruntime(browser, session, samples, starts, scores)

    browser.find_element("id", "file").send_keys(str(path))
    assert _wait_state(browser) == "done", _status(browser)
    decoded, starts, scores = _last(browser)
    _check_against_onnxruntime(browser, session, decoded, starts, scores)
    # The browser's resampler is not soxr's; it must still give the same signal.
    assert abs(len(decoded) - len(python_samples)) <= 1
    n = min(len(decoded), len(python_samples))
    residual = np.sqrt(np.mean((decoded[:n] - python_samples[:n]) ** 2)) / np.sqrt(np.mean(python_samples ** 2))
    assert residual < 0.05, residual


def test_long_file_shows_a_timeline_of_windows(browser, server, session, tmp_path):
    parts = [EXAMPLES / "f62-S-v2swA_200000_210000.wav", EXAMPLES / "R9_ZSCveAHg_7s.wav"]
    if not all(p.is_file() for p in parts):
        pytest.skip(f"recordings not found in {EXAMPLES}")
    samples = np.concatenate([keras_panns.load_audio(str(p), 32000) for p in parts])
    long_file = tmp_path / "seventeen_seconds.wav"
    soundfile.write(long_file, samples, 32000, subtype="FLOAT")
    _open(browser, server)
    browser.find_element("id", "file").send_keys(str(long_file))
    assert _wait_state(browser) == "done", _status(browser)
    decoded, starts, scores = _last(browser)
    np.testing.assert_array_equal(decoded, samples)
    # The windows of keras_panns.tag_long: every 5 s, the last moved back to end with the audio.
    assert starts == [0, 160000, 224000]
    _check_against_onnxruntime(browser, session, decoded, starts, scores)
    assert browser.find_element("id", "timeline-figure").is_displayed()
    assert "3 windows" in browser.find_element("id", "result-meta").text
    _screenshot(browser, "demo_long_file.png")


def test_microphone_recording_is_tagged(browser, server, session):
    _open(browser, server)
    browser.find_element("id", "record").click()
    _wait_state(browser, ("recording", "error"), timeout=20)
    time.sleep(2.5)
    browser.find_element("id", "record").click()
    assert _wait_state(browser) == "done", _status(browser)
    samples, starts, scores = _last(browser)
    assert 1.5 * 32000 < len(samples) < 10 * 32000
    assert np.sqrt(np.mean(samples ** 2)) > 0.01  # the fake device's recording, not silence
    _check_against_onnxruntime(browser, session, samples, starts, scores)
    assert browser.find_element("id", "result-title").text.startswith("microphone recording")


def test_bad_files_get_a_message_that_names_them(browser, server, tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    short = tmp_path / "short.wav"
    soundfile.write(short, np.zeros(100, np.float32), 32000)
    _open(browser, server)
    for path, words in [(corrupt, "could not be decoded"), (empty, "is empty"), (short, "needs at least")]:
        browser.find_element("id", "file").send_keys(str(path))
        assert _wait_state(browser) == "error"
        message = _status(browser)
        assert path.name in message and words in message, message
    # The page still works after an error.
    browser.find_element("id", "file").send_keys(str(EXAMPLES / "R9_ZSCveAHg_7s.wav"))
    assert _wait_state(browser) == "done"


def test_a_browser_without_webassembly_is_told_so(server):
    driver = _browser()
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": "delete window.WebAssembly;"})
        result = _open(driver, server)
        assert "error" in result
        fatal = driver.find_element("id", "fatal")
        assert fatal.is_displayed() and "needs WebAssembly" in fatal.text
        assert driver.find_element("id", "file").get_attribute("disabled")
    finally:
        driver.quit()


def test_demo_refuses_a_non_empty_folder_and_a_bad_runtime(tmp_path, tarball):
    model = golden.fixture_model("MobileNetV1")
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        keras_panns.demo.build_demo(model, full, runtime_source=tarball)
    assert os.listdir(full) == ["keep.txt"]
    not_ort = tmp_path / "other.tgz"
    not_ort.write_bytes(b"not a tarball")
    with pytest.raises(ExportError, match="other.tgz"):
        keras_panns.demo.build_demo(model, tmp_path / "new", runtime_source=str(not_ort))
    assert not (tmp_path / "new").exists()  # a failed build leaves nothing behind


def test_npm_tarball_is_cached(tarball, monkeypatch):
    monkeypatch.setenv("PATH", "")  # no npm: the cached tarball must be enough
    assert runtime.fetch_tarball(cache_dir=os.path.dirname(tarball)) == tarball
    with pytest.raises(ExportError, match="npm is not installed"):
        runtime.fetch_tarball(version="0.0.0-absent", cache_dir=os.path.dirname(tarball))
