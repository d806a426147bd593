"""The loading policy on checkpoint files in each layout the release (or a repack) may have.

Every file is written to disk and read back through the real loaders
(``torch.load(weights_only=True)`` / safetensors): accepted layouts load and
compute exactly what the saved model computes; refused ones name the
offending tensors.
"""
from __future__ import annotations

import logging

import pytest

torch = pytest.importorskip("torch")

from foley_engine.backends.hunyuan.checkpoints.layout import DIT_FILES, VAE_FILE  # noqa: E402
from foley_engine.backends.hunyuan.checkpoints.load import (  # noqa: E402
    SYNCHFORMER_OPTIONAL, dit_config_from_state, load_dit, load_synchformer, load_vae, save_vae,
    synchformer_config_from_state,
)
from foley_engine.backends.hunyuan.checkpoints.policy import CheckpointError  # noqa: E402
from foley_engine.backends.hunyuan.checkpoints.state import expected_of, nonfinite  # noqa: E402
from foley_engine.backends.hunyuan.models.dac_vae import DACConfig, DACVAE  # noqa: E402
from foley_engine.backends.hunyuan.models.dit import DiTConfig, HunyuanFoleyDiT  # noqa: E402
from foley_engine.backends.hunyuan.checkpoints.policy import EXTRAS_FRACTION, Expected, check  # noqa: E402
from foley_engine.models.synchformer import Synchformer, SynchformerConfig  # noqa: E402
from hunyuan_tiny import randomize  # noqa: E402

CheckpointError = CheckpointError


@pytest.fixture(scope="module")
def dit():
    return randomize(HunyuanFoleyDiT(DiTConfig.tiny()), 11).eval()


@pytest.fixture(scope="module")
def synchformer():
    return randomize(Synchformer(SynchformerConfig.tiny()), 12).eval()


@pytest.fixture(scope="module")
def vae():
    return randomize(DACVAE(DACConfig.tiny()), 13).eval()


def _state(model, dtype=None):
    return {k: (v.detach().to(dtype) if dtype else v.detach()).clone().contiguous()
            for k, v in model.state_dict().items()}


def _save(obj, path):
    torch.save(obj, path)
    return path


@torch.no_grad()
def _dit_out(model):
    gen = torch.Generator().manual_seed(5)
    cfg = model.config
    x = torch.randn(1, cfg.audio_latent_dim, 20, generator=gen)
    text = torch.randn(1, 7, cfg.text_dim, generator=gen)
    clip = torch.randn(1, 5, cfg.clip_dim, generator=gen)
    sync = torch.randn(1, 2 * cfg.sync_tokens_per_segment, cfg.sync_dim, generator=gen)
    return model.float()(x, torch.tensor([500.0]), text, clip, sync)


@torch.no_grad()
def _sync_out(model):
    cfg = model.config
    frames = torch.randn(cfg.segment_frames + 8, 3, cfg.image_size, cfg.image_size,
                         generator=torch.Generator().manual_seed(6))
    return model.float().encode_frames(frames)


def _repa_extras(hidden: int) -> dict:
    # shaped like a REPA projector head (an MLP from the hidden size), which the release's training used
    gen = torch.Generator().manual_seed(7)
    return {"repa_proj.0.weight": torch.randn(32, hidden, generator=gen), "repa_proj.0.bias": torch.zeros(32),
            "repa_proj.2.weight": torch.randn(16, 32, generator=gen), "repa_proj.2.bias": torch.zeros(16)}


# --------------------------------------------------------------------------- DiT layouts


def test_exact_manifest_loads_without_notices(dit, tmp_path, caplog):
    path = _save(_state(dit), tmp_path / "hunyuanvideo_foley.pth")
    with caplog.at_level(logging.WARNING, "foley_engine.hunyuan"):
        loaded = load_dit(path)
    assert loaded.load_notices == [f"{path.stat().st_size:,} bytes where the released hunyuanvideo_foley.pth has "
                                   "10,301,204,679 (another version or a repack?)"]
    assert torch.equal(_dit_out(loaded), _dit_out(dit))


