"""HunyuanVideo-Foley files: released layouts, strict weights_only loading, download, availability."""
from __future__ import annotations

import pickle
from fractions import Fraction
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from foley_engine.backends.hunyuan.checkpoints.layout import (  # noqa: E402
    CLAP_DIR, CLAP_REPO, DIT_FILES, HUB_REPO, SIGLIP_DIR, SIGLIP_REPO, SYNCHFORMER_FILE, VAE_FILE, missing,
)
from foley_engine.backends.hunyuan.checkpoints.load import (  # noqa: E402
    check_dit_size, dit_config_from_state, load_dit, load_synchformer, load_vae, save_dit, save_synchformer, save_vae,
    synchformer_config_from_state,
)
from foley_engine.backends.hunyuan.checkpoints.policy import CheckpointError  # noqa: E402
from foley_engine.backends.hunyuan.checkpoints.state import load_checked, load_file  # noqa: E402
from foley_engine.backends.hunyuan.checkpoints.store import download, installed  # noqa: E402
from foley_engine.backends.hunyuan.backend import HunyuanBackend  # noqa: E402
from foley_engine.backends.hunyuan.models.dac_vae import DACConfig, DACVAE  # noqa: E402
from foley_engine.backends.hunyuan.models.dit import DiTConfig, HunyuanFoleyDiT  # noqa: E402
from foley_engine.models.synchformer import Synchformer, SynchformerConfig  # noqa: E402
from hunyuan_tiny import randomize  # noqa: E402
from foley_engine.errors import BackendError  # noqa: E402


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_dit_round_trip_plain_state_dict(tmp_path):
    model = randomize(HunyuanFoleyDiT(DiTConfig.tiny()), 0)
    path = tmp_path / "hunyuanvideo_foley.pth"
    save_dit(model, path)
    raw = torch.load(path, weights_only=True)
    assert isinstance(raw, dict) and all(isinstance(v, torch.Tensor) for v in raw.values())
    loaded = load_dit(path, size="xxl")
    assert loaded.config == model.config  # the configuration is read back from the shapes
    _same_state(model, loaded)


def test_vae_round_trip_dac_layout(tmp_path):
    model = randomize(DACVAE(DACConfig.tiny()), 1)
    path = tmp_path / "vae_128d_48k.pth"
    save_vae(model, path)
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"state_dict", "metadata"} and raw["metadata"]["kwargs"]["encoder_rates"] == [2, 3, 4, 5, 8]
    loaded = load_vae(path)
    assert loaded.config == model.config
    _same_state(model, loaded)


def test_synchformer_round_trip(tmp_path):
    model = randomize(Synchformer(SynchformerConfig.tiny()), 2)
    path = tmp_path / "synchformer_state_dict.pth"
    save_synchformer(model, path)
    loaded = load_synchformer(path)
    assert loaded.config == model.config
    _same_state(model, loaded)


def test_full_size_configs_are_recovered_from_shapes():
    for cfg in (DiTConfig.xxl(), DiTConfig.xl()):
        with torch.device("meta"):
            state = HunyuanFoleyDiT(cfg).state_dict()
        assert dit_config_from_state(state) == cfg
    with torch.device("meta"):
        state = Synchformer().state_dict()
    assert synchformer_config_from_state(state) == SynchformerConfig()


def test_checked_load_names_the_differences():
    model = HunyuanFoleyDiT(DiTConfig.tiny())
    state = dict(model.state_dict())
    del state["final_layer.linear.bias"]
    state["extra.weight"] = torch.zeros(1)
    state["empty_clip_feat"] = torch.zeros(1, 3)
    with pytest.raises(CheckpointError) as err:
        load_checked(HunyuanFoleyDiT(DiTConfig.tiny()), state, "test file")
    text = str(err.value)
    assert "1 missing: final_layer.linear.bias" in text and "empty_clip_feat file (1, 3)" in text
    assert "extra.weight" in text  # listed too, as what would have been ignored


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_pickled_objects_are_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("unpickled!",))

    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(1), "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match="refusing"):
        load_file(path)
    legacy = tmp_path / "legacy.pth"
    with open(legacy, "wb") as fh:
        pickle.dump({"x": Payload()}, fh)
    with pytest.raises(CheckpointError):
        load_file(legacy)


def test_wrong_size_is_named(tmp_path):
    # A file holding XL under the XXL name: detected from the shapes before anything is allocated.
    with torch.device("meta"):
        state = HunyuanFoleyDiT(DiTConfig.xl()).state_dict()
    cfg = dit_config_from_state(state)
    assert (cfg.hidden_size, cfg.depth_triple_blocks) == (1408, 12)
    check_dit_size(cfg, "xl", "x.pth")
    with pytest.raises(CheckpointError, match="holds the XL model"):
        check_dit_size(cfg, "xxl", "x.pth")
    with pytest.raises(CheckpointError, match="not a HunyuanVideo-Foley DiT"):
        dit_config_from_state({"audio_embedder.proj.weight": torch.zeros(1)})


def test_safetensors_files_load(tmp_path):
    from safetensors.torch import save_file

    model = randomize(HunyuanFoleyDiT(DiTConfig.tiny()), 3)
    path = tmp_path / "dit.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    _same_state(model, load_dit(path))


def test_memory_estimates_are_plausible():
    # Model card: XXL ~20 GB, XL ~16 GB; with offload 12 and 8 GB (the planner: tests/test_hunyuan_memory.py).
    from foley_engine.backends.hunyuan.memory import predict

    assert 12 * 2**30 < predict("xxl").needs < 24 * 2**30
    assert predict("xl").needs < predict("xxl").needs
    assert predict("xl", offload="model").needs < 10 * 2**30


