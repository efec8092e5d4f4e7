#!/bin/sh
# Runs once, on an empty data directory (postgres image's docker-entrypoint-initdb.d).
# MLflow keeps its own Alembic migration table, so it gets a database of its own.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
SELECT 'CREATE DATABASE "${MLFLOW_DB:-mlflow}" OWNER "${POSTGRES_USER}"'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${MLFLOW_DB:-mlflow}')\gexec
SQL