def test_repa_extras_load_with_a_notice_naming_them(dit, tmp_path, caplog):
    state = {**_state(dit), **_repa_extras(dit.config.hidden_size)}
    path = _save(state, tmp_path / "dit.pth")
    with caplog.at_level(logging.WARNING, "foley_engine.hunyuan"):
        loaded = load_dit(path)
    notice = " ".join(loaded.load_notices)
    assert "ignoring 4 tensors the model does not use" in notice and "repa_proj.0.weight" in notice
    assert "repa_proj.2.bias" in caplog.text  # listed where a user sees it, not only stored
    assert not hasattr(loaded, "repa_proj") and "repa_proj.0.weight" not in loaded.state_dict()
    assert torch.equal(_dit_out(loaded), _dit_out(dit))


def test_extra_tensor_under_a_defined_module_is_refused(dit, tmp_path):
    state = _state(dit)
    state["triple_blocks.1.foo.weight"] = torch.zeros(3)
    state["sync_pos_emb_extra"] = torch.zeros(1)  # an unknown top-level name: would be accepted alone
    with pytest.raises(CheckpointError) as err:
        load_dit(_save(state, tmp_path / "dit.pth"))
    text = str(err.value)
    assert "1 unexpected inside modules the model defines: triple_blocks.1.foo.weight" in text
    assert "sync_pos_emb_extra" in text  # the accepted extra is still listed, as a notice


def test_missing_tensor_is_refused_by_name(dit, tmp_path):
    state = _state(dit)
    del state["single_blocks.1.linear2.w3.weight"]
    with pytest.raises(CheckpointError, match=r"1 missing: single_blocks\.1\.linear2\.w3\.weight"):
        load_dit(_save(state, tmp_path / "dit.pth"))


def test_wrong_shape_is_refused_with_both_shapes(dit, tmp_path):
    state = _state(dit)
    state["empty_sync_feat"] = torch.zeros(1, 7)
    with pytest.raises(CheckpointError, match=r"empty_sync_feat file \(1, 7\) vs model \(1, 128\)"):
        load_dit(_save(state, tmp_path / "dit.pth"))


def test_too_many_extras_are_refused(dit, tmp_path):
    # A second copy of the model (an EMA or optimizer leftover) is not a small training-only head.
    state = _state(dit)
    state.update({f"ema.{k}": v for k, v in _state(dit).items()})
    with pytest.raises(CheckpointError, match=rf"more than the {EXTRAS_FRACTION:.0%} accepted") as err:
        load_dit(_save(state, tmp_path / "dit.pth"))
    assert "ema.audio_embedder.proj.weight" in str(err.value)


@pytest.mark.parametrize("wrap", ["state_dict", "module_prefix", "both", "model_state"])
def test_wrapped_files_load(dit, tmp_path, wrap):
    state = _state(dit)
    if wrap in ("module_prefix", "both"):
        state = {f"module.{k}": v for k, v in state.items()}
    if wrap in ("state_dict", "both"):
        state = {"state_dict": state, "epoch": 12}
    if wrap == "model_state":
        state = {"model_state": state}
    loaded = load_dit(_save(state, tmp_path / "dit.pth"))
    notice = " ".join(loaded.load_notices)
    assert ("'module.' prefix removed" in notice) == (wrap in ("module_prefix", "both"))
    assert ("entry" in notice) == (wrap != "module_prefix")
    assert torch.equal(_dit_out(loaded), _dit_out(dit))


