"""Make the MMAudio reference data the parity tests compare against (run once, by hand; not a test).

    python tests/mmaudio_make_fixtures.py REF_SRC REF_DEPS COMMIT

``REF_SRC``: a folder holding the reference package ``mmaudio/`` exported from the public repository
hkchengrex/MMAudio at ``COMMIT`` (``git archive COMMIT mmaudio | tar -x -C REF_SRC``); ``REF_DEPS``: a
``pip install --no-deps --target`` folder with its light dependencies (open-clip-torch, einops, omegaconf,
timm, ftfy, torchdiffeq, torchvision).  Nothing of either is committed: only what this script writes.

It writes, under tests/data/mmaudio/:

* ``manifests.json``: every tensor name and shape of the full-size released models, made by constructing
  the reference classes on the meta device (network x 5 sizes, VAE 16k/44k, BigVGAN 16k from the
  reference's own config file, BigVGAN-v2 44.1k from the configuration stated in ``BigVGANConfig.v2_44k``;
  weight norm under its released names ``weight_g``/``weight_v``);
* ``reference_tiny.npz``: inputs and the reference's outputs for tiny configurations whose weights follow
  the name-based recipe of ``tests/mmaudio_tiny.py`` (so no weights are stored): the network (v1 and v2),
  the VAE decoder, both vocoders, one full sampling run (Euler, 25 steps, CFG 4.5), CLIP features, and
  the full-size Synchformer's visual tokens for one segment.

The torchvision wheel on PyPI is built against a CUDA torch; on a CPU torch its compiled operators do not
load, and its import registers meta kernels for them.  Only open_clip's import needs torchvision (for
transforms, never its operators), so that registration module is replaced by an empty one here.
"""
from __future__ import annotations

import json
import os
import sys
import types

import numpy as np


def main(ref_src: str, ref_deps: str, commit: str) -> None:
    sys.path[:0] = [ref_deps, ref_src, os.path.dirname(os.path.abspath(__file__))]
    sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
    import torch

    import mmaudio_tiny as tiny

    torch.set_grad_enabled(False)
    os.makedirs(tiny.DATA, exist_ok=True)
    manifests = {"source": f"hkchengrex/MMAudio@{commit}", "how": "reference classes constructed on the meta "
                 "device; torch parametrization names mapped to the released weight_g/weight_v",
                 "models": full_manifests()}
    with open(tiny.MANIFESTS, "w", encoding="utf-8") as fh:
        json.dump(manifests, fh, indent=0, sort_keys=True)
    out = {"source": np.array(f"hkchengrex/MMAudio@{commit}")}
    out.update(network_outputs(tiny))
    out.update(vae_outputs(tiny))
    out.update(vocoder_outputs(tiny))
    out.update(sampling_outputs(tiny))
    out.update(clip_outputs(tiny))
    out.update(synchformer_outputs(tiny))
    np.savez_compressed(tiny.FIXTURES, **out)
    print(f"wrote {tiny.MANIFESTS} and {tiny.FIXTURES}")


# --------------------------------------------------------------------------- reference builders


def _released_names(state: dict) -> dict:
    out = {}
    for k, v in state.items():
        k = k.replace(".parametrizations.weight.original0", ".weight_g").replace(
            ".parametrizations.weight.original1", ".weight_v")
        out[k] = v
    return out


def _shapes(model) -> dict:
    return {k: list(v.shape) for k, v in _released_names(model.state_dict()).items()}


def ref_bigvgan(config: dict, v2: bool):
    from mmaudio.ext.bigvgan.models import BigVGANVocoder
    from mmaudio.ext.bigvgan_v2.bigvgan import BigVGAN as BigVGANv2
    from mmaudio.ext.bigvgan_v2.env import AttrDict

    h = AttrDict(dict(resblock="1", activation="snakebeta", snake_logscale=True, **config))
    return (BigVGANv2(h, use_cuda_kernel=False) if v2 else BigVGANVocoder(h)).eval()


