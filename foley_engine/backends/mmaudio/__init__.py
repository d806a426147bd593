"""MMAudio as a backend: our own model code, state-dict compatible with the released checkpoints.

Diffusers-style rooms:

- ``models/``: the networks, one readable file each: ``network.py`` (the flow-matching MM-DiT),
  ``vae.py`` (the 1-D mel VAE), ``bigvgan.py`` (16 kHz and 44.1 kHz vocoders), ``clip.py`` (DFN5B CLIP
  through transformers).  Synchformer is shared: :mod:`foley_engine.models.synchformer`.
- ``files.py`` (where the released files live, time grids and sequence lengths; no torch),
  ``checkpoints.py`` (each model built from its file under the shared loading policy),
  ``store.py`` (``foley models download`` / ``verify`` for mmaudio).
- ``pipeline.py`` (sampling and resampling to 48 kHz), ``backend.py`` (the backend protocol),
  ``cli.py`` (the ``mmaudio`` part of ``foley models``).

Importing this package needs no torch.
"""
from .backend import MMAudioBackend

__all__ = ["MMAudioBackend"]
