"""Screenshots of the built documentation site for the README: its home page and its API reference.

Builds the site (`mkdocs build --strict`), serves it on 127.0.0.1 and photographs pages with headless
Chromium (Debian's `chromium`), at a laptop's window size.

  python tools/screenshot_docs.py                 # writes docs/site_home.png and docs/site_api.png
"""

import functools
import http.server
import os
import subprocess
import sys
import tempfile
import threading

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = flags.DEFINE_string("out", os.path.join(ROOT, "docs"), "Folder of the screenshots.")
CHROMIUM = flags.DEFINE_string("chromium", "chromium", "The Chromium executable.")
SIZE = flags.DEFINE_string("size", "1280,900", "Window width,height in pixels.")
PAGES = {"site_home.png": "", "site_api.png": "api/"}


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as site:
        subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", site], cwd=ROOT, check=True)
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=site)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            for name, path in PAGES.items():
                url = f"http://127.0.0.1:{server.server_address[1]}/{path}"
                target = os.path.join(OUT.value, name)
                subprocess.run(
                    [
                        CHROMIUM.value,
                        "--headless=new",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--hide-scrollbars",
                        f"--window-size={SIZE.value}",
                        "--virtual-time-budget=10000",
                        f"--screenshot={target}",
                        url,
                    ],
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
                print(f"{url} -> {target}")
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    app.run(main)
