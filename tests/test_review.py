"""The review loop in a real headless Chromium: propose, open, mark, save, import, calibrate.

The index is written through `IndexStore` over real ESC-10 recordings from ../shared (5-s clips, 1-s windows)
with scores drawn per window, so the page cuts real audio. Chromium saves the page's CSV into a download
folder; `keras-panns label --import` reads it back into the index.
"""

import base64
import io
import json
import os
import re
import time

import numpy as np
import pytest
import soundfile

from keras_panns.archive.annotations import Annotations
from keras_panns.archive.store import IndexStore
from keras_panns.cli.main import main
from keras_panns.search import Index
from keras_panns.search.review import SNIPPET_RATE, propose
from keras_panns.testing import REPO, SHARED
from keras_panns.testing import browser as page

ESC10 = SHARED / "data" / "esc10" / "audio"
INDEX_V1 = REPO / "tests" / "data" / "index_v1"


def _require(condition, why):
    # CI installs chromium and chromedriver (.ci/run): there a missing one is a failure, not a skip.
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="module")
def esc10_index(tmp_path_factory):
    files = sorted(ESC10.glob("*.wav"))[:8]
    _require(len(files) == 8, f"ESC-10 recordings not found in {ESC10}")
    root = tmp_path_factory.mktemp("review") / "esc10.index"
    manifest = json.loads((INDEX_V1 / "manifest.json").read_text())
    manifest["outputs"] = ["scores", "tags"]
    store = IndexStore(root)
    store.open(manifest)
    rng = np.random.default_rng(0)
    for path in files:
        windows = []
        for window in range(5):
            scores = rng.uniform(0, 1, 3).astype(float).tolist()
            windows.append(
                dict(
                    path=str(path),
                    window=window,
                    start=float(window),
                    end=window + 1.0,
                    top_labels=["Dog"],
                    top_scores=[scores[1]],
                    scores=scores,
                )
            )
        row = dict(
            path=str(path),
            size=path.stat().st_size,
            mtime=path.stat().st_mtime,
            duration=5.0,
            sample_rate=44100,
            channels=1,
            windows=5,
            status="ok",
        )
        store.commit({"files": [row], "windows": windows})
    return Index(root)


def test_strategies_propose_what_they_say(esc10_index):
    scores = esc10_index.scores()[:, 1]
    top = propose(esc10_index, "Dog", "top", 5)
    np.testing.assert_allclose(top.score, np.sort(scores)[::-1][:5])
    bins = propose(esc10_index, "Dog", "bins", 20)
    filled = {int(s * 10) for s in scores}  # every score bin that holds a window gets one before any gets two
    assert len(set(bins.bin)) == min(len(filled), 20) and len(bins) == 20
    random = propose(esc10_index, "Dog", "random", 10, seed=3)
    assert len(random) == 10 and random.path.nunique() > 1


def test_review_page_marks_save_and_import(esc10_index, tmp_path, capsys):
    pytest.importorskip("selenium")
    _require(os.path.exists(page.CHROMIUM) and os.path.exists(page.CHROMEDRIVER), "chromium is not installed")
    site = tmp_path / "site"
    site.mkdir()
    code = main(
        [
            "keras-panns",
            "review",
            esc10_index.path,
            "--label",
            "Dog",
            "--strategy",
            "bins",
            "--n",
            "6",
            "--out",
            str(site / "review.html"),
        ]
    )
    assert code == 0 and "6 windows to review for 'Dog'" in capsys.readouterr().err
    text = (site / "review.html").read_text()
    first_audio = re.search(r'src="data:audio/wav;base64,([^"]+)"', text).group(1)
    snippet, rate = soundfile.read(io.BytesIO(base64.b64decode(first_audio)))
    assert rate == SNIPPET_RATE and len(snippet) == SNIPPET_RATE  # the 1-s window, cut from the recording
    assert "http://" not in text and "https://" not in text  # nothing loaded from elsewhere

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = page.chromium()
    try:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        with page.serve(site) as url:
            driver.get(url + "review.html")
            items = driver.find_elements("css selector", ".item")
            assert len(items) == 6
            items[0].find_element("css selector", "button[data-type=positive]").click()
            items[1].find_element("css selector", "button[data-type=negative]").click()
            driver.find_element("tag name", "body").send_keys("u")  # the highlighted third item: unsure
            assert driver.find_element("id", "progress").text == "3 of 6 marked"
            driver.find_element("id", "save").click()
            deadline = time.time() + 30
            while not list(downloads.glob("review_Dog.csv")) and time.time() < deadline:
                time.sleep(0.2)
    finally:
        driver.quit()
    (saved,) = downloads.glob("review_Dog.csv")
    proposals = propose(esc10_index, "Dog", "bins", 6)
    assert main(["keras-panns", "label", esc10_index.path, "--import", str(saved)]) == 0
    labels = Annotations(esc10_index.path, esc10_index.labels).read()
    assert labels.label_type.tolist() == ["positive", "negative", "uncertain"]
    assert labels.path.tolist() == proposals.path[:3].tolist()
    np.testing.assert_allclose(labels.start, proposals.start[:3])
    # Marked windows are not proposed again.
    again = propose(esc10_index, "Dog", "bins", 6)
    assert not set(zip(again.path, again.start)) & set(zip(labels.path, labels.start))
