"""Shared code with no Dagster import: storage, tables, outcomes, URLs and lists, batching, policy."""
