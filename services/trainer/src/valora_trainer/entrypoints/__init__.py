"""What starts work in the trainer: the Kafka subscribers (and their handlers), the background
worker that runs training requests, and the Kubeflow step CLI."""
