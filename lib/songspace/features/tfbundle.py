"""Read a TensorFlow 1 TensorBundle checkpoint (``<prefix>.index`` + ``<prefix>.data-00000-of-00001``).

Plain Python and numpy on purpose: the project does not depend on TensorFlow (about 2 GB), and the
``protobuf`` package alone has no compiled ``BundleEntryProto`` class, so the few fields needed are
decoded by hand. The format is small and frozen:

- ``.index`` is a LevelDB-format SSTable, stored uncompressed: data blocks of prefix-compressed
  ``key -> value`` entries, an index block pointing at them, and a 48-byte footer ending in the magic
  number ``0xdb4775248b80fb57``.
- each key is a variable name (``conv2d/kernel``); the empty key holds the bundle header. Each value is
  a ``BundleEntryProto``: dtype (field 1), shape (2), shard_id (3), offset (4), size (5), crc32c (6),
  slices (7), giving where the raw little-endian tensor bytes lie in the ``.data-*`` shard file.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = 0xDB4775248B80FB57
FOOTER_LEN = 48
BLOCK_TRAILER_LEN = 5  # 1 byte compression type + 4 bytes masked crc32c
# tensorflow/core/framework/types.proto DataType values -> numpy dtypes (the ones checkpoints hold)
DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 6: np.int8, 9: np.int64, 10: np.bool_,
          19: np.float16}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or lacks what a model needs."""


@dataclass(frozen=True)
class Entry:
    """Where one variable lies in the data shard: dtype (numpy), shape, shard, byte offset and size."""
    dtype: type
    shape: tuple
    shard_id: int
    offset: int
    size: int


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a protobuf/LevelDB base-128 varint at ``pos``; return (value, next position)."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes):
    """Yield (field number, wire type, value) of a protobuf message; length-delimited values are bytes."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def _shape(buf: bytes) -> tuple:
    """TensorShapeProto: repeated Dim (field 2) whose size is field 1."""
    dims = []
    for field, _, value in _fields(buf):
        if field == 2:
            dims.append(next((v for f, _, v in _fields(value) if f == 1), 0))
    return tuple(dims)


def _entry(buf: bytes) -> Entry:
    f = dict(dtype=0, shape=(), shard_id=0, offset=0, size=0, slices=False)
    for field, _, value in _fields(buf):
        if field == 1:
            f["dtype"] = value
        elif field == 2:
            f["shape"] = _shape(value)
        elif field in (3, 4, 5):
            f[("shard_id", "offset", "size")[field - 3]] = value
        elif field == 7:
            f["slices"] = True
    if f["slices"]:
        raise CheckpointError("partitioned (sliced) variables are not supported")
    return Entry(DTYPES.get(f["dtype"], None), f["shape"], f["shard_id"], f["offset"], f["size"])


def _block(data: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """Entries of one SSTable block (keys are stored as shared-prefix length + suffix)."""
    if offset + size + BLOCK_TRAILER_LEN > len(data):
        raise CheckpointError("block runs past the end of the file")
    if data[offset + size] != 0:
        raise CheckpointError("compressed SSTable blocks are not supported")
    block = data[offset:offset + size]
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 * (n_restarts + 1)
    out, key, pos = [], b"", 0
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        out.append((key, block[pos:pos + vlen]))
        pos += vlen
    return out


def _handle(buf: bytes, pos: int = 0) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return offset, size, pos


def read_index(index_path: str | os.PathLike) -> dict[str, Entry]:
    """Parse a TensorBundle ``.index`` file.

    Parameters
    ----------
    index_path : path
        The ``<prefix>.index`` file.

    Returns
    -------
    dict
        Variable name -> ``Entry`` (the bundle header, under the empty key, is left out).

    Raises
    ------
    CheckpointError
        The file is not an uncompressed LevelDB-format table (bad magic, truncated, compressed).
    """
    data = Path(index_path).read_bytes()
    if len(data) < FOOTER_LEN or struct.unpack_from("<Q", data, len(data) - 8)[0] != MAGIC:
        raise CheckpointError(f"{index_path}: not a TensorBundle index (no SSTable magic number)")
    footer = data[-FOOTER_LEN:]
    _, _, pos = _handle(footer)  # metaindex block: unused by TensorBundle
    index_offset, index_size, _ = _handle(footer, pos)
    entries = {}
    try:
        for _, handle in _block(data, index_offset, index_size):
            offset, size, _ = _handle(handle)
            for key, value in _block(data, offset, size):
                if key:
                    entries[key.decode()] = _entry(value)
    except (struct.error, IndexError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{index_path}: corrupt TensorBundle index ({e})") from e
    return entries


def load_variables(prefix: str | os.PathLike, names=None) -> dict[str, np.ndarray]:
    """Read variables of a single-shard TF1 checkpoint into numpy arrays.

    Parameters
    ----------
    prefix : path
        Checkpoint prefix: ``<prefix>.index`` and ``<prefix>.data-00000-of-00001`` must exist (for
        musicnn's folders the prefix is ``<folder>/``, so the files are ``.index`` and ``.data-...``).
    names : iterable of str, optional
        Variables to read (default all). Absent names are simply not returned: callers check.

    Returns
    -------
    dict
        Name -> array of the stored dtype and shape (TF layouts: conv kernels HWIO, dense kernels (in, out)).
    """
    prefix = str(prefix)
    index_path, data_path = prefix + ".index", prefix + ".data-00000-of-00001"
    for p in (index_path, data_path):
        if not os.path.isfile(p):
            raise CheckpointError(f"{p}: checkpoint file missing")
    entries = read_index(index_path)
    wanted = entries.keys() if names is None else [n for n in names if n in entries]
    out = {}
    with open(data_path, "rb") as f:
        for name in wanted:
            e = entries[name]
            if e.shard_id != 0:
                raise CheckpointError(f"{index_path}: {name} is in shard {e.shard_id}; only one shard is supported")
            if e.dtype is None:
                raise CheckpointError(f"{index_path}: {name} has an unsupported dtype")
            f.seek(e.offset)
            raw = f.read(e.size)
            n = int(np.prod(e.shape, dtype=np.int64))
            if len(raw) != e.size or e.size != n * np.dtype(e.dtype).itemsize:
                raise CheckpointError(f"{data_path}: {name} should hold {n} values of {np.dtype(e.dtype)} "
                                      f"but {len(raw)} bytes were read")
            out[name] = np.frombuffer(raw, dtype=np.dtype(e.dtype).newbyteorder("<")).reshape(e.shape).copy()
    return out
