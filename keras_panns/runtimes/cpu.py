"""What this CPU can run fast: its model name, matrix-engine flags and peak throughput per precision."""

import functools
import os

#: The flags that decide which precision runs on which unit, most capable first.
MATRIX_FLAGS = ("amx_bf16", "amx_int8", "amx_tile", "avx512_bf16", "avx512_vnni", "avx512f", "avx_vnni", "fma", "avx2")


@functools.lru_cache(maxsize=None)
def cpu_info():
    """`(model name, frozenset of /proc/cpuinfo flags)`; `("unknown CPU", frozenset())` off Linux.

    Example:
    ```python
    name, flags = cpu_info()
    "avx2" in flags   # True on any x86 CPU of the last decade
    ```
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return "unknown CPU", frozenset()
    lines = text.splitlines()
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown CPU")
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    return name, frozenset(flags)


def matrix_flags():
    """The `MATRIX_FLAGS` this CPU has, in `MATRIX_FLAGS` order."""
    flags = cpu_info()[1]
    return [f for f in MATRIX_FLAGS if f in flags]


def bfloat16_unit():
    """The unit that runs bfloat16 matrix products here: `"AMX"`, `"AVX-512 BF16"` or None (no native bf16)."""
    flags = cpu_info()[1]
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX-512 BF16"
    return None


def int8_unit():
    """The unit that runs int8 dot products here: `"AMX"`, `"AVX-512 VNNI"`, `"AVX-VNNI"` or None."""
    flags = cpu_info()[1]
    for flag, unit in (("amx_int8", "AMX"), ("avx512_vnni", "AVX-512 VNNI"), ("avx_vnni", "AVX-VNNI")):
        if flag in flags:
            return unit
    return None


def _ghz():
    """A nominal clock: the `cpu MHz` line of /proc/cpuinfo (the current clock, a fair stand-in under load)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":", 1)[1]) / 1000.0
    except (OSError, ValueError):
        pass
    return None


def peak_gflops(precision, cores=None):
    """Peak multiply-add throughput of `cores` cores for `precision`, in GFLOP/s (2 FLOP per multiply-add).

    Per core and cycle: float32 with AVX-512 is 2 FMA units x 16 lanes x 2 = 64 FLOP (AVX2: 2 x 8 x 2 = 32);
    bfloat16 on AMX is 1024 FLOP (a 16x32 by 32x16 tile product, 16 cycles, as Intel documents) and on
    AVX-512 BF16 twice float32; int8 on AMX is 2048 OP, with VNNI 4x float32 and with plain AVX2 2x
    (`vpmaddubsw` + `vpmaddwd`: four times the lanes in two instructions). The clock is the
    `cpu MHz` of /proc/cpuinfo; None when the CPU or its clock is unknown.

    Example:
    ```python
    peak_gflops("bfloat16", cores=2)   # about 6000 on a 2.9 GHz Sapphire Rapids
    ```
    """
    from keras_panns.runtimes.threads import available_cores

    flags = cpu_info()[1]
    ghz = _ghz()
    if ghz is None:
        return None
    cores = cores or available_cores()
    fp32 = 64 if "avx512f" in flags else 32 if "fma" in flags else None
    if fp32 is None:
        return None
    per_cycle = {
        "float32": fp32,
        "bfloat16": 1024 if "amx_bf16" in flags else 2 * fp32 if "avx512_bf16" in flags else fp32,
        "int8": 2048 if "amx_int8" in flags else 4 * fp32 if {"avx512_vnni", "avx_vnni"} & flags else 2 * fp32,
    }
    return per_cycle[precision] * ghz * cores


def describe():
    """One line: the CPU's name, its cores and matrix-engine flags (what benchmarks and `--verbose` print)."""
    from keras_panns.runtimes.threads import available_cores

    name = cpu_info()[0]
    flags = matrix_flags()
    return f"{name}; {available_cores()} cores; {' '.join(flags) or 'no AVX2/AVX-512/AMX'}"


def onednn_enabled():
    """Whether TensorFlow uses oneDNN here (its x86 default; `TF_ENABLE_ONEDNN_OPTS=0` turns it off)."""
    return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") not in ("0", "false", "False")
