"""Pure logic of the ingestion service: normalisation and de-duplication (no I/O)."""
