"""HunyuanVideo-Foley as a backend: our own model code, state-dict compatible with the release.

Three rooms, diffusers-style:

- ``models/``: this model's networks, one readable file each: ``dit.py`` (the
  diffusion transformer), ``dac_vae.py`` (the 48 kHz audio VAE), ``encoders.py``
  (SigLIP2 and CLAP through transformers), ``fp8.py`` (float8 block weights).  Synchformer, which other backends
  share, is :mod:`foley_engine.models.synchformer`.
- ``checkpoints/``: the released files: ``layout.py`` (where they live, what a
  size needs and costs), ``store.py`` (download, listing), ``index.py`` (a
  checkpoint's tensor list without unpickling), ``policy.py`` (which differences
  a checkpoint may have), ``state.py`` (reading tensors, checked loading),
  ``load.py`` (each model built from its file), ``fp8_copy.py`` (the float8
  DiT, quantised at load or read from its copy), ``released.py`` (sizes and
  hashes of the released files), ``verify.py`` (``foley models verify``).
- the backend itself: ``pipeline.py`` (sampling), ``offload.py`` (what waits
  in CPU memory; block streaming), ``memory.py`` (the memory plan, ``foley
  models plan``, ``--memory auto``), ``compile.py`` (``--compile``),
  ``onnx_encoders.py`` (the optional ONNX Runtime encoders), ``backend.py``
  (the backend protocol), ``cli.py`` (``foley models ...``).

Importing this package needs no torch.
"""
from .backend import HunyuanBackend

__all__ = ["HunyuanBackend"]
