"""Training runs: loop, checkpoints, bundles, manifests, sentinel, telemetry, DDP."""
