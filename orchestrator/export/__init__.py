"""`zmqrun export`: a topology translated into manifests for the engines people already run."""
