"""MMAudio's networks, one readable file each (torch): ``network`` (the flow-matching MM-DiT), ``vae`` (the
1-D mel-latent VAE), ``bigvgan`` (the vocoders: 16 kHz BigVGAN and 44.1 kHz BigVGAN-v2) and ``clip`` (the
DFN5B CLIP encoders through open_clip).  Synchformer is shared: :mod:`foley_engine.models.synchformer`."""
