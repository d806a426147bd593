"""Numerical parity of our MMAudio models with the public reference (hkchengrex/MMAudio), float32 on the CPU.

The reference outputs were made once by ``tests/mmaudio_make_fixtures.py`` (the reference's own classes,
tiny configurations, weights from the name-based recipe in ``tests/mmaudio_tiny.py``) and stored with their
source commit in ``tests/data/mmaudio/reference_tiny.npz``; here our models get the same recipe under
their own tensor names (so names and shapes must agree, or loading fails) and must reproduce those outputs
to a relative error of 1e-4.  Full-size models are checked by their tensor manifests
(``test_mmaudio_manifests.py``).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import mmaudio_tiny as tiny  # noqa: E402
from foley_engine.backends.mmaudio.models.bigvgan import BigVGAN, BigVGANConfig  # noqa: E402
from foley_engine.backends.mmaudio.models.network import MMAudioNetwork, NetworkConfig  # noqa: E402
from foley_engine.backends.mmaudio.models.vae import AudioVAE, VAEConfig  # noqa: E402
from foley_engine.backends.mmaudio.pipeline import euler_flow  # noqa: E402

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def ref():
    with np.load(tiny.FIXTURES) as data:
        return {k: data[k] for k in data.files}


def rel_err(ours, theirs) -> float:
    ours = ours.detach().numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours)
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-12))


def our_network(v2: bool) -> MMAudioNetwork:
    n = tiny.TINY_NET
    cfg = NetworkConfig(latent_dim=n["latent_dim"], clip_dim=n["clip_dim"], sync_dim=n["sync_dim"],
                        text_dim=n["text_dim"], num_heads=n["num_heads"], head_dim=n["hidden_dim"] // n["num_heads"],
                        depth=n["depth"], fused_depth=n["fused_depth"], text_seq_len=n["text_seq_len"], v2=v2)
    net = MMAudioNetwork(cfg).eval()
    tiny.fill_model(net)
    return net


def our_vae() -> AudioVAE:
    v = tiny.TINY_VAE
    vae = AudioVAE(VAEConfig(mel_bins=v["data_dim"], latent_dim=v["embed_dim"], hidden=v["hidden_dim"])).eval()
    tiny.fill_model(vae)
    return vae.fold_weight_norm()


def our_vocoder(v2: bool) -> BigVGAN:
    b = dict(tiny.TINY_BIGVGAN)
    cfg = BigVGANConfig(num_mels=b["num_mels"], upsample_rates=tuple(b["upsample_rates"]),
                        upsample_kernel_sizes=tuple(b["upsample_kernel_sizes"]),
                        upsample_initial_channel=b["upsample_initial_channel"],
                        resblock_kernel_sizes=tuple(b["resblock_kernel_sizes"]),
                        resblock_dilation_sizes=tuple(tuple(d) for d in b["resblock_dilation_sizes"]),
                        use_tanh_at_final=not v2, use_bias_at_final=not v2)
    voc = BigVGAN(cfg).eval()
    tiny.fill_model(voc)
    return voc.fold_weight_norm()


def _t(ref, key):
    return torch.from_numpy(ref[key])


@pytest.mark.parametrize("variant", ["v1", "v2"])
def test_network_matches_reference(ref, variant):
    net = our_network(variant == "v2")
    with torch.no_grad():
        flow = net(_t(ref, "net/in/latent"), _t(ref, "net/in/clip"), _t(ref, "net/in/sync"), _t(ref, "net/in/text"),
                   _t(ref, "net/in/t"))
    assert rel_err(flow, ref[f"net/{variant}/flow"]) <= TOLERANCE


def test_vae_decoder_and_encoder_match_reference(ref):
    vae = our_vae()
    with torch.no_grad():
        mel = vae.decode(_t(ref, "vae/in/z"))
        mean = vae.encode_mean(_t(ref, "vae/mel"))
    assert rel_err(mel, ref["vae/mel"]) <= TOLERANCE
    assert rel_err(mean, ref["vae/encoded_mean"]) <= TOLERANCE


@pytest.mark.parametrize("variant", ["v1", "v2"])
def test_vocoder_matches_reference(ref, variant):
    voc = our_vocoder(variant == "v2")
    with torch.no_grad():
        audio = voc(_t(ref, "voc/in/mel"))
    assert audio.shape == ref[f"voc/{variant}/audio"].shape
    assert rel_err(audio, ref[f"voc/{variant}/audio"]) <= TOLERANCE


def test_full_sampling_run_matches_reference(ref):
    """25 Euler steps with CFG 4.5 from the same noise, then VAE decode and vocoder."""
    net, vae, voc = our_network(False), our_vae(), our_vocoder(False)
    with torch.no_grad():
        n = _t(ref, "sample/in/x0").shape[1]
        cond = net.prepare_conditions(_t(ref, "sample/in/clip"), _t(ref, "sample/in/sync"), _t(ref, "sample/in/text"), n)
        empty = net.empty_conditions(tiny.CLIP_LEN, tiny.SYNC_LEN, n)
        latents = net.unnormalize(euler_flow(net, _t(ref, "sample/in/x0"), cond, empty, steps=25, guidance=4.5))
        audio = voc(vae.decode(latents.transpose(1, 2)))
    assert rel_err(latents, ref["sample/latents"]) <= TOLERANCE
    assert rel_err(audio, ref["sample/audio"]) <= TOLERANCE


def test_clip_features_match_open_clip(ref):
    """open_clip's CLIP (the reference's encoder) vs ours: transformers' CLIPModel given the renamed tensors."""
    from transformers import CLIPModel

    from foley_engine.backends.mmaudio.models.clip import ClipEncoder, convert_open_clip_state, hf_config

    manifest = json.loads(str(ref["clip/manifest"]))
    open_clip_state = tiny.fill(manifest)
    model = CLIPModel(hf_config(tiny.TINY_CLIP)).eval()
    missing, unexpected = model.load_state_dict(convert_open_clip_state(open_clip_state), strict=False)
    assert not unexpected and all("position_ids" in k for k in missing)
    encoder = ClipEncoder(model, tokens=None)
    image = encoder.encode_pixels(_t(ref, "clip/in/pixels"))
    text = encoder.encode_tokens(_t(ref, "clip/in/tokens"))
    assert rel_err(image, ref["clip/image"]) <= TOLERANCE
    assert rel_err(text, ref["clip/text"]) <= TOLERANCE


def test_fixtures_name_their_source(ref):
    assert str(ref["source"]).startswith("hkchengrex/MMAudio@")
