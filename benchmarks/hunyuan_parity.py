"""Our HunyuanVideo-Foley code against the public reference implementation, output for output.

Point it at a checkout of ``Tencent-Hunyuan/HunyuanVideo-Foley`` (not part
of this repository; it needs ``einops``).  It loads the same random weights
into both implementations with a strict load and reports the largest
difference of:

* the DiT at a small configuration, for several audio/visual/text/sync lengths;
* Synchformer's visual branch at full size (two 16-frame 224x224 segments);
* the audio VAE's encoder and decoder at a small configuration.

Reference modules are imported one by one, without the package's own
``__init__`` (which pulls in the whole inference stack); optional packages
the reference imports only for training or downloads (timm, omegaconf,
audiotools, requests) are replaced by minimal stand-ins when not installed.

    python benchmarks/hunyuan_parity.py --reference ~/src/HunyuanVideo-Foley
"""
from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
import sys
import types
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))  # the tiny models' randomize (hunyuan_tiny)

import torch  # noqa: E402
from torch import nn  # noqa: E402

from foley_engine.backends.hunyuan.models.dac_vae import DACConfig, DACVAE  # noqa: E402
from foley_engine.backends.hunyuan.models.dit import DiTConfig, HunyuanFoleyDiT  # noqa: E402
from foley_engine.models.synchformer import Synchformer  # noqa: E402
from hunyuan_tiny import randomize  # noqa: E402


def _module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
    sys.modules[name] = mod
    return mod


class _AttrDict(dict):
    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key, value):
        self[key] = value


def _attrs(value):
    return _AttrDict({k: _attrs(v) for k, v in value.items()}) if isinstance(value, dict) else value


def _stand_ins() -> None:
    """Minimal replacements for packages the reference imports but these checks never exercise."""
    # diffusers and transformers probe optional packages when first imported: let them see the real set.
    import diffusers.models  # noqa: F401
    import transformers.utils.import_utils  # noqa: F401

    if importlib.util.find_spec("timm") is None:
        def trunc_normal_(tensor, std=1.0, **_):
            with torch.no_grad():
                return tensor.normal_(0.0, std)

        _module("timm")
        _module("timm.layers", trunc_normal_=trunc_normal_, to_2tuple=lambda x: x if isinstance(x, tuple) else (x, x))
    if importlib.util.find_spec("omegaconf") is None:
        import yaml

        class OmegaConf:
            @staticmethod
            def load(path):
                with open(path) as fh:
                    return _attrs(yaml.safe_load(fh))

        _module("omegaconf", OmegaConf=OmegaConf)
    if importlib.util.find_spec("audiotools") is None:
        _module("audiotools", AudioSignal=object)
        _module("audiotools.ml", BaseModel=nn.Module)
    if importlib.util.find_spec("requests") is None:
        _module("requests")


def _reference_packages(root: Path) -> None:
    """Register the reference's packages by path so their __init__ files do not run."""
    base = root / "hunyuanvideo_foley"
    for rel in ("", "models", "models/nn", "models/synchformer", "models/dac_vae", "models/dac_vae/model",
                "models/dac_vae/nn", "utils"):
        name = "hunyuanvideo_foley" + ("." + rel.replace("/", ".") if rel else "")
        mod = types.ModuleType(name)
        mod.__path__ = [str(base / rel)]
        sys.modules[name] = mod