def _fake_repo(root: Path) -> Path:
    src = root / "mirror"
    src.mkdir()
    for name in (DIT_FILES["xl"], VAE_FILE, SYNCHFORMER_FILE):
        (src / name).write_bytes(b"weights:" + name.encode())
    for name in (SIGLIP_DIR, CLAP_DIR):
        (src / name).mkdir()
        (src / name / "config.json").write_text("{}")
    return src


def test_download_from_local_mirror_and_resume(tmp_path):
    src = _fake_repo(tmp_path)
    models = tmp_path / "models"
    logs = []
    folder = download("xl", models, source=src, log=logs.append)
    assert folder == models / "hunyuan" and missing(folder, "xl") == []
    assert (folder / VAE_FILE).read_bytes() == b"weights:" + VAE_FILE.encode()
    # Second run: nothing to do; a removed file is fetched again, the rest kept.
    (folder / SYNCHFORMER_FILE).unlink()
    logs.clear()
    download("xl", models, source=src, log=logs.append)
    assert logs[0] == f"fetching {SYNCHFORMER_FILE} ..."
    assert not list(folder.glob("*.partial"))
    names = {item.name for item in installed(models)}
    assert DIT_FILES["xl"] in names and SIGLIP_DIR in names


def test_download_uses_huggingface_hub(tmp_path, monkeypatch):
    import huggingface_hub

    src = _fake_repo(tmp_path)
    calls = []

    def fake_file(repo_id, filename, local_dir, **kw):
        calls.append((repo_id, filename))
        Path(local_dir, filename).write_bytes((src / filename).read_bytes())
        return str(Path(local_dir, filename))

    def fake_snapshot(repo_id, local_dir, allow_patterns=None, **kw):
        calls.append((repo_id, tuple(allow_patterns)))
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        Path(local_dir, "config.json").write_text("{}")
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "list_repo_files",
                        lambda repo: ["config.json", "model.safetensors", "pytorch_model.bin", "merges.txt"])
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_file)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    download("xl", tmp_path / "models", log=lambda s: None)
    repos = [c[0] for c in calls]
    assert repos.count(HUB_REPO) == 3 and SIGLIP_REPO in repos and CLAP_REPO in repos
    patterns = [c[1] for c in calls if c[0] == CLAP_REPO][0]
    assert "model.safetensors" in patterns and "pytorch_model.bin" not in patterns  # one copy of the weights


def test_availability_reasons(tmp_path, monkeypatch):
    status = HunyuanBackend.availability(models_dir=str(tmp_path), size="xl")
    assert not status.ok and str(tmp_path / "hunyuan") in status.reason
    assert "foley models download hunyuan --size xl" in status.reason
    src = _fake_repo(tmp_path)
    download("xl", tmp_path / "m", source=src, log=lambda s: None)
    status = HunyuanBackend.availability(models_dir=str(tmp_path / "m"), size="xl", device="cuda:0")
    if not torch.cuda.is_available():
        assert not status.ok and "no CUDA for device cuda:0" in status.reason
    assert HunyuanBackend.availability(models_dir=str(tmp_path / "m"), size="xl", device="cpu").ok
    assert not HunyuanBackend.availability(size="huge").ok
    import foley_engine.backends.gpu as gpu

    real_find_spec = gpu.find_spec
    monkeypatch.setattr(gpu, "find_spec", lambda name: None if name == "torch" else real_find_spec(name))
    status = HunyuanBackend.availability(models_dir=str(tmp_path / "m"), size="xl", device="cpu")
    assert not status.ok and "needs torch" in status.reason


def test_missing_files_error_names_file_and_command(tmp_path):
    with pytest.raises(BackendError) as err:
        HunyuanBackend(models_dir=str(tmp_path), size="xl", device="cpu")
    assert "hunyuanvideo_foley_xl.pth" in str(err.value) and "foley models download hunyuan" in str(err.value)


def test_models_cli(tmp_path, capsys):
    from foley_engine.cli import main

    src = _fake_repo(tmp_path)
    models = tmp_path / "models"
    assert main(["models", "download", "hunyuan", "--size", "xl", "--models-dir", str(models), "--from", str(src)]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--models-dir", str(models), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert str(models / "hunyuan") in out and VAE_FILE in out
    assert "hunyuan --size xl on cpu: loads" in out and "hunyuan --size xxl on cpu: no" in out


def test_generate_options_are_collected():
    from foley_engine.cli import build_parser
    from foley_engine.generate_cli import chosen_options

    args = build_parser().parse_args(["generate", "v.mp4", "--backend", "hunyuan", "--offload", "blocks:4",
                                      "--steps", "25", "--guidance", "3.5", "--size", "xl", "--weights", "fp8",
                                      "--memory", "auto", "--window", "7.5", "--compile"])
    # Per-item options travel with the item; load options configure the backend when it loads.
    assert chosen_options(args, "hunyuan") == ({"steps": 25, "guidance": 3.5}, {"offload": "blocks:4", "size": "xl", "weights": "fp8", "memory": "auto",
                                                                    "window": Fraction(15, 2), "compile": True})
    assert chosen_options(build_parser().parse_args(["generate", "v.mp4"]), "hunyuan") == ({}, {})
    # The switch of before (no value) still means whole-component offload.
    alone = build_parser().parse_args(["generate", "v.mp4", "--backend", "hunyuan", "--offload", "--steps", "5"])
    assert chosen_options(alone, "hunyuan") == ({"steps": 5}, {"offload": "model"})