def full_manifests() -> dict:
    import torch
    from omegaconf import OmegaConf

    from foley_engine.backends.mmaudio.models.bigvgan import BigVGANConfig
    from mmaudio.ext.autoencoder.vae import get_my_vae
    from mmaudio.model.networks import get_my_mmaudio

    models = {}
    with torch.device("meta"):
        for size in ("small_16k", "small_44k", "medium_44k", "large_44k", "large_44k_v2"):
            models[f"network/{size}"] = _shapes(get_my_mmaudio(size))
        for mode in ("16k", "44k"):
            models[f"vae/{mode}"] = _shapes(get_my_vae(mode))
    import mmaudio.ext.bigvgan as v1pkg

    cfg16 = OmegaConf.to_container(OmegaConf.load(os.path.join(os.path.dirname(v1pkg.__file__), "bigvgan_vocoder.yml")))
    models["bigvgan/16k"] = _shapes(ref_bigvgan({k: cfg16[k] for k in (
        "num_mels", "upsample_rates", "upsample_kernel_sizes", "upsample_initial_channel", "resblock_kernel_sizes",
        "resblock_dilation_sizes")}, v2=False))
    c = BigVGANConfig.v2_44k()
    models["bigvgan/44k"] = _shapes(ref_bigvgan(dict(
        num_mels=c.num_mels, upsample_rates=list(c.upsample_rates), upsample_kernel_sizes=list(c.upsample_kernel_sizes),
        upsample_initial_channel=c.upsample_initial_channel, resblock_kernel_sizes=list(c.resblock_kernel_sizes),
        resblock_dilation_sizes=[list(d) for d in c.resblock_dilation_sizes], use_tanh_at_final=False,
        use_bias_at_final=False), v2=True))
    return models


def _fill_reference(model, tiny, released_names: bool = False):
    """Fill a reference model with the recipe, keyed by the released tensor names."""
    state = model.state_dict()
    named = _released_names(state) if released_names else state
    values = tiny.fill({k: v.shape for k, v in named.items()}, constants=named)
    back = {}
    for (k_ref, _), (k_rel, v) in zip(state.items(), values.items()):
        back[k_ref] = v.reshape(state[k_ref].shape)
    model.load_state_dict(back, strict=True)


def ref_network(tiny, v2: bool):
    from mmaudio.model.networks import MMAudio

    net = MMAudio(**tiny.TINY_NET, latent_seq_len=tiny.LATENT_LEN, clip_seq_len=tiny.CLIP_LEN,
                  sync_seq_len=tiny.SYNC_LEN, v2=v2).eval()
    _fill_reference(net, tiny)
    return net


def ref_vae(tiny):
    from mmaudio.ext.autoencoder.vae import VAE

    vae = VAE(**tiny.TINY_VAE).eval()
    _fill_reference(vae, tiny)
    return vae.remove_weight_norm()


def network_outputs(tiny) -> dict:
    x = tiny.inputs()
    out = {f"net/in/{k}": v.numpy() for k, v in x.items()}
    for v2 in (False, True):
        net = ref_network(tiny, v2)
        flow = net(x["latent"], x["clip"], x["sync"], x["text"], x["t"])
        out[f"net/{'v2' if v2 else 'v1'}/flow"] = flow.numpy()
    return out


def vae_outputs(tiny) -> dict:
    import torch

    vae = ref_vae(tiny)
    z = torch.randn(2, tiny.TINY_VAE["embed_dim"], 9, generator=torch.Generator().manual_seed(3))
    mel = vae.decode(z)
    mean = vae.encode(mel).mean
    return {"vae/in/z": z.numpy(), "vae/mel": mel.numpy(), "vae/encoded_mean": mean.numpy()}


