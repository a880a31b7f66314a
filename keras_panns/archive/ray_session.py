"""The Ray an index job runs on: a cluster it connects to, or a local Ray on 127.0.0.1 that it starts and stops.

A local Ray listens on loopback only (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`,
`_node_ip_address="127.0.0.1"`, no dashboard): an exposed Ray runs anyone's
code. A cluster is checked to answer and to run this keras-panns version
before any work is sent.

Example:
```python
with RaySession(address=None, num_cpus=2) as ray, quiet_ray_data():
    ray.cluster_resources()
```
"""

import contextlib
import os
import socket

# Ray reads this when it is first imported: 0 keeps every socket of a local Ray on 127.0.0.1.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from keras_panns.errors import ArchiveError  # noqa: E402
from keras_panns.version import __version__  # noqa: E402


def _reachable(address):
    host, _, port = address.replace("ray://", "").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            return True
    except (OSError, ValueError):
        return False


class RaySession:
    """Connects to `address`, or starts (and afterwards stops) a local Ray on 127.0.0.1 only."""

    def __init__(self, address, num_cpus):
        self.address, self.num_cpus, self.started = address, num_cpus, False

    def __enter__(self):
        import ray

        if ray.is_initialized():
            return ray  # the caller's own session (e.g. a notebook already connected)
        if self.address and self.address != "local":
            if self.address != "auto" and not _reachable(self.address):
                raise ArchiveError(
                    f"no Ray cluster answers at {self.address} (is `ray start --head` running "
                    "there, and is the port right?)"
                )
            try:
                ray.init(address=self.address, log_to_driver=False, logging_level="error")
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ArchiveError(f"cannot connect to the Ray cluster at {self.address}: {exc}") from exc
            self.started = True
            check_cluster(ray, self.address)
            return ray
        ray.init(
            num_cpus=self.num_cpus,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            logging_level="error",
        )
        self.started = True
        return ray

    def __exit__(self, *exc_info):
        import ray

        if self.started:
            ray.shutdown()


def _remote_version():
    from keras_panns.version import __version__ as remote

    return remote


def check_cluster(ray, address):
    try:
        version = ray.get(ray.remote(num_cpus=0)(_remote_version).remote(), timeout=120)
    except Exception as exc:  # a worker that cannot import keras_panns fails with Ray's wrapper of the ImportError
        raise ArchiveError(
            f"the Ray cluster at {address} cannot run keras-panns ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); install keras-panns[archive] on "
            "every node"
        ) from exc
    if version != __version__:
        raise ArchiveError(
            f"the Ray cluster at {address} has keras-panns {version}, this driver {__version__}: "
            "install the same version on every node"
        )


def share_gpus():
    """Makes JAX and TensorFlow take GPU memory as they need it, in this driver and the actors it starts.

    By default each reserves most of a GPU's memory in the first process that touches it: the driver, which
    loads the model only to send its weights, would leave the model actor out of memory on the same GPU
    (seen on an H200 with JAX). Environment variables reach the actors of a local Ray, which inherit them;
    they act only where the framework has not yet started on the GPU.
    """
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")


@contextlib.contextmanager
def quiet_ray_data():
    """Ray Data's console notes (execution plan, "progress bars disabled", "finished in N s") off for the job.

    The job has its own progress bar and summary line; Ray Data's log files under the session keep every
    note, and errors still reach the console.
    """
    import logging

    consoles = [
        handler
        for handler in logging.getLogger("ray.data").handlers
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
    ]
    levels = [handler.level for handler in consoles]
    for handler in consoles:
        handler.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for handler, level in zip(consoles, levels):
            handler.setLevel(level)
