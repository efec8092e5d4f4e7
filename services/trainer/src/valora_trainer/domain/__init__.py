"""Pure logic of a training run (no Kafka, SQLAlchemy or MLflow): the dataset snapshot and split,
the search space and Optuna search, the model families, fit and calibration, metrics, the gate."""
