"""CURVE security for a run: which edges use it, the run's keys (made, stored, removed,
redacted), and the node side (ZAP admission and handshake reports)."""
