"""What Dagster loads: resources, partitions, jobs, the stage assets, ingestion and automation."""
