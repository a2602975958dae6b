"""Exports of ECS services to other orchestrators' objects (today: Kubernetes, in `kubernetes.py`)."""
