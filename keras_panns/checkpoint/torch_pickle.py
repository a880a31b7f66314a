"""Reads PyTorch `.pth` checkpoints into numpy, without torch and without
executing arbitrary pickled code.

Two container formats exist: the zip archive that `torch.save` writes since
PyTorch 1.6, and the legacy stream of pickles (magic number, protocol, system
info, object, storage keys, raw storages) of older versions, which is what the
official PANNs checkpoints (saved with torch 1.0) use. Both pickle the object
with persistent ids for tensor storages.

Unpickling is restricted to an allow-list of the globals that rebuild tensors
and plain containers; anything else (`os.system`, `builtins.eval`, ...) raises
`UnsafeCheckpointError` before it is called.
"""

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from keras_panns.errors import CheckpointError, UnsafeCheckpointError

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}

_TORCH_DTYPES = {
    "float64": np.float64,
    "double": np.float64,
    "float32": np.float32,
    "float": np.float32,
    "float16": np.float16,
    "half": np.float16,
    "bfloat16": "bfloat16",
    "int64": np.int64,
    "long": np.int64,
    "int32": np.int32,
    "int": np.int32,
    "int16": np.int16,
    "short": np.int16,
    "int8": np.int8,
    "uint8": np.uint8,
    "bool": np.bool_,
}


class _StorageType:
    """Stands in for `torch.FloatStorage` etc.: only carries the element dtype."""

    def __init__(self, name, dtype):
        self.name = name
        self.dtype = dtype

    @property
    def itemsize(self):
        return 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize

    def from_bytes(self, raw, byteorder="little"):
        if self.dtype == "bfloat16":
            # numpy has no bfloat16: widen the 16 bits into float32's top half.
            halves = np.frombuffer(raw, dtype="<u2" if byteorder == "little" else ">u2")
            return (halves.astype(np.uint32) << 16).view(np.float32)
        dtype = np.dtype(self.dtype).newbyteorder("<" if byteorder == "little" else ">")
        return np.frombuffer(raw, dtype=dtype).astype(np.dtype(self.dtype), copy=False)


class _TorchDtype:
    def __init__(self, name):
        self.name = name
        self.storage = _StorageType(name, _TORCH_DTYPES[name])


def _rebuild_tensor(storage, storage_offset, size, stride, *_unused):
    """numpy equivalent of `torch._utils._rebuild_tensor_v2` (a strided view, copied)."""
    size = tuple(int(s) for s in size)
    stride = tuple(int(s) for s in stride)
    if not size:
        return np.array(storage[storage_offset], dtype=storage.dtype)
    count = int(np.prod(size))
    if count == 0:
        return np.zeros(size, dtype=storage.dtype)
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
    if storage_offset < 0 or last >= storage.size:
        raise CheckpointError("corrupt checkpoint: a tensor reaches past the end of its storage")
    base = storage[storage_offset:]
    view = np.lib.stride_tricks.as_strided(base, shape=size, strides=[s * storage.itemsize for s in stride])
    return np.array(view, copy=True)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, hooks, dtype, *_unused):
    if isinstance(dtype, _TorchDtype) and storage.dtype == np.uint8 and dtype.storage.dtype != np.uint8:
        storage = dtype.storage.from_bytes(storage.tobytes())
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_unused):
    return data


def _codecs_encode(text, encoding="latin1"):
    # Protocol-2 pickles written by Python 3 store bytes as _codecs.encode(str, 'latin1').
    if encoding not in ("latin1", "latin-1"):
        raise UnsafeCheckpointError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _numpy_reconstruct(subtype, shape, dtype):
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _numpy_scalar(dtype, data=None):
    if dtype.hasobject:
        raise UnsafeCheckpointError("refusing a numpy object scalar in a checkpoint")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _numpy_dtype(spec, align=False, copy=False):
    dtype = np.dtype(spec, align, copy)
    if dtype.hasobject:
        raise UnsafeCheckpointError("refusing a numpy object array in a checkpoint")
    return dtype


