"""Dead letters: anything a consumer could not process, kept with its error."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from valora_contracts.envelope import Envelope, WholeNumber

__all__ = ["MAX_ERROR_CHARS", "MAX_KEY_BYTES", "MAX_ORIGINAL_BYTES", "DeadLetter", "ErrorClassName"]


MAX_ORIGINAL_BYTES = 64 * 1024
"""A dead letter keeps at most this much of the original value (and says how much there was), so
writing it never fails for size, whatever the record was."""
MAX_KEY_BYTES = 1024
MAX_ERROR_CHARS = 4000

ErrorClassName = Literal["permanent", "unknown"]


class DeadLetter(Envelope):
    """The original record (up to 64 KiB of it), plus why it failed and where it came from.

    Bytes are raw bytes in Python and base64 strings in JSON. ``original_size`` and
    ``original_sha256`` describe the whole original value; ``original_truncated`` says whether
    ``original`` holds all of it (only then can the record be replayed).
    """

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    original: bytes = Field(
        max_length=MAX_ORIGINAL_BYTES,
        description="Original record value, its first 64 KiB at most (base64 in JSON).",
    )
    original_size: WholeNumber = Field(
        ge=0, le=2**31 - 1, description="Size of the whole original value in bytes."
    )
    original_sha256: str = Field(
        min_length=64,
        max_length=64,
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of the whole original value.",
    )
    original_truncated: bool = Field(
        description="True when ``original`` is only the start of the value (not replayable)."
    )
    original_key: bytes | None = Field(
        default=None,
        max_length=MAX_KEY_BYTES,
        description="Original record key, its first 1 KiB at most (base64 in JSON).",
    )
    error_class: ErrorClassName = Field(
        description="permanent: the record can never succeed (dead-lettered at once); unknown: "
        "an unexpected error that persisted through the bounded retries."
    )
    error_type: str = Field(max_length=200, description="Exception class or error code.")
    error: str = Field(max_length=MAX_ERROR_CHARS, description="Error message (the reason).")
    attempts: WholeNumber = Field(ge=1, le=1_000, description="Times the record was tried.")
    source_topic: str = Field(max_length=249, description="Topic the record came from.")
    source_partition: WholeNumber = Field(ge=0, le=2**31 - 1, description="Partition it came from.")
    source_offset: WholeNumber = Field(ge=0, le=2**63 - 1, description="Offset it had.")
    service: str = Field(max_length=200, description="Service that gave up on it.")
