"""Subcommands that are not a run of one topology: `zmqrun free` and `zmqrun test`."""
