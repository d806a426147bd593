"""What a checkpoint file holds (tensor names, dtypes, shapes), read from its index alone.

No torch, no tensor data read, no object unpickled:

* ``.pth`` (torch's zip format): ``data.pkl`` describes the object tree and
  each tensor's storage record (``data/N``).  It is read by an unpickler whose
  only globals are stand-ins for torch's tensor-rebuild functions and storage
  types; any other global (the way a pickle runs code) is refused.
* ``.safetensors``: the JSON header.

A partially downloaded file still yields what it can: a zip whose directory
at the end is missing is walked entry by entry from the front, so the index
can say which tensors have all their bytes and which do not.
"""
from __future__ import annotations

import collections
import io
import json
import pickle
import pickletools
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

#: torch storage class name -> (dtype name, bytes per element)
STORAGE_DTYPES = {
    "FloatStorage": ("float32", 4), "HalfStorage": ("float16", 2), "BFloat16Storage": ("bfloat16", 2),
    "DoubleStorage": ("float64", 8), "LongStorage": ("int64", 8), "IntStorage": ("int32", 4),
    "ShortStorage": ("int16", 2), "CharStorage": ("int8", 1), "ByteStorage": ("uint8", 1),
    "BoolStorage": ("bool", 1), "ComplexFloatStorage": ("complex64", 8), "ComplexDoubleStorage": ("complex128", 16),
}
#: safetensors dtype code -> (dtype name, bytes per element)
SAFETENSORS_DTYPES = {
    "F32": ("float32", 4), "F16": ("float16", 2), "BF16": ("bfloat16", 2), "F64": ("float64", 8),
    "I64": ("int64", 8), "I32": ("int32", 4), "I16": ("int16", 2), "I8": ("int8", 1), "U8": ("uint8", 1),
    "BOOL": ("bool", 1), "F8_E4M3": ("float8_e4m3fn", 1), "F8_E5M2": ("float8_e5m2", 1),
}
#: a safetensors header larger than this is not a safetensors header
MAX_SAFETENSORS_HEADER = 100 * 2**20


class UnreadableIndex(ValueError):
    """The file's index cannot be read (not a checkpoint, or holds pickled objects)."""


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as the index describes it."""

    dtype: str
    shape: tuple
    nbytes: int
    complete: bool  # all its bytes are in the file

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass
class CheckpointIndex:
    path: Path
    format: str  # "torch zip" or "safetensors"
    root: object  # the saved object tree, TensorEntry at the leaves
    truncated: Optional[str] = None  # why the file is known to be cut short, or None


# --------------------------------------------------------------------------- torch zip


@dataclass(frozen=True)
class _StorageType:
    dtype: str
    itemsize: int


@dataclass(frozen=True)
class _Storage:
    dtype: str
    itemsize: int
    complete: bool


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    if not isinstance(storage, _Storage):
        raise UnreadableIndex("a tensor without a storage record")
    shape = tuple(int(d) for d in size)
    n = 1
    for d in shape:
        n *= d
    return TensorEntry(storage.dtype, shape, n * storage.itemsize, storage.complete)


def _rebuild_parameter(data, *_ignored):
    return data  # an nn.Parameter is saved as its tensor plus flags


def _latin1(text, encoding="latin1"):
    # protocol-2 pickles spell bytes as _codecs.encode(str, 'latin1')
    if not isinstance(text, str) or encoding != "latin1":
        raise UnreadableIndex("unexpected _codecs.encode call")
    return text.encode("latin1")


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch", "Size"): tuple,
    ("_codecs", "encode"): _latin1,
}


class _IndexUnpickler(pickle.Unpickler):
    """Rebuilds containers and numbers; tensors become TensorEntry; every other global is refused."""

    def __init__(self, stream, records: dict):
        super().__init__(stream)
        self.records = records  # record name -> (bytes present, full size)
        self.storage_bytes: dict = {}  # record name -> bytes its storage needs

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(*STORAGE_DTYPES[name])
        raise UnreadableIndex(f"holds a pickled {module}.{name}, which a plain tensor checkpoint never does")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise UnreadableIndex(f"unknown persistent record {pid!r:.80}")
        _, kind, key, _location, numel = pid
        record, need = f"data/{key}", int(numel) * kind.itemsize
        self.storage_bytes[record] = need
        present, full = self.records.get(record, (0, None))
        return _Storage(kind.dtype, kind.itemsize, present == full == need)


def _unpickle(data: bytes, records: dict) -> tuple[object, dict, int]:
    """(object tree, storage record sizes, bytes the pickle took) of torch's data.pkl."""
    stream = io.BytesIO(data)
    reader = _IndexUnpickler(stream, records)
    try:
        # Walked once by pickletools first: it reads what is there, where the C unpickler would
        # allocate whatever length a crafted BINBYTES/BINUNICODE claims (4 GiB from 5 bytes).
        for _ in pickletools.genops(data):
            pass
        root = reader.load()
    except UnreadableIndex:
        raise
    except Exception as exc:  # malformed or cut short: say what, not a traceback
        raise UnreadableIndex(f"unreadable index (data.pkl): {type(exc).__name__}: {exc}") from None
    return root, reader.storage_bytes, stream.tell()


