"""Follow-up runs the daemon requests once upstream stages are done."""
