"""Pure logic of the gateway: values in, values out (no Kafka, SQL, MLflow or HTTP)."""
