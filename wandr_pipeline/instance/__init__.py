"""What `dagster.yaml` names from this package: the local instance's SQLite event log storage."""
