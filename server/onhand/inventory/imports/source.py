"""An import's file, read from where it lies: an uploaded file spooled to disk, a file on disk
(the command line), or bytes already in memory (CSV text, small files). The import reads it
row by row, so a file of hundreds of megabytes never sits whole in the server's memory."""

from __future__ import annotations

import hashlib
import io
import os
from typing import BinaryIO

CHUNK_BYTES = 1024 * 1024


class ImportFile:
    def __init__(self, file: BinaryIO, size: int | None = None) -> None:
        self.file = file
        if size is None:
            size = file.seek(0, os.SEEK_END)
        self.size = size

    @classmethod
    def of(cls, source: bytes | ImportFile) -> ImportFile:
        if isinstance(source, ImportFile):
            return source
        return cls(io.BytesIO(source), len(source))

    def rewound(self) -> BinaryIO:
        self.file.seek(0)
        return self.file

    def sha256(self) -> str:
        """The file's digest (for idempotency and the job), reading it a chunk at a time."""
        digest = hashlib.sha256()
        file = self.rewound()
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
        return digest.hexdigest()

    def close(self) -> None:
        self.file.close()
