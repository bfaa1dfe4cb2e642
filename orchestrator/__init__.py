"""zmqrun: run ZeroMQ topologies described in YAML."""

__version__ = "0.1.0"