def test_unknown_wrapper_is_refused_naming_its_entries(dit, tmp_path):
    with pytest.raises(CheckpointError, match=r"no state dict found; entries that are not tensors: weights \(dict\)"):
        load_dit(_save({"weights": _state(dit)}, tmp_path / "dit.pth"))


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 0), (torch.float16, 2e-2), (torch.bfloat16, 1e-1)])
def test_half_and_single_precision_files_load(dit, tmp_path, dtype, tol):
    loaded = load_dit(_save(_state(dit, dtype), tmp_path / "dit.pth"))
    assert loaded.dtype == dtype  # kept as stored unless a dtype is asked for
    # The file holds the model rounded to ``dtype``: exactly that model's output, and close to the original.
    rounded = HunyuanFoleyDiT(dit.config)
    rounded.load_state_dict({k: v.to(dtype).float() for k, v in _state(dit).items()})
    out = _dit_out(loaded)
    assert torch.equal(out, _dit_out(rounded))
    assert (out - _dit_out(dit)).abs().max() <= tol * _dit_out(dit).abs().max()
    assert load_dit(tmp_path / "dit.pth", dtype=torch.float32).dtype == torch.float32


def test_other_dtypes_are_refused_by_name(dit, tmp_path):
    state = _state(dit)
    state["final_layer.linear.weight"] = state["final_layer.linear.weight"].double()
    state["empty_clip_feat"] = state["empty_clip_feat"].to(torch.int32)
    with pytest.raises(CheckpointError, match=r"2 not bfloat16/float16/float32: .*empty_clip_feat \(int32\)") as err:
        load_dit(_save(state, tmp_path / "dit.pth"))
    assert "final_layer.linear.weight (float64)" in str(err.value)


def test_non_finite_values_are_refused_by_name(dit, tmp_path):
    state = _state(dit)
    state["time_in.mlp.0.bias"][3] = float("nan")
    state["cond_in.linear_1.weight"][0, 0] = float("inf")
    with pytest.raises(CheckpointError, match=r"2 tensors hold NaN or infinite values") as err:
        load_dit(_save(state, tmp_path / "dit.pth"))
    assert "time_in.mlp.0.bias" in str(err.value) and "cond_in.linear_1.weight" in str(err.value)


def test_finite_screen_has_no_false_alarms():
    huge = torch.full((4,), 3e38, dtype=torch.bfloat16)  # finite, but its float32 sum overflows
    nan = torch.tensor([1.0, float("nan")], dtype=torch.float16)
    assert nonfinite([("huge", huge), ("nan", nan), ("ints", torch.arange(3))]) == ["nan"]


def test_pipeline_checks_values_on_its_device(tmp_path):
    from foley_engine.backends.hunyuan.pipeline import HunyuanFoleyPipeline
    from hunyuan_tiny import make_tiny_models

    folder = make_tiny_models(tmp_path, "xl")
    path = folder / DIT_FILES["xl"]
    state = torch.load(path, weights_only=True)
    state["final_layer.linear.weight"][0, 0] = float("-inf")
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"1 tensors hold NaN or infinite values: final_layer\.linear\.weight"):
        HunyuanFoleyPipeline.from_folder(folder, "xl", device="cpu")


