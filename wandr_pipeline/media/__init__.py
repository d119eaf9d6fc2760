"""Pure media functions (probe, audio extraction, frame sampling, text merging); no Dagster here."""
