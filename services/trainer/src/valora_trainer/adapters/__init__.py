"""The trainer's I/O: the training store and request queue (PostgreSQL), the Optuna study
storage, the MLflow registry and tracking, Kafka publishing, plot files."""
