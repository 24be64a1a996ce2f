"""The one way the library reads pickled entries of data files: a restricted unpickler that runs no code.

Data files are untrusted input, and a pickle can name any callable (``exec`` included) for the unpickler to
call. This unpickler accepts the values pickle encodes itself (None, bool, int, float, str, bytes, tuple,
list, dict), NumPy arrays and scalars of bool, number or string dtype and object arrays of such
values (as `np.save` pickles them), and phiml's ``Shape`` classes (``Dim``, ``PureShape``, ``MixedShape``,
as the original system's files hold them), rebuilt as inert records that `shape_dict` reads. Every name a
pickle looks up goes through `find_class`, which returns only the stand-ins below: any other class or
function is refused with a `DataError` naming the file and the entry, before anything is called.
"""

from __future__ import annotations

import io
import math
import pickle
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from hybrid_jax.data.checks import npy_header
from hybrid_jax.errors import DataError

_DESCR = re.compile(r"[biufc]\d{1,2}|[US]\d{1,9}|O8|\?")  # the dtypes np.dtype(...) pickles: no records, no void


class Refused(Exception):
    """A pickle names something outside the allowlist."""


class _DType:
    """Stand-in for ``numpy.dtype(descr, align, copy)``; BUILD may set its byte order only."""

    def __init__(self, descr, align=False, copy=True):
        if not isinstance(descr, str) or not _DESCR.fullmatch(descr):
            raise Refused(f"numpy dtype {descr!r}")
        self.value = np.dtype(descr)

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) < 5 or state[2:5] != (None, None, None) \
                or state[1] not in ("<", ">", "|", "="):
            raise Refused(f"numpy dtype state {state!r:.80}")
        self.value = self.value.newbyteorder(state[1]) if state[1] in "<>" else self.value


class _Array(np.ndarray):
    """Stand-in for an array made by ``numpy.core.multiarray._reconstruct`` and filled by its BUILD state
    ``(version, shape, dtype, fortran, data)``: raw bytes of a bool/number/string dtype, or a list of
    (already accepted) objects."""

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 5:
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4 and isinstance(state[1], _DType)):
            raise Refused(f"numpy array state {type(state).__name__}")
        shape, dtype, fortran, data = state[0], state[1].value, bool(state[2]), state[3]
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise Refused(f"numpy array shape {shape!r:.80}")
        ok = isinstance(data, list) and len(data) == math.prod(shape) if dtype.hasobject else \
            isinstance(data, bytes) and len(data) == math.prod(shape) * dtype.itemsize
        if not ok:
            raise Refused(f"numpy array data for {dtype} {list(shape)}")
        super().__setstate__((shape, dtype, fortran, data))


def _reconstruct(cls, shape, code):
    if cls is not _NDARRAY:
        raise Refused(f"numpy _reconstruct of {cls!r:.80}")
    return np.ndarray.__new__(_Array, (0,), np.uint8)


def _scalar(dtype, data):
    if not isinstance(dtype, _DType) or dtype.value.hasobject or not isinstance(data, bytes) \
            or len(data) != dtype.value.itemsize:
        raise Refused("numpy scalar")
    return np.frombuffer(data, dtype.value)[0]


class _Record:
    """Stand-in for a phiml dataclass: its pickled state (a list of field values with slots, else a dict)
    becomes attributes; `FIELDS` are the dataclass fields in order."""

    FIELDS: tuple[str, ...] = ()

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and state[0] is None:  # (None, slot dict)
            state = state[1]
        if isinstance(state, list) and len(state) == len(self.FIELDS):
            state = dict(zip(self.FIELDS, state))
        if not isinstance(state, dict) or not set(self.FIELDS) <= set(state):
            raise Refused(f"phiml {type(self).__name__[1:]} state")
        self.__dict__.update({k: state[k] for k in self.FIELDS})


class _Dim(_Record):
    FIELDS = ("name", "size", "dim_type", "slice_names")


class _PureShape(_Record):
    FIELDS = ("dim_type", "dims")


class _MixedShape(_Record):
    FIELDS = ("batch", "dual", "instance", "spatial", "channel", "dims")


_NDARRAY = object()  # `numpy.ndarray` as an argument of _reconstruct; never called
_NUMPY = {"_reconstruct": _reconstruct, "scalar": _scalar}
ALLOWED = {
    **{(m, n): f for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n, f in _NUMPY.items()},
    ("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): _DType,
    ("phiml.math._shape", "Dim"): _Dim, ("phiml.math._shape", "PureShape"): _PureShape,
    ("phiml.math._shape", "MixedShape"): _MixedShape,
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise Refused(f"{module}.{name}") from None

    def persistent_load(self, pid):
        raise Refused("a persistent id")


def loads(data: bytes, where: str):
    """Unpickle `data` with the allowlist; `where` (``"<file>: entry <name>"``) prefixes every error."""
    try:
        return _Unpickler(io.BytesIO(data)).load()
    except Refused as e:
        raise DataError(f"{where}: refused: its pickle names {e}, which a data file may not use (data files "
                        f"never run code: only plain values, NumPy arrays and phiml shapes are read)") from None
    except Exception as e:  # noqa: BLE001 - any failure to parse untrusted bytes is a data error
        raise DataError(f"{where}: not a readable pickle ({type(e).__name__}: {' '.join(str(e).split())[:120]})") \
            from None


def shape_dict(shape) -> dict:
    """A saved phiml shape as phiml's own dict form ``{names, types, item_names, sizes}``: a dict as is,
    or a `Dim`, `PureShape` or `MixedShape` rebuilt by `loads` (its `dims` in order)."""
    if isinstance(shape, dict):
        return shape
    if isinstance(shape, _Dim):
        dims = [shape]
    elif isinstance(shape, (_PureShape, _MixedShape)) and isinstance(shape.dims, dict):
        dims = list(shape.dims.values())
    else:
        dims = None
    if dims is None or not all(isinstance(d, _Dim) for d in dims):
        raise TypeError(f"not a phiml shape: {type(shape).__name__}")
    return {"names": [d.name for d in dims], "types": [d.dim_type for d in dims],
            "item_names": [d.slice_names for d in dims], "sizes": [d.size for d in dims]}


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every entry of an `.npz`: arrays by `np.load(allow_pickle=False)`, object arrays (pickles) by `loads`.
    Unreadable files and entries are a one-line `DataError` naming the file (and the entry)."""
    out = {}
    try:
        with zipfile.ZipFile(path) as z, np.load(path, allow_pickle=False) as npz:
            for info in z.infolist():
                name = info.filename.removesuffix(".npy")
                with z.open(info) as f:
                    shape, _, dtype = npy_header(f)
                    if not dtype.hasobject:
                        out[name] = npz[name]
                        continue
                    value = loads(f.read(), f"{path}: entry {name}")
                if not isinstance(value, np.ndarray) or value.shape != tuple(shape):
                    raise DataError(f"{path}: entry {name}: its pickle is not the object array its header declares")
                out[name] = value.view(np.ndarray)
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: not a readable .npz file ({' '.join(str(e).split())[:200]})") from None
    return out
