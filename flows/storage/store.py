"""Export files in object storage through fsspec: a local folder by default, or S3 (s3fs).

An upload streams to a temporary key under `<root>/.tmp/`, hashing as it writes, checks the
stored size, then promotes the temporary to the final key (local: fsync and atomic rename;
S3: server-side copy, then delete). A failed upload leaves nothing under the final key.
Keys are checked by flows/storage/keys.py; errors come out as flows/storage/failures.py says.
"""

import hashlib
import logging
import os
import posixpath
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem
from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
from s3fs import S3FileSystem
from s3fs.core import MANAGED_COPY_THRESHOLD

from flows.errors import TerminalError, TransientError, describe_error
from flows.settings import Settings
from flows.storage.failures import ObjectNotFoundError, storage_errors
from flows.storage.keys import TEMP_DIR, validate_key

logger = logging.getLogger(__name__)

DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024
"""Bytes buffered per S3 part (the S3 minimum is 5 MiB) and per S3 read request."""
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    """A stored file: key, size in bytes, sha256 (hex), and location (for people; never a download URL)."""

    key: str
    size: int
    sha256: str
    location: str


@dataclass(frozen=True, order=True)
class ListedObject:
    """A stored file as a listing shows it: key, size in bytes, and when it was last written (UTC)."""

    key: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class Storage:
    """Files under `root` of an fsspec filesystem; build it with `open_storage`, or directly in tests."""

    filesystem: AbstractFileSystem
    root: str
    block_size: int = DEFAULT_BLOCK_SIZE

    @property
    def is_local(self) -> bool:
        return isinstance(self.filesystem, LocalFileSystem)

    def upload(self, local_path: Path, key: str, content_type: str) -> StoredObject:
        """Store a local file under `key`, via a temporary key; on any failure nothing is left behind."""
        final = self._path(validate_key(key))
        temp = self._path(f"{TEMP_DIR}/{uuid.uuid4().hex}-{posixpath.basename(key)}.part")
        with storage_errors(f"storing {key}"):
            try:
                size, sha256 = self._write(local_path, temp, content_type)
                self._promote(temp, final, size, content_type)
            except BaseException:
                self._remove_quietly(temp)
                raise
        logger.info("stored %s (%d bytes, sha256 %s)", key, size, sha256)
        return StoredObject(key, size, sha256, self.filesystem.unstrip_protocol(final))

    def delete(self, key: str) -> None:
        """Remove the file under `key`; removing a missing file is not an error."""
        path = self._path(validate_key(key))
        with storage_errors(f"deleting {key}"), suppress(FileNotFoundError):
            self.filesystem.rm_file(path)

    def exists(self, key: str) -> bool:
        return self._file_info(key) is not None

    def size(self, key: str) -> int:
        info = self._file_info(key)
        if info is None:
            raise ObjectNotFoundError(f"no stored file {key}")
        return int(info["size"])

    def open_read(self, key: str) -> IO[bytes]:
        """A binary stream of the file under `key` (errors while reading it are the library's OSErrors)."""
        path = self._path(validate_key(key))
        with storage_errors(f"opening {key}"):
            try:
                stream: IO[bytes] = self.filesystem.open(path, "rb", block_size=self.block_size)
            except FileNotFoundError:
                raise ObjectNotFoundError(f"no stored file {key}") from None
        return stream

    def presigned_url(
        self, key: str, expires_seconds: int, *, content_type: str, content_disposition: str
    ) -> str:
        """A presigned S3 GET of the file under `key`, answered with these Content-Type and
        Content-Disposition headers; a secret: never log it. Local storage cannot presign."""
        if not isinstance(self.filesystem, S3FileSystem):
            raise TerminalError("presigned URLs need S3 storage")
        path = self._path(validate_key(key))
        with storage_errors(f"presigning {key}"):
            url: str = self.filesystem.url(
                path,
                expires=expires_seconds,
                ResponseContentType=content_type,
                ResponseContentDisposition=content_disposition,
            )
        return url

    def list_keys(self, prefix: str = "") -> list[str]:
        """Keys of the stored files under the folder `prefix` (all when empty), sorted; no temporaries."""
        base = self._path(validate_key(prefix.rstrip("/"))) if prefix else self.root
        with storage_errors(f"listing {prefix or 'all keys'}"):
            paths: list[str] = self.filesystem.find(base)
        keys = (self._key(path) for path in paths if path == base or path.startswith(f"{base}/"))
        return sorted(key for key in keys if not key.startswith(f"{TEMP_DIR}/"))

    def list_objects(self, folder: str) -> list[ListedObject]:
        """The stored files under `folder` (`.tmp`: upload temporaries) with their size and age, by key."""
        base = self._path(folder if folder == TEMP_DIR else validate_key(folder.rstrip("/")))
        with storage_errors(f"listing {folder}"):
            found: dict[str, dict[str, Any]] = self.filesystem.find(base, detail=True)
        return sorted(
            ListedObject(self._key(path), int(info["size"]), _modified(info))
            for path, info in found.items()
            if path.startswith(f"{base}/")
        )

    def remove_stale_temporaries(self, older_than: timedelta) -> int:
        """Remove temporaries of uploads that started more than `older_than` ago and never finished
        (files under `.tmp/` and, on S3, unfinished multipart uploads); return how many."""
        cutoff = datetime.now(UTC) - older_than
        temp_root = self._path(TEMP_DIR)
        removed = 0
        with storage_errors("removing stale temporaries"):
            for path in self.filesystem.find(temp_root):
                with suppress(FileNotFoundError):  # promoted or removed meanwhile
                    if self.filesystem.modified(path) < cutoff:
                        self.filesystem.rm_file(path)
                        removed += 1
            if isinstance(self.filesystem, S3FileSystem):
                removed += self._abort_stale_multipart_uploads(cutoff)
        if removed:
            logger.info("removed %d stale temporaries", removed)
        return removed

    def _write(self, source: Path, temp: str, content_type: str) -> tuple[int, str]:
        """Stream `source` to `temp` in chunks; return the bytes written and their sha256."""
        if self.is_local:
            self.filesystem.makedirs(posixpath.dirname(temp), exist_ok=True)
        digest = hashlib.sha256()
        written = 0
        # ContentType is what s3fs sends with the object; the local filesystem ignores it.
        out = self.filesystem.open(temp, "wb", block_size=self.block_size, ContentType=content_type)
        try:
            with source.open("rb") as reader:
                while chunk := reader.read(READ_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    written += len(chunk)
            if self.is_local:
                out.flush()
                os.fsync(out.fileno())
            out.close()
        except BaseException:
            _abandon(out, temp)
            raise
        stored = self.filesystem.size(temp)
        if stored != written:
            raise TransientError(f"storage kept {stored} of the {written} bytes written to {temp}")
        return written, digest.hexdigest()

    def _promote(self, temp: str, final: str, size: int, content_type: str) -> None:
        """Make the complete temporary file visible under its final key."""
        if self.is_local:
            directory = posixpath.dirname(final)
            self.filesystem.makedirs(directory, exist_ok=True)
            Path(temp).replace(final)
            _fsync_directory(directory)
            return
        # s3fs copies up to MANAGED_COPY_THRESHOLD with one CopyObject, which keeps the source's
        # metadata unless told to replace it (s3fs stores empty files without their ContentType);
        # above it, with a multipart copy that takes its metadata from these arguments alone.
        replace = {"MetadataDirective": "REPLACE"} if size <= MANAGED_COPY_THRESHOLD else {}
        try:
            self.filesystem.copy(temp, final, ContentType=content_type, **replace)
        except BaseException:
            self._remove_quietly(final)  # an interrupted copy may still have completed
            raise
        self._remove_quietly(temp)

    def _abort_stale_multipart_uploads(self, cutoff: datetime) -> int:
        bucket, _, prefix = self.root.partition("/")
        response = self.filesystem.call_s3(
            "list_multipart_uploads", Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""
        )
        stale = [upload for upload in response.get("Uploads", []) if upload["Initiated"] < cutoff]
        for upload in stale:
            self.filesystem.abort_mpu(bucket, upload["Key"], upload["UploadId"])
        return len(stale)

    def _remove_quietly(self, path: str) -> None:
        with _quietly(f"removing {path}"), suppress(FileNotFoundError):
            self.filesystem.rm_file(path)

    def _file_info(self, key: str) -> dict[str, Any] | None:
        path = self._path(validate_key(key))
        with storage_errors(f"looking up {key}"):
            try:
                info: dict[str, Any] = self.filesystem.info(path)
            except FileNotFoundError:
                return None
        return info if info["type"] == "file" else None

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def _key(self, path: str) -> str:
        return path[len(self.root) + 1 :]


def open_storage(settings: Settings, *, attempts: int = 3, block_size: int = DEFAULT_BLOCK_SIZE) -> Storage:
    """The storage `settings.storage_url` names: a local folder (created if missing) or s3://bucket/prefix.

    `attempts` is how many times one S3 request is tried before its error is raised (botocore's
    standard retry mode; s3fs's own retries are set to the same number).
    """
    url = settings.storage_url
    if url.startswith(("s3://", "s3a://")):
        options: dict[str, Any] = {
            "use_listings_cache": False,  # other processes add and delete files
            "config_kwargs": {
                "retries": {"mode": "standard", "total_max_attempts": attempts},
                "signature_version": "s3v4",  # presigned download URLs: SigV2 is refused by newer regions
            },
        }
        if settings.s3_endpoint_url:
            options["endpoint_url"] = settings.s3_endpoint_url
        filesystem, root = fsspec.core.url_to_fs(url, **options)
        filesystem.retries = attempts
    else:
        filesystem, root = fsspec.core.url_to_fs(url)
        filesystem.makedirs(root, exist_ok=True)
    return Storage(filesystem, root.rstrip("/"), block_size)


def _abandon(stream: Any, path: str) -> None:
    """Close a half-written file without committing it (S3: abort its multipart upload)."""
    with _quietly(f"discarding the partial upload {path}"):
        if isinstance(stream, AbstractBufferedFile):
            # Marked closed first, so neither close() nor garbage collection commits the parts.
            stream.closed = True
            stream.discard()
        else:
            stream.close()


@contextmanager
def _quietly(action: str) -> Iterator[None]:
    """Cleanup after a failure: log what could not be done (cleanup will retry it) and go on."""
    try:
        yield
    except Exception as error:
        logger.warning("%s failed, left for cleanup: %s", action, describe_error(error))


def _modified(info: dict[str, Any]) -> datetime:
    """Last-written time of a listed file: S3's LastModified, or a local file's mtime."""
    if "LastModified" in info:
        modified: datetime = info["LastModified"]
        return modified.astimezone(UTC)
    return datetime.fromtimestamp(info["mtime"], UTC)


def _fsync_directory(directory: str) -> None:
    """Make a rename in `directory` durable."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
