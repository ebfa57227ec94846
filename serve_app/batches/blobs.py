"""Batch files on disk: append-only sequences of sealed records, one file per blob under the data directory.

Each record is a 4-byte length and the record sealed under the file's key (``serve_app.batches.crypto``), its
associated data naming the blob and the record's place in it. Appends are flushed to disk before they count, so
a batch resumed after a crash finds every result it wrote; a record torn by the crash is cut off. Nothing here
ever holds a plaintext byte on disk.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from serve_app.batches.crypto import open_sealed, record_context, seal

LENGTH = struct.Struct(">I")


class Blobs:
    """The folder of a replica's (or a shared volume's) encrypted batch files."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def path(self, blob: str) -> Path:
        if not blob.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"not a blob name: {blob!r}")
        return self._folder / f"{blob}.sealed"

    def write(self, blob: str, key: bytes, records: Iterable[bytes]) -> int:
        """A new blob of ``records``, written whole or not at all; the bytes stored."""
        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = self.path(blob)
        partial = final.with_suffix(".partial")
        with partial.open("wb") as out:
            for index, record in enumerate(records):
                _write_record(out, seal(key, record, record_context(blob, index)))
            out.flush()
            os.fsync(out.fileno())
        partial.replace(final)
        return final.stat().st_size

    def read(self, blob: str, key: bytes) -> Iterator[bytes]:
        """The records of a blob, opened with ``key`` (``KeyMismatchError`` on a wrong key); stops before a torn
        last record."""
        path = self.path(blob)
        if not path.exists():
            return
        with path.open("rb") as data:
            for index, sealed in enumerate(_sealed_records(data.read())):
                yield open_sealed(key, sealed, record_context(blob, index))

    def appender(self, blob: str, key: bytes) -> Appender:
        """Appends to ``blob`` (created if missing) after cutting off a record torn by a crash."""
        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.path(blob)
        data = path.read_bytes() if path.exists() else b""
        records = list(_sealed_records(data))
        complete = sum(LENGTH.size + len(sealed) for sealed in records)
        count = len(records)
        with path.open("ab") as out:
            out.truncate(complete)
        return Appender(path, blob, key, count)

    def delete(self, blob: str) -> None:
        for path in (self.path(blob), self.path(blob).with_suffix(".partial")):
            path.unlink(missing_ok=True)

    def names(self) -> set[str]:
        """The blobs on disk (to find those no row names any more)."""
        if not self._folder.exists():
            return set()
        return {path.stem for path in self._folder.iterdir() if path.suffix in {".sealed", ".partial"}}


class Appender:
    def __init__(self, path: Path, blob: str, key: bytes, count: int) -> None:
        self._path = path
        self.blob = blob
        self._key = key
        self.count = count

    def append(self, record: bytes) -> None:
        sealed = seal(self._key, record, record_context(self.blob, self.count))
        with self._path.open("ab") as out:
            _write_record(out, sealed)
            out.flush()
            os.fsync(out.fileno())
        self.count += 1


def _write_record(out: BinaryIO, sealed: bytes) -> None:
    out.write(LENGTH.pack(len(sealed)) + sealed)


def _sealed_records(data: bytes) -> Iterator[bytes]:
    offset = 0
    while offset + LENGTH.size <= len(data):
        (length,) = LENGTH.unpack_from(data, offset)
        end = offset + LENGTH.size + length
        if end > len(data):
            return
        yield data[offset + LENGTH.size:end]
        offset = end
