"""Dead letters: anything a consumer could not process, kept with its error."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from valora_contracts.envelope import Envelope

__all__ = ["DeadLetter"]


class DeadLetter(Envelope):
    """The original record, untouched, plus why it failed and where it came from.

    Bytes are raw bytes in Python and base64 strings in JSON.
    """

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    original: bytes = Field(description="Original record value (URL-safe base64 in JSON).")
    original_key: bytes | None = Field(
        default=None, description="Original record key (URL-safe base64 in JSON)."
    )
    error_type: str = Field(description="Exception class or error code.")
    error: str = Field(description="Error message.")
    source_topic: str = Field(description="Topic the record came from.")
    source_partition: int = Field(ge=0, description="Partition it came from.")
    source_offset: int = Field(ge=0, description="Offset it had.")
    service: str = Field(description="Service that gave up on it.")
