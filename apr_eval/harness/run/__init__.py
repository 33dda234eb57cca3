"""The run path: spec to run directory, the stages, manifests, merging shards, self-check."""