def vocoder_outputs(tiny) -> dict:
    import torch

    mel = torch.randn(1, 80, 11, generator=torch.Generator().manual_seed(4)) - 2
    out = {"voc/in/mel": mel.numpy()}
    for v2 in (False, True):
        extra = dict(use_tanh_at_final=False, use_bias_at_final=False) if v2 else {}
        voc = ref_bigvgan({**tiny.TINY_BIGVGAN, **extra}, v2)
        _fill_reference(voc, tiny, released_names=True)
        voc.remove_weight_norm()
        out[f"voc/{'v2' if v2 else 'v1'}/audio"] = voc(mel).numpy()
    return out


def sampling_outputs(tiny) -> dict:
    import torch

    from mmaudio.model.flow_matching import FlowMatching

    net = ref_network(tiny, v2=False)
    vae = ref_vae(tiny)
    voc = ref_bigvgan(dict(tiny.TINY_BIGVGAN), v2=False)
    _fill_reference(voc, tiny, released_names=True)
    voc.remove_weight_norm()
    x = tiny.inputs(seed=5, batch=1)
    x0 = torch.randn(1, tiny.LATENT_LEN, tiny.TINY_NET["latent_dim"], generator=torch.Generator().manual_seed(6))
    cond = net.preprocess_conditions(x["clip"], x["sync"], x["text"])
    empty = net.get_empty_conditions(1)
    fm = FlowMatching(min_sigma=0, inference_mode="euler", num_steps=25)
    latents = net.unnormalize(fm.to_data(lambda t, lat: net.ode_wrapper(t, lat, cond, empty, 4.5), x0.clone()))
    mel = vae.decode(latents.transpose(1, 2))
    audio = voc(mel)
    return {"sample/in/x0": x0.numpy(), "sample/in/clip": x["clip"].numpy(), "sample/in/sync": x["sync"].numpy(),
            "sample/in/text": x["text"].numpy(), "sample/latents": latents.numpy(), "sample/audio": audio.numpy()}


def clip_outputs(tiny) -> dict:
    import torch
    import torch.nn.functional as F
    from open_clip.model import CLIP

    model = CLIP(**tiny.TINY_CLIP).eval()
    _fill_reference(model, tiny)
    g = torch.Generator().manual_seed(7)
    size = tiny.TINY_CLIP["vision_cfg"]["image_size"]
    pixels = torch.rand(3, 3, size, size, generator=g)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    image = model.encode_image((pixels - mean) / std, normalize=True)
    tokens = torch.zeros(2, 77, dtype=torch.long)
    tokens[0, :6] = torch.tensor([49406, 320, 1929, 593, 269, 49407])
    tokens[1, :4] = torch.tensor([49406, 2368, 6440, 49407])
    # the reference's text features: token + position embeddings, the transformer, the final norm
    h = model.token_embedding(tokens) + model.positional_embedding
    h = model.ln_final(model.transformer(h, attn_mask=model.attn_mask))
    manifest = {k: list(v.shape) for k, v in model.state_dict().items()}
    return {"clip/in/pixels": pixels.numpy(), "clip/in/tokens": tokens.numpy(), "clip/image": image.numpy(),
            "clip/text": h.numpy(), "clip/manifest": np.array(json.dumps(manifest)),
            "clip/normalized_check": F.normalize(image, dim=-1).numpy()}


def synchformer_outputs(tiny) -> dict:
    """The full-size reference Synchformer (visual branch) on one random 16-frame segment."""
    import torch

    from mmaudio.ext.synchformer.synchformer import Synchformer

    model = Synchformer().eval()
    _fill_reference(model, tiny)
    segment = tiny.sync_segment()  # made from a seed (too large to store); its sum guards the generator
    tokens = model(segment)
    names = {k: list(v.shape) for k, v in model.state_dict().items()}
    return {"sync/in/segment_sum": np.array(float(segment.double().sum())), "sync/tokens": tokens.numpy(),
            "sync/manifest": np.array(json.dumps(names))}


if __name__ == "__main__":
    main(*sys.argv[1:4])