_SAFE_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): lambda storage, offset, size, stride: _rebuild_tensor(
        storage, offset, size, stride
    ),
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("_codecs", "encode"): _codecs_encode,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
}
for _name, _dtype in _STORAGE_DTYPES.items():
    _SAFE_GLOBALS[("torch", _name)] = _StorageType(_name, _dtype)
for _name in _TORCH_DTYPES:
    _SAFE_GLOBALS[("torch", _name)] = _TorchDtype(_name)
_SAFE_GLOBALS[("torch.storage", "UntypedStorage")] = _StorageType("UntypedStorage", np.uint8)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, load_storage, defer_tensors=False):
        super().__init__(file, encoding="utf-8")
        self._load_storage = load_storage
        self._defer_tensors = defer_tensors

    def find_class(self, module, name):
        if self._defer_tensors and module == "torch._utils" and name.startswith("_rebuild_tensor"):
            # Legacy files rebuild tensors before their bytes are read: defer.
            return _deferred(_SAFE_GLOBALS[(module, name)])
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                f"refusing to load {module}.{name}: this checkpoint asks pickle for a global outside the "
                "allow-list of tensor-rebuilding functions. keras_panns never runs arbitrary code from a "
                "checkpoint; if the file is a genuine PyTorch checkpoint, re-save its state dict with "
                "torch.save(model.state_dict(), path)."
            ) from None

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise CheckpointError(f"unsupported persistent id in checkpoint: {pid!r:.80}")
        return self._load_storage(pid)


def _is_storage_type(value):
    return isinstance(value, (_StorageType, _TorchDtype))


def _storage_type(value):
    if isinstance(value, _TorchDtype):
        return value.storage
    if not isinstance(value, _StorageType):
        raise CheckpointError(f"unsupported storage type in checkpoint: {value!r:.80}")
    return value


def _load_zip(path):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if not pickles:
            raise CheckpointError(f"{path}: zip file without data.pkl; not a PyTorch checkpoint")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = archive.read(prefix + "byteorder").decode().strip()
        cache = {}

        def load_storage(pid):
            _, storage_type, key, _location, numel = pid[:5]
            storage_type = _storage_type(storage_type)
            if key not in cache:
                try:
                    raw = archive.read(f"{prefix}data/{key}")
                except KeyError:
                    raise CheckpointError(f"{path}: storage {key} is missing from the archive") from None
                array = storage_type.from_bytes(raw, byteorder)
                if array.size < int(numel):
                    raise CheckpointError(f"{path}: storage {key} is truncated")
                cache[key] = array
            return cache[key]

        with archive.open(pickles[0]) as handle:
            return _RestrictedUnpickler(io.BytesIO(handle.read()), load_storage).load()


def _load_legacy(path):
    with open(path, "rb") as f:

        def header_pickle():
            return _RestrictedUnpickler(f, _no_storage).load()

        magic = header_pickle()
        if magic != _LEGACY_MAGIC:
            raise CheckpointError(f"{path}: not a PyTorch checkpoint (bad magic number)")
        protocol = header_pickle()
        if protocol != 1001:
            raise CheckpointError(f"{path}: unsupported legacy protocol version {protocol}")
        sys_info = header_pickle()
        byteorder = "little" if sys_info.get("little_endian", True) else "big"
        storages = {}

        def load_storage(pid):
            _, storage_type, key, _location, numel, view_metadata = pid
            storage_type = _storage_type(storage_type)
            holder = storages.setdefault(key, _LazyStorage(storage_type, int(numel)))
            if view_metadata is not None:
                view_key, offset, view_size = view_metadata
                return _LazyStorage(storage_type, int(view_size), base=holder, offset=int(offset))
            return holder

        obj = _RestrictedUnpickler(f, load_storage, defer_tensors=True).load()
        keys = _RestrictedUnpickler(f, _no_storage).load()
        for key in keys:
            if key not in storages:
                raise CheckpointError(f"{path}: storage {key} listed but never used")
            holder = storages[key]
            (numel,) = struct.unpack("<q" if byteorder == "little" else ">q", _read_exact(f, 8, path))
            raw = _read_exact(f, numel * holder.storage_type.itemsize, path)
            holder.array = holder.storage_type.from_bytes(raw, byteorder)
    return _materialize(obj)