def _inner(name: str) -> str:
    # torch writes every record under one top folder named after the file at save time
    return name.split("/", 1)[1] if "/" in name else name


def _read_torch_zip(path: Path) -> CheckpointIndex:
    try:
        with zipfile.ZipFile(path) as zf:
            # The directory is at the end: a file that has one was written whole.
            records = {_inner(i.filename): (i.file_size, i.file_size) for i in zf.infolist()}
            names = [n for n in zf.namelist() if _inner(n) == "data.pkl"]
            if not names:
                raise UnreadableIndex("a zip file without data.pkl: not a torch checkpoint")
            root = _unpickle(_read_capped(zf, names[0]), records)[0]
            truncated = None
    except zipfile.BadZipFile:
        root, truncated = _salvage(path)
    return CheckpointIndex(path, "torch zip", root, truncated)


def _read_capped(zf: zipfile.ZipFile, name: str) -> bytes:
    """A zip member of at most :data:`_MAX_PICKLE` bytes (a zip bomb is refused unread).

    zipfile inflates no more than the directory's stated size (and fails the
    CRC past it), so checking that size bounds the read.
    """
    if zf.getinfo(name).file_size > _MAX_PICKLE:
        raise UnreadableIndex(f"its index (data.pkl) is over {_MAX_PICKLE // 2**20} MiB: not a tensor checkpoint")
    return zf.read(name)


#: a zip local header: signature, (version), flags, method, (time, date, crc, sizes), name and extra lengths
_LOCAL = struct.Struct("<I2xHH8xI4xHH")
#: how far to look for the end of a small record of unknown size (torch's version, byteorder, ...)
_SMALL_RECORD = 4096
#: torch's data.pkl is a few hundred KiB for the largest model here; a larger one is refused unread
_MAX_PICKLE = 64 * 2**20


def _salvage(path: Path) -> tuple[object, str]:
    """Index of a torch zip cut short (no directory at the end): walk its records from the front.

    torch streams records, so the local headers carry no sizes; the index
    (data.pkl, always first) gives each tensor record's size, and each record
    is followed by a data descriptor that confirms it.
    """
    size = path.stat().st_size
    why = f"the file ends at {size:,} bytes, before the zip directory (an unfinished download?)"
    with open(path, "rb") as fh:
        name, pkl_start, _ = _local_header(fh, 0, size)
        if name is None:
            raise UnreadableIndex(f"{why}; not even its index (data.pkl) arrived")
        if name != "data.pkl":
            raise UnreadableIndex(f"{why}; its first record is not data.pkl")
        try:
            _root, storage_bytes, used = _unpickle(_read_at(fh, pkl_start, min(size - pkl_start, _MAX_PICKLE)), {})
        except UnreadableIndex:
            raise UnreadableIndex(f"{why}; not even its index (data.pkl) arrived whole") from None
        records = {"data.pkl": (used, used)}
        offset = _after_descriptor(fh, pkl_start, used)
        if offset is None:  # a zip with sizes in its headers: the next record follows the data directly
            offset = pkl_start + used
        while offset + 30 <= size:
            name, start, stated = _local_header(fh, offset, size)
            if name is None:
                break
            need = stated if stated is not None else storage_bytes.get(name)
            if need is None:
                need = _find_small_record(fh, start)
                if need is None:
                    break
            records[name] = (max(0, min(need, size - start)), need)
            offset = start + need if stated is not None else _after_descriptor(fh, start, need)
            if offset is None:
                break
        # Second pass now that the records are known: which tensors have all their bytes.
        root = _unpickle(_read_at(fh, pkl_start, used), records)[0]
    return root, why


def _read_at(fh, offset: int, n: int) -> bytes:
    fh.seek(offset)
    return fh.read(n)


