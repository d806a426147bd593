"""HunyuanVideo-Foley's own networks (one readable file each); shared parts live in :mod:`foley_engine.models`."""
