"""Who may do what: admin and join tokens, per-instance agent credentials, ECS key pairs, sealed secrets."""
