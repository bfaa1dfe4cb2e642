"""The topology file's journey: load the YAML strictly, parse it into the model, validate it, describe it as a schema."""
