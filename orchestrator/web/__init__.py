"""`zmqrun web`: a live read-only page of one run, served by a client of its control socket."""
