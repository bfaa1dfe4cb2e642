"""Per-edge observability: what the kernel says about every declared socket edge, and the
classic ZeroMQ mistakes it reveals."""
