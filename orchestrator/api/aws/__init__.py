"""The ECS wire formats: AWS JSON 1.1 framing, SigV4 signatures, and the ECS endpoint."""
