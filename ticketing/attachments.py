"""Attachments: type decided by content (magic bytes) from an allowlist, size-limited,
stored on disk under random names; served so that nothing uploaded can run as a page.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ticketing.errors import DeskError

MAX_ATTACHMENT_BYTES = int(os.environ.get("MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024))
ATTACHMENTS_DIR = Path(os.environ.get("ATTACHMENTS_DIR", "data/attachments"))

# (magic prefix, content type); text is recognised separately.
_SIGNATURES: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
]
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


class AttachmentRefused(DeskError):
    code = "attachment_refused"
    http_status = 415


class AttachmentTooLarge(DeskError):
    code = "attachment_too_large"
    http_status = 413


@dataclass(frozen=True)
class StoredFile:
    storage_key: str
    content_type: str
    size: int


def sniff(data: bytes) -> str | None:
    """The content type by what the bytes are, not by what the upload claims."""
    for magic, content_type in _SIGNATURES:
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    head = data[:4096].lstrip().lower()
    if head.startswith((b"<", b"<?xml", b"<!doctype")) or b"<svg" in head or b"<script" in head:
        return None  # markup (HTML, SVG, XML) could run script if ever opened inline
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/plain"


def safe_filename(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/")).strip().replace("\x00", "")
    cleaned = "".join(c for c in base if c.isprintable() and c not in '"\r\n')
    return cleaned[:200] or "file"


def store(data: bytes, directory: Path | None = None) -> StoredFile:
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentTooLarge(
            f"A file may be at most {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB."
        )
    if not data:
        raise AttachmentRefused("The file is empty.")
    content_type = sniff(data)
    if content_type is None:
        raise AttachmentRefused(
            "This kind of file can't be attached. Images, PDF, ZIP and text files can."
        )
    folder = directory or ATTACHMENTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(24)
    (folder / key).write_bytes(data)
    return StoredFile(key, content_type, len(data))


def path_of(storage_key: str, directory: Path | None = None) -> Path:
    return (directory or ATTACHMENTS_DIR) / storage_key
