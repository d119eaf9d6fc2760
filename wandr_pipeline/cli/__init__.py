"""The `wandr-pipeline` command: one-shot runs of a URL list, the doctor, the API server."""
