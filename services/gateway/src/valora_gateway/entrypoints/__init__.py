"""How the gateway is driven: HTTP routes (``routes/``, assembled by :mod:`.app`) and the
batch-job runner. Each decodes, calls, and maps errors (:mod:`.http_errors`)."""