def check_dit() -> list[dict]:
    from hunyuanvideo_foley.models.hifi_foley import HunyuanVideoFoley

    cfg = DiTConfig(hidden_size=128, num_heads=2, depth_triple_blocks=2, depth_single_blocks=2, audio_latent_dim=16,
                    text_dim=24, clip_dim=32, sync_dim=48)
    kwargs = dict(depth_triple_blocks=2, depth_single_blocks=2, hidden_size=128, num_heads=2, mlp_ratio=4,
                  mlp_act_type="gelu_tanh", qkv_bias=True, qk_norm=True, qk_norm_type="rms", attn_mode="torch",
                  interleaved_audio_visual_rope=True, sync_modulation=False, add_sync_feat_to_audio=True,
                  use_attention_mask=False, condition_projection="linear", sync_feat_dim=48, condition_dim=24,
                  clip_dim=32, audio_vae_latent_dim=16, patch_size=1)
    ours = randomize(HunyuanFoleyDiT(cfg), 0, 0.1).eval()
    ref = HunyuanVideoFoley(_attrs({"model_config": {"model_kwargs": kwargs}})).eval()
    ref.load_state_dict(ours.state_dict(), strict=True)
    rows = []
    gen = torch.Generator().manual_seed(1)
    for la, lv, lt, segments in [(50, 8, 7, 5), (37, 12, 9, 3), (20, 20, 4, 2), (251, 40, 12, 15)]:
        x = torch.randn(2, 16, la, generator=gen)
        t = torch.tensor([1000.0, 333.0])
        text, clip = torch.randn(2, lt, 24, generator=gen), torch.randn(2, lv, 32, generator=gen)
        sync = torch.randn(2, 8 * segments, 48, generator=gen)
        with torch.no_grad():
            a = ours(x, t, text, clip, sync)
            b = ref(x=x, t=t, cond=text, clip_feat=clip, sync_feat=sync)["x"]
        rows.append({"part": "dit", "lengths": [la, lv, lt, 8 * segments],
                     "max_abs_diff": (a - b).abs().max().item(), "max_abs": b.abs().max().item()})
    return rows


def check_synchformer() -> list[dict]:
    from hunyuanvideo_foley.models.synchformer.motionformer import MotionFormer

    ours = randomize(Synchformer(), 0, 0.02).eval()
    ref = MotionFormer(extract_features=True, factorize_space_time=True, agg_space_module="TransformerEncoderLayer",
                       agg_time_module="torch.nn.Identity", add_global_repr=False).eval()
    prefix = "vfeat_extractor."
    ref.load_state_dict({k[len(prefix):]: v for k, v in ours.state_dict().items() if k.startswith(prefix)}, strict=True)
    x = torch.randn(2, 16, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a = ours(x)
        b = ref(x.permute(0, 2, 1, 3, 4)[:, None])[:, 0]  # reference layout (B, S, C, T, H, W)
    return [{"part": "synchformer", "max_abs_diff": (a - b).abs().max().item(), "max_abs": b.abs().max().item()}]


def check_vae() -> list[dict]:
    from hunyuanvideo_foley.models.dac_vae.model.dac import DAC

    cfg = DACConfig(encoder_dim=8, latent_dim=16, decoder_dim=64)
    ours = randomize(DACVAE(cfg), 0, 0.05).eval()
    ref = DAC(**cfg.to_kwargs()).eval()
    ref.load_state_dict(ours.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(1, 16, 7, generator=gen)
    audio = torch.randn(1, 1, 960 * 5, generator=gen) * 0.3
    with torch.no_grad():
        decoded = (ours.decode(z) - ref.decode(z)).abs().max().item()
        mean, _ = ours.encode(audio)
        encoded = (mean - ref.encode(audio)[0].mean).abs().max().item()
    return [{"part": "vae.decode", "max_abs_diff": decoded}, {"part": "vae.encode", "max_abs_diff": encoded}]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reference", required=True, type=Path, help="checkout of Tencent-Hunyuan/HunyuanVideo-Foley")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args(argv)
    if not (args.reference / "hunyuanvideo_foley" / "models" / "hifi_foley.py").is_file():
        raise SystemExit(f"{args.reference} is not a HunyuanVideo-Foley checkout")
    warnings.simplefilter("ignore")
    _stand_ins()
    _reference_packages(args.reference)
    rows = check_dit() + check_synchformer() + check_vae()
    for row in rows:
        extra = f" lengths {row['lengths']}" if "lengths" in row else ""
        scale = f" (outputs up to {row['max_abs']:.2f})" if "max_abs" in row else ""
        print(f"{row['part']:<12} max abs diff {row['max_abs_diff']:.2e}{scale}{extra}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
