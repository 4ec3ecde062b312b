"""Several replicas: the leader lease on the journal table and the heartbeat that keeps it."""
