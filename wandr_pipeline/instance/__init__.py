"""Classes that `dagster.yaml` names: the run coordinator and the GPU-routing run launchers."""
