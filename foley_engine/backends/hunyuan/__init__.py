"""HunyuanVideo-Foley as a backend: our own model code, state-dict compatible with the release.

Files: ``dit.py`` (diffusion transformer), ``synchformer.py`` (visual sync
encoder), ``dac_vae.py`` (48 kHz audio VAE), ``encoders.py`` (SigLIP2 and
CLAP through transformers), ``pipeline.py`` (sampling), ``loading.py``
(files, download, loading), ``policy.py`` (which differences a checkpoint may
have), ``ckpt_index.py`` (a checkpoint's tensor list without unpickling),
``released.py`` (sizes and hashes of the released files), ``verify.py``
(``foley models verify``), ``backend.py`` (the protocol), ``cli.py``
(``foley models ...``).  Importing this package needs no torch.
"""
from .backend import HunyuanBackend

__all__ = ["HunyuanBackend"]