class _LazyStorage:
    """A legacy storage whose bytes come after the object pickle."""

    def __init__(self, storage_type, numel, base=None, offset=0):
        self.storage_type = storage_type
        self.numel = numel
        self.base = base
        self.offset = offset
        self.array = None

    def resolve(self):
        if self.base is not None:
            return self.base.resolve()[self.offset : self.offset + self.numel]
        if self.array is None:
            raise CheckpointError("corrupt legacy checkpoint: a storage has no data")
        return self.array


class _DeferredTensor:
    def __init__(self, rebuild, args):
        self.rebuild = rebuild
        self.args = args


def _deferred(rebuild):
    return lambda *args: _DeferredTensor(rebuild, args)


def _no_storage(pid):
    raise CheckpointError("corrupt checkpoint: tensor data outside the object pickle")


def _read_exact(f, n, path):
    data = f.read(n)
    if len(data) != n:
        raise CheckpointError(f"{path}: file is truncated (expected {n} more bytes)")
    return data


def _materialize(obj):
    """Replaces deferred legacy tensors by arrays, once all storages are read."""
    if isinstance(obj, _DeferredTensor):
        storage, *rest = obj.args
        return obj.rebuild(storage.resolve(), *rest)
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _materialize(v)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _materialize(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_materialize(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialize(v) for v in obj)
    return obj


def load_torch_file(path):
    """Loads a `torch.save` file (zip or legacy format) as numpy arrays in plain containers.

    Args:
        path: str or path-like. The `.pth`/`.pt` file.

    Returns:
        The saved object with every tensor replaced by a `numpy.ndarray`.

    Raises:
        CheckpointError: the file is not a readable PyTorch checkpoint.
        UnsafeCheckpointError: the pickle asks for a disallowed global.

    Example:
    ```python
    ckpt = keras_panns.checkpoint.load_torch_file("Cnn14_mAP=0.431.pth")
    ckpt["model"]["fc1.weight"].shape  # (2048, 2048)
    ```
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path)
        return _load_legacy(path)
    except (CheckpointError, UnsafeCheckpointError):
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        struct.error,
        zipfile.BadZipFile,
        AttributeError,
        IndexError,
        KeyError,
    ) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from exc


def read_state_dict(path):
    """Returns the `{key: ndarray}` state dict of a PANNs checkpoint.

    Official files are `{"iteration", "model"[, "sampler"]}` dicts; the
    weights are under `"model"` (loading the file itself as a state dict is
    the most common mistake with PANNs, audioset_tagging_cnn#55). A bare
    state dict and a `"state_dict"` entry are accepted too, and DataParallel's
    `module.` prefix is removed.

    Args:
        path: str or path-like, a `.pth` file (zip or legacy pickle format).

    Returns:
        `{key: numpy array}`.

    Raises:
        CheckpointError: the file is not a PyTorch checkpoint or holds no state dict.
        UnsafeCheckpointError: its pickle asks for a global outside the allow-list (nothing of it runs).

    Example:
    ```python
    state = keras_panns.checkpoint.read_state_dict("Cnn14_mAP=0.431.pth")
    state["fc_audioset.weight"].shape  # (527, 2048)
    ```
    """
    obj = load_torch_file(path)
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise CheckpointError(f"{path}: no state dict found (expected a dict of tensors, or one under 'model')")
    return collections.OrderedDict((k[len("module.") :] if k.startswith("module.") else k, v) for k, v in obj.items())
