"""onnxruntime-web, taken from the npm registry when a demo site is built.

The page must run with no internet, so the runtime's JavaScript and
WebAssembly files are copied into the site; nothing is fetched from a CDN when
the page runs. `npm pack` downloads the package once (npm checks it against
the registry's integrity hash) into the keras_panns cache, and later builds
reuse that tarball. A local tarball or unpacked package can be given instead,
for machines without the registry.
"""

import json
import os
import shutil
import subprocess
import tarfile
import tempfile

from keras_panns.errors import ExportError
from keras_panns.hub import download

PACKAGE = "onnxruntime-web"
# The WASM-only ES module and its single SIMD binary (threads when the page is cross-origin isolated). The
# bundle variants carry WebGL/WebGPU code this page does not use.
VERSION = "1.31.1"
FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")


def fetch_tarball(version=VERSION, cache_dir=None):
    """The path of `onnxruntime-web-<version>.tgz`, downloaded with `npm pack` unless already cached.

    Args:
        version: str.
        cache_dir: str or None. The keras_panns cache root (default: `hub.download.cache_dir()`); tarballs
            are kept in its `npm/` folder.
    """
    cache_dir = str(download.cache_dir(cache_dir) / "npm")
    target = os.path.join(cache_dir, f"{PACKAGE}-{version}.tgz")
    if os.path.isfile(target):
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise ExportError(
            f"the demo needs {PACKAGE} {version} from the npm registry, and npm is not installed; "
            f"install Node.js, or pass --runtime with a downloaded {PACKAGE}-{version}.tgz"
        )
    os.makedirs(cache_dir, exist_ok=True)
    # npm writes into a scratch directory first, so an interrupted download leaves no tarball in the cache.
    with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
        result = subprocess.run(
            [npm, "pack", f"{PACKAGE}@{version}", "--pack-destination", scratch, "--silent"],
            capture_output=True,
            text=True,
            cwd=scratch,
        )
        packed = os.path.join(scratch, f"{PACKAGE}-{version}.tgz")
        if result.returncode != 0 or not os.path.isfile(packed):
            raise ExportError(f"npm could not fetch {PACKAGE}@{version}: {(result.stderr or result.stdout).strip()}")
        os.replace(packed, target)
    return target


def install(site_dir, source=None, version=VERSION, cache_dir=None):
    """Copies the runtime files and the package.json (which names its licence) into `site_dir/ort`.

    Returns the package's version.

    Args:
        site_dir: str. The site being built.
        source: None (npm, cached), a `.tgz` from `npm pack`, or an unpacked
            package directory (one with `dist/` and `package.json`).
        version: str. The version npm fetches when `source` is None.
        cache_dir: str or None. The keras_panns cache root (see `fetch_tarball`).
    """
    source = source or fetch_tarball(version, cache_dir)
    target = os.path.join(site_dir, "ort")
    os.makedirs(target, exist_ok=True)
    # The package has no LICENSE file; its package.json names the licence (MIT) and is copied as the notice.
    wanted = [f"dist/{name}" for name in FILES] + ["package.json"]
    if os.path.isdir(source):
        root = source
        missing = [name for name in wanted if not os.path.isfile(os.path.join(root, name))]
        if missing:
            raise ExportError(f"{source} is not an unpacked {PACKAGE} package: it lacks {', '.join(missing)}")
        for name in wanted:
            shutil.copyfile(os.path.join(root, name), os.path.join(target, os.path.basename(name)))
    else:
        try:
            with tarfile.open(source) as archive:
                members = {member.name: member for member in archive.getmembers()}
                missing = [name for name in wanted if f"package/{name}" not in members]
                if missing:
                    raise ExportError(f"{source} is not an {PACKAGE} tarball: it lacks {', '.join(missing)}")
                for name in wanted:
                    with (
                        archive.extractfile(members[f"package/{name}"]) as src,
                        open(os.path.join(target, os.path.basename(name)), "wb") as dst,
                    ):
                        shutil.copyfileobj(src, dst)
        except (tarfile.TarError, OSError) as exc:
            raise ExportError(f"{source}: cannot read the {PACKAGE} package: {exc}") from exc
    with open(os.path.join(target, "package.json"), encoding="utf-8") as f:
        package = json.load(f)
    if package.get("name") != PACKAGE:
        raise ExportError(f"{source} holds {package.get('name')!r}, not {PACKAGE}")
    return package.get("version", "unknown")