def _local_header(fh, offset: int, size: int) -> tuple[Optional[str], int, Optional[int]]:
    """(record name, offset of its data, its size when the header states it) at ``offset``, or (None, 0, None)."""
    head = _read_at(fh, offset, 30)
    if len(head) < 30:
        return None, 0, None
    sig, flags, method, csize, nlen, xlen = _LOCAL.unpack(head)
    if sig != 0x04034B50 or method != 0:
        return None, 0, None
    start = offset + 30 + nlen + xlen
    if start > size:
        return None, 0, None
    name = _inner(fh.read(nlen).decode("utf-8", "replace"))
    if flags & 0x8:  # streamed (torch): the size is in a descriptor after the data
        return name, start, None
    if csize == 0xFFFFFFFF:
        csize = _zip64_size(fh.read(xlen))
    return name, start, csize


def _zip64_size(extra: bytes) -> Optional[int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        if tag == 0x0001 and length >= 16:
            return struct.unpack_from("<Q", extra, pos + 12)[0]  # (uncompressed, compressed)
        pos += 4 + length
    return None


def _after_descriptor(fh, start: int, length: int) -> Optional[int]:
    """Offset just past the data descriptor that must follow ``length`` bytes at ``start``, or None."""
    end = start + length
    desc = _read_at(fh, end, 24)
    if desc[:4] != b"PK\x07\x08":
        return None
    if len(desc) >= 24 and struct.unpack_from("<QQ", desc, 8) == (length, length):
        return end + 24  # zip64 sizes
    if len(desc) >= 16 and struct.unpack_from("<II", desc, 8) == (length, length):
        return end + 16
    return None


def _find_small_record(fh, start: int) -> Optional[int]:
    """Length of a small record of unknown size: where a descriptor naming that length follows it."""
    window = _read_at(fh, start, _SMALL_RECORD + 24)
    pos = window.find(b"PK\x07\x08")
    while pos >= 0:
        if _after_descriptor(fh, start, pos) is not None:
            return pos
        pos = window.find(b"PK\x07\x08", pos + 1)
    return None


# --------------------------------------------------------------------------- safetensors


def _read_safetensors(path: Path) -> CheckpointIndex:
    file_bytes = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise UnreadableIndex(f"only {file_bytes} bytes: not even the safetensors header length arrived")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_SAFETENSORS_HEADER:
            raise UnreadableIndex("not a safetensors file (header length out of range)")
        raw = fh.read(n)
    if len(raw) < n:
        raise UnreadableIndex(f"the file ends at {file_bytes:,} bytes, inside its safetensors header")
    tensors, end = safetensors_entries(raw, n, file_bytes)
    truncated = None
    if 8 + n + end > file_bytes:
        truncated = f"the file ends at {file_bytes:,} bytes of {8 + n + end:,}"
    return CheckpointIndex(path, "safetensors", tensors, truncated)


#: the limits a safetensors header is held to (docs/hunyuan.md, "Checkpoint-header limits")
MAX_DIM_DIGITS = 19  # a dimension fits an int64, as in the format's own reader
MAX_DIMS = 16


def _parse_header_json(raw: bytes, what: str):
    """JSON of a header; too deep a nesting (C json's recursion guard) or bad JSON is one line, not a traceback.

    Nothing deeper than a shape list is ever looked at: the entries are checked field by field after.
    """
    try:
        return json.loads(raw)
    except RecursionError:
        raise UnreadableIndex(f"{what} is nested too deep to be a checkpoint header") from None
    except ValueError:
        raise UnreadableIndex(f"{what} is not JSON") from None


def _dims(shape, name: str) -> tuple:
    if not isinstance(shape, list) or len(shape) > MAX_DIMS:
        raise UnreadableIndex(f"tensor {name}: shape is not a list of at most {MAX_DIMS} dimensions")
    for d in shape:
        # bool is an int in Python; strings ("1e999"), floats and huge numbers are not dimensions
        if type(d) is not int or d < 0 or len(str(d)) > MAX_DIM_DIGITS:
            raise UnreadableIndex(f"tensor {name}: dimension {str(d)[:24]!r} is not a non-negative integer")
    return tuple(shape)


def safetensors_entries(raw: bytes, n: int, file_bytes: int) -> tuple[dict, int]:
    """(name -> TensorEntry, end of the data) of a safetensors header, or UnreadableIndex saying what is wrong.

    The policy the loader shares: every entry a dict with a known dtype, a
    shape of non-negative integers, ``data_offsets`` two integers with
    ``0 <= begin <= end`` spanning exactly shape x dtype bytes, and no two
    tensors' ranges overlapping.
    """
    header = _parse_header_json(raw, "safetensors header")
    if not isinstance(header, dict):
        raise UnreadableIndex("not a safetensors file (its header is not a JSON object)")
    tensors, ranges = {}, []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict):
            raise UnreadableIndex(f"tensor {name[:80]}: its entry is {type(info).__name__}, not an object")
        code = info.get("dtype")
        if not isinstance(code, str) or code not in SAFETENSORS_DTYPES:
            raise UnreadableIndex(f"tensor {name[:80]} has an unknown dtype {str(code)[:20]!r}")
        dtype, itemsize = SAFETENSORS_DTYPES[code]
        shape = _dims(info.get("shape"), name[:80])
        offsets = info.get("data_offsets")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1]):
            raise UnreadableIndex(f"tensor {name[:80]}: data_offsets must be two integers 0 <= begin <= end")
        begin, stop = offsets
        entry = TensorEntry(dtype, shape, stop - begin, 8 + n + stop <= file_bytes)
        if entry.nbytes != entry.numel * itemsize:
            raise UnreadableIndex(f"tensor {name[:80]}: its range holds {entry.nbytes} bytes, its shape and "
                                  f"dtype need {entry.numel * itemsize}")
        tensors[name] = entry
        ranges.append((begin, stop, name))
    ranges.sort()
    for (_b, stop, first), (begin, _s, second) in zip(ranges, ranges[1:]):
        if begin < stop:
            raise UnreadableIndex(f"tensors {first[:80]} and {second[:80]} overlap in the file")
    return tensors, max((stop for _b, stop, _n in ranges), default=0)