def test_safetensors_with_extras(dit, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "dit.safetensors"
    save_file({**_state(dit, torch.bfloat16), **_repa_extras(dit.config.hidden_size)}, str(path))
    loaded = load_dit(path, dtype=torch.float32)
    assert "repa_proj.0.weight" in " ".join(loaded.load_notices)


# --------------------------------------------------------------------------- Synchformer and VAE


def test_synchformer_repack_without_audio_branch(synchformer, tmp_path):
    state = {k: v for k, v in _state(synchformer).items() if k.startswith("vfeat_extractor.")}
    loaded = load_synchformer(_save(state, tmp_path / "synchformer_state_dict.pth"))
    assert not loaded.has_audio_branch and synchformer.has_audio_branch
    for part in SYNCHFORMER_OPTIONAL:  # removed, not left uninitialised on the meta device
        assert not hasattr(loaded, part)
    assert all(p.device.type == "cpu" for p in loaded.parameters())
    assert "without afeat_extractor, aproj, vproj, transformer" in " ".join(loaded.load_notices)
    assert loaded.dtype == torch.float32
    assert torch.equal(_sync_out(loaded), _sync_out(synchformer))


def test_synchformer_with_half_an_audio_branch_is_refused(synchformer, tmp_path):
    state = {k: v for k, v in _state(synchformer).items() if not k.startswith("afeat_extractor.ast.encoder.")}
    with pytest.raises(CheckpointError, match=r"no afeat_extractor\.ast\.encoder\.layer\.N\.\* tensors"):
        load_synchformer(_save(state, tmp_path / "s.pth"))
    state = {k: v for k, v in _state(synchformer).items() if k != "aproj.bias"}
    with pytest.raises(CheckpointError, match=r"1 missing: aproj\.bias"):
        load_synchformer(_save(state, tmp_path / "s.pth"))


def test_a_missing_block_is_missing_tensors_not_a_shallower_model(dit, tmp_path):
    state = {k: v for k, v in _state(dit).items() if not k.startswith("triple_blocks.0.")}
    state.update({k: v for k, v in _state(dit).items() if k.startswith("triple_blocks.0.audio_self_q_norm")})
    with pytest.raises(CheckpointError, match=r"missing: triple_blocks\.0\.audio_mod"):
        load_dit(_save(state, tmp_path / "dit.pth"))
    state = {k: v for k, v in _state(dit).items() if not k.startswith("single_blocks.")}
    with pytest.raises(CheckpointError, match=r"no single_blocks\.N\.\* tensors"):
        load_dit(_save(state, tmp_path / "dit.pth"))


def test_released_width_implies_the_released_configuration():
    model, found = _meta(DiTConfig.xl())
    trimmed = {k: v for k, v in found.items() if not k.startswith("single_blocks.23.")}
    trimmed["sync_pos_emb"] = ((1, 1, 4, 768), "bfloat16")
    as_tensors = {k: torch.empty(shape, device="meta") for k, (shape, _) in trimmed.items()}
    assert dit_config_from_state(as_tensors) == DiTConfig.xl()
    verdict = check(expected_of(model), trimmed, "XL")
    # not a 23-block XL with 4 sync tokens per segment: missing tensors and a named mismatch
    assert "single_blocks.23.modulation.linear.weight" in verdict.missing
    assert verdict.shapes == [("sync_pos_emb", (1, 1, 4, 768), (1, 1, 8, 768))]
    with torch.device("meta"):
        full = Synchformer().state_dict()
    trimmed = {k: v for k, v in full.items() if not k.startswith("vfeat_extractor.blocks.11.")}
    assert synchformer_config_from_state(trimmed) == SynchformerConfig()


def test_full_synchformer_loads_whole(synchformer, tmp_path):
    loaded = load_synchformer(_save(_state(synchformer), tmp_path / "s.pth"))
    assert loaded.has_audio_branch and torch.equal(loaded.aproj.weight, synchformer.aproj.weight)


def test_vae_without_encoder(vae, tmp_path):
    state = {k: v for k, v in _state(vae).items() if not k.startswith(("encoder.", "quant_conv."))}
    blob = {"state_dict": state, "metadata": {"kwargs": vae.config.to_kwargs()}}
    loaded = load_vae(_save(blob, tmp_path / "vae_128d_48k.pth"))
    assert not loaded.has_encoder and not hasattr(loaded, "encoder")
    z = torch.randn(1, vae.config.resolved_latent_dim, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(loaded.decode(z), vae.decode(z))
    with pytest.raises(RuntimeError, match="without its encoder"):
        loaded.encode(torch.zeros(1, 1, vae.hop_length))


def test_vae_released_layout_has_no_notice_but_kwargs_are_required(vae, tmp_path):
    path = tmp_path / "vae.pth"
    save_vae(vae, path)
    assert load_vae(path).load_notices == []
    with pytest.raises(CheckpointError, match="metadata"):
        load_vae(_save(_state(vae), tmp_path / "plain.pth"))


def test_backend_falls_back_to_crossfade_without_vae_encoder(tmp_path):
    from foley_engine.backends.hunyuan.backend import HunyuanBackend
    from foley_engine.backends.hunyuan.pipeline import HunyuanFoleyPipeline
    from hunyuan_tiny import make_tiny_models
    from foley_engine.errors import BackendError

    folder = make_tiny_models(tmp_path, "xl")
    blob = torch.load(folder / VAE_FILE, weights_only=True)
    blob["state_dict"] = {k: v for k, v in blob["state_dict"].items() if not k.startswith(("encoder.", "quant_conv."))}
    torch.save(blob, folder / VAE_FILE)
    backend = HunyuanBackend(models_dir=str(tmp_path), size="xl", device="cpu")
    assert backend.continuity == "crossfade"
    assert "crossfade, not inpainting" in " ".join(backend.describe()["load_notices"])
    assert HunyuanBackend(models_dir=str(tmp_path), size="xl", device="cpu",
                          continuity="crossfade").continuity == "crossfade"
    with pytest.raises(BackendError, match="has no encoder; use --continuity crossfade"):
        HunyuanBackend(pipeline=HunyuanFoleyPipeline.from_folder(folder, "xl", device="cpu"), continuity="inpaint")


# --------------------------------------------------------------------------- full size, meta device


def _meta(cfg):
    with torch.device("meta"):
        model = HunyuanFoleyDiT(cfg)
    return model, {k: (tuple(v.shape), "bfloat16") for k, v in model.state_dict().items()}


def test_full_size_xxl_with_a_repa_sized_head_is_accepted():
    # The released XXL file is ~32.7 MB (~16.4 M bf16 values) larger than its 1087 model tensors.
    model, found = _meta(DiTConfig.xxl())
    found.update({"repa_proj.0.weight": ((2048, 1536), "bfloat16"), "repa_proj.0.bias": ((2048,), "bfloat16"),
                  "repa_proj.2.weight": ((2048, 2048), "bfloat16"), "repa_proj.2.bias": ((2048,), "bfloat16"),
                  "repa_proj.4.weight": ((4096, 2048), "bfloat16"), "repa_proj.4.bias": ((4096,), "bfloat16")})
    verdict = check(expected_of(model), found, "XXL")
    assert verdict.ok, verdict.errors()
    assert 15e6 < verdict.extra_values < 18e6 and "0.31% of the model" in verdict.notices()[0]
    assert len(found) - 6 == 1087 and verdict.model_values == 5_134_014_848


def test_full_size_xl_exact_and_a_missing_block_tensor():
    model, found = _meta(DiTConfig.xl())
    expected = expected_of(model)
    assert check(expected, found, "XL").ok and len(found) == 733
    del found["single_blocks.23.modulation.linear.weight"]
    found["triple_blocks.11.audio_cross_q.bias"] = ((1408,), "float64")
    found["triple_blocks.12.audio_cross_q.bias"] = ((1408,), "bfloat16")  # a 13th block the XL does not have
    verdict = check(expected, found, "XL")
    assert verdict.missing == ["single_blocks.23.modulation.linear.weight"]
    assert verdict.dtypes == [("triple_blocks.11.audio_cross_q.bias", "float64")]
    assert verdict.inside == ["triple_blocks.12.audio_cross_q.bias"] and not verdict.ok


def test_policy_is_torch_free_and_symmetric():
    expected = Expected({"a.w": ((2,), "float32"), "b": ((1,), "float32")}, frozenset({"a", "b"}), ("a",))
    assert check(expected, {"b": ((1,), "bfloat16")}, "x").absent == ["a"]
    assert check(expected, {"b": ((1,), "bfloat16"), "a.w": ((2,), "float16")}, "x").ok
    assert not check(expected, {"a.w": ((2,), "float32")}, "x").ok  # "b" is not optional
