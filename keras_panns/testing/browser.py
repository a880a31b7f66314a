"""Headless Chromium driving the demo page, for its tests and benchmark.

Debian's `chromium` and `chromedriver` are driven by selenium; the site is
served from a thread on 127.0.0.1. The page's API (`window.pannsDemo`) gives
back exactly the samples the model saw and every window's scores.
"""

import base64
import contextlib
import functools
import http.server
import shutil
import tempfile
import threading
import time

import numpy as np

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory):
    """Serves `directory` on 127.0.0.1 (a free port); yields its URL."""
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def chromium(extra_args=()):
    """A selenium driver of headless Chromium, with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Without the background-networking flags Chromium keeps dialling Google's hosts on a closed network.
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1000,1000",
        f"--user-data-dir={profile}",
        *extra_args,
    ):
        options.add_argument(arg)
    try:
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    except BaseException:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    driver.set_script_timeout(120)
    # A profile is about 50 MB; left behind by every test run, they once filled CI's disk beside the suite.
    quit_browser = driver.quit

    def quit_and_remove_profile():
        try:
            quit_browser()
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    driver.quit = quit_and_remove_profile
    return driver


def open_page(driver, url):
    """Loads the page and waits until it is ready; returns `{"tenSecondMs": ...}` or `{"error": ...}`."""
    driver.get(url)
    # The page's script may not have run yet when a loaded machine hands control back: wait for it too.
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const started = Date.now();"
        "(function wait() {"
        "  if (typeof pannsDemo !== 'undefined') {"
        "    pannsDemo.ready.then(done, (e) => done({error: String(e.message || e)}));"
        "  } else if (Date.now() - started > 60000) {"
        "    done({error: 'the page defined no pannsDemo within 60 s'});"
        "  } else {"
        "    setTimeout(wait, 50);"
        "  }"
        "})();"
    )


def status(driver):
    return driver.execute_script("return document.getElementById('status').textContent")


def wait_state(driver, states=("done", "error"), timeout=120):
    """Waits until the page's `data-state` is one of `states`; returns it."""
    deadline = time.time() + timeout
    state = None
    while time.time() < deadline:
        state = driver.execute_script("return document.body.dataset.state")
        if state in states:
            return state
        time.sleep(0.1)
    raise AssertionError(f"the page stayed in state {state!r}; status: {status(driver)!r}")


def tag_file(driver, path):
    """Gives the page a file through its file input, as a user choosing it would; returns the final state."""
    driver.find_element("id", "file").send_keys(str(path))
    return wait_state(driver)


def tag_samples(driver, samples):
    """Feeds raw float32 PCM at the model's rate to the page, bypassing its decoder."""
    encoded = base64.b64encode(np.asarray(samples, "<f4").tobytes()).decode()
    error = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "pannsDemo.tagSamples(pannsDemo.fromBase64(arguments[0]), 'raw PCM').then(() => done(null),"
        " (e) => done(String(e.message || e)));",
        encoded,
    )
    if error:
        raise AssertionError(error)


def last_result(driver):
    """`(samples, window starts, window scores, elapsed ms)` of the page's last tagging."""
    samples = np.frombuffer(
        base64.b64decode(driver.execute_script("return pannsDemo.toBase64(pannsDemo.last.samples)")), np.float32
    )
    starts = driver.execute_script("return pannsDemo.last.starts")
    scores = np.asarray(
        driver.execute_script("return pannsDemo.last.windowScores.map((s) => Array.from(s))"), np.float32
    )
    return samples, starts, scores, driver.execute_script("return pannsDemo.last.elapsedMs")


def displayed_tags(driver):
    """`(class index, data-score, shown text)` of each tag on the page."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#tags li')).map((li) => "
        "[Number(li.dataset.index), Number(li.dataset.score), li.querySelector('.score').textContent])"
    )


def screenshot(driver, path):
    """The whole page, not only the window's height."""
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], height + 140)  # the window's frame is counted in its size
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(size["width"], size["height"])