#: a transformers folder's weights: one file, or shards named by an index
HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
HF_SHARD_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def shard_names(index_file: Path) -> list[str]:
    """The shard files a transformers ``*.index.json`` names, each confined to the index's folder.

    Shared by ``foley models verify`` and the loader: an index that is not an
    object with a ``weight_map`` of names, or a shard name that is absolute,
    climbs out (``..``) or leads outside the folder through a link, is refused.
    """
    raw = index_file.read_bytes()[:MAX_SAFETENSORS_HEADER + 1]
    if len(raw) > MAX_SAFETENSORS_HEADER:
        raise UnreadableIndex(f"{index_file.name} is over {MAX_SAFETENSORS_HEADER // 2**20} MiB")
    data = _parse_header_json(raw, index_file.name)
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise UnreadableIndex(f"{index_file.name} is not a shard index (no weight_map of file names)")
    folder = index_file.parent.resolve()
    names = sorted(set(weight_map.values()))
    for name in names:
        if not name or "\x00" in name:  # no file has that name (and the OS refuses a NUL in a path)
            raise UnreadableIndex(f"{index_file.name} names a shard that cannot be a file name: {name[:120]!r}")
        target = (folder / name).resolve()
        if Path(name).is_absolute() or ".." in Path(name).parts or folder not in target.parents:
            raise UnreadableIndex(f"{index_file.name} names a shard outside its folder: {name[:120]!r}")
    return names


# --------------------------------------------------------------------------- entry point


def read_index(path) -> CheckpointIndex:
    """Index of a ``.pth`` (torch zip) or ``.safetensors`` file; raises UnreadableIndex saying why not."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableIndex("no such file")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    if magic == b"PK\x03\x04":
        return _read_torch_zip(path)
    if magic[:1] == b"\x80":
        raise UnreadableIndex("a legacy (pre-1.6) torch file or a bare pickle: it has no index to read "
                          "(re-save it with a current torch, or as safetensors)")
    if not magic:
        raise UnreadableIndex("the file is empty")
    try:
        return _read_safetensors(path)  # safetensors under another name
    except UnreadableIndex:
        raise UnreadableIndex("neither a torch zip checkpoint nor safetensors") from None


def tensors_of(index: CheckpointIndex) -> dict:
    """Every TensorEntry leaf of the object tree, by dotted path (for counting and listing)."""
    out: dict = {}
    inside: set = set()  # containers on the current path: a pickle may hold one inside itself

    def walk(obj, prefix):
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in inside or len(inside) > 64:
                raise UnreadableIndex("its object tree contains itself (or nests over 64 deep)")
            inside.add(id(obj))
            try:
                visit(obj, prefix)
            finally:
                inside.discard(id(obj))
        elif isinstance(obj, TensorEntry):
            out[prefix] = obj

    def visit(obj, prefix):
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, f"{prefix}.{k}" if prefix else str(k))
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(v, f"{prefix}.{i}" if prefix else str(i))

    walk(index.root, "")
    return out
