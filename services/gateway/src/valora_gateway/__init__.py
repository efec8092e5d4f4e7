"""Valora gateway: REST and batch prediction, talking to the predictor over Kafka.

Where things go:

- ``domain/``: pure logic (batch-job rows and results, uploads to rows); no I/O imports.
- ``adapters/``: PostgreSQL (its batch-job tables, the predictions read model), MLflow (the
  champion), Kafka publishing of listings, metrics of the reply topic.
- ``entrypoints/``: HTTP routes (``routes/``, one module per theme), their dependencies
  (``deps.py``, over the Protocols in ``ports.py``), error mapping (``http_errors.py``), and
  the batch-job runner.
- ``bootstrap.py``: constructs everything (request-reply is
  :class:`valora_messaging.request_reply.RequestReplyClient`) and nothing else.
"""
