"""What the benchmarks record about the machine they ran on (imported by the tools, which run as scripts)."""

import subprocess


def gpu_name():
    """The first GPU's name from nvidia-smi, or None where there is none.

    Example:
    ```python
    gpu_name()  # "NVIDIA H100 80GB HBM3", or None on a CPU machine
    ```
    """
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else None
