"""The gateway's I/O: its PostgreSQL tables (batch jobs), the predictions read model, MLflow,
and publishing listings to Kafka. Request-reply with the predictor is
:class:`valora_messaging.request_reply.RequestReplyClient`."""
