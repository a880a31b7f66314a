"""Local multi-worker runs for tests: several Python processes that form one `TF_CONFIG` cluster on 127.0.0.1.

Example:
```python
codes, logs = run_workers("tests/mwms_worker.py", ["data", "out"], count=2)
```
"""

import socket
import subprocess
import sys


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_workers(script, args, count=2, timeout=420):
    """Runs `script INDEX PORTS *args` for each worker index at once; returns (exit codes, output logs).

    PORTS is the comma-separated list of the cluster's ports, from which each
    worker builds its `TF_CONFIG`.
    """
    ports = ",".join(str(free_port()) for _ in range(count))
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(i), ports, *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(count)
    ]
    try:
        logs = [w.communicate(timeout=timeout)[0] for w in workers]
    finally:
        for w in workers:
            w.kill()
    return [w.returncode for w in workers], logs
