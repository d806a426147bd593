"""``foley models verify`` and the index reader under it: names, dtypes and shapes without unpickling."""
from __future__ import annotations

import json
import os
import shutil

import pytest

torch = pytest.importorskip("torch")

from foley_engine.backends.hunyuan.checkpoints import index as ckpt_index, verify  # noqa: E402
from foley_engine.backends.hunyuan.checkpoints.layout import (  # noqa: E402
    CLAP_DIR, DIT_FILES, SIGLIP_DIR, SYNCHFORMER_FILE, VAE_FILE, hunyuan_dir,
)
from foley_engine.backends.hunyuan.checkpoints.load import load_dit, load_synchformer, save_dit  # noqa: E402
from foley_engine.backends.hunyuan.checkpoints.policy import CheckpointError  # noqa: E402
from foley_engine.backends.hunyuan.models.dac_vae import DACConfig, DACVAE  # noqa: E402
from foley_engine.backends.hunyuan.models.dit import DiTConfig, HunyuanFoleyDiT  # noqa: E402
from foley_engine.models.synchformer import Synchformer  # noqa: E402
from hunyuan_tiny import make_tiny_models, randomize  # noqa: E402


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    make_tiny_models(root, "xl")
    return root


@pytest.fixture
def models(tiny_folder, tmp_path):
    shutil.copytree(tiny_folder, tmp_path / "m")
    return tmp_path / "m"


def _by_name(checks):
    return {c.name: c for c in checks}


# --------------------------------------------------------------------------- the index reader


def test_index_matches_torch_load_in_every_layout(tmp_path):
    model = randomize(HunyuanFoleyDiT(DiTConfig.tiny()), 0)
    state = {k: v.detach().to(torch.bfloat16) for k, v in model.state_dict().items()}
    state["odd_view"] = torch.arange(12.0).reshape(3, 4)[:, 1:]  # a view into a larger storage
    for name, obj in (("plain", state), ("wrapped", {"state_dict": state, "metadata": {"kwargs": {"a": [1, 2]}}}),
                      ("params", {k: torch.nn.Parameter(v.float()) for k, v in state.items()})):
        path = tmp_path / f"{name}.pth"
        torch.save(obj, path)
        index = ckpt_index.read_index(path)
        assert index.truncated is None and index.format == "torch zip"
        loaded = torch.load(path, weights_only=True)
        flat = ckpt_index.tensors_of(index)
        want = {k: v for k, v in _flatten(loaded).items()}
        assert flat.keys() == want.keys(), name
        for key, entry in flat.items():
            assert entry.shape == tuple(want[key].shape) and entry.dtype == str(want[key].dtype)[6:] and entry.complete
    assert ckpt_index.read_index(tmp_path / "wrapped.pth").root["metadata"] == {"kwargs": {"a": [1, 2]}}


def _flatten(obj, prefix=""):
    out = {}
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else k))
    return out


def test_safetensors_header(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "x.safetensors"
    save_file({"a": torch.zeros(3, 4, dtype=torch.bfloat16), "b": torch.ones(5)}, str(path))
    index = ckpt_index.read_index(path)
    assert index.root == {"a": ckpt_index.TensorEntry("bfloat16", (3, 4), 24, True),
                          "b": ckpt_index.TensorEntry("float32", (5,), 20, True)}
    os.truncate(path, path.stat().st_size - 4)
    index = ckpt_index.read_index(path)
    assert index.truncated and len([k for k, v in index.root.items() if not v.complete]) == 1  # the last one


def test_pickled_objects_are_refused_without_running_them(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(2), "x": Payload()}, path)
    with pytest.raises(ckpt_index.UnreadableIndex, match="holds a pickled io.open"):
        ckpt_index.read_index(path)
    assert not marker.exists()


def test_legacy_and_foreign_files_are_named(tmp_path):
    legacy = tmp_path / "legacy.pth"
    torch.save({"w": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(ckpt_index.UnreadableIndex, match="legacy"):
        ckpt_index.read_index(legacy)
    other = tmp_path / "notes.pth"
    other.write_text("hello")
    with pytest.raises(ckpt_index.UnreadableIndex, match="neither a torch zip checkpoint nor safetensors"):
        ckpt_index.read_index(other)


def test_a_cut_file_says_how_far_it_got(tmp_path):
    model = randomize(HunyuanFoleyDiT(DiTConfig.tiny()), 1)
    path = tmp_path / "dit.pth"
    save_dit(model, path)
    whole = path.read_bytes()
    seen = []
    for fraction in (0.0005, 0.3, 0.7, 0.999):
        path.write_bytes(whole[: int(len(whole) * fraction)])
        try:
            index = ckpt_index.read_index(path)
        except ckpt_index.UnreadableIndex as exc:
            assert "not even its index" in str(exc)
            seen.append(None)
            continue
        assert "before the zip directory" in index.truncated
        entries = ckpt_index.tensors_of(index)
        assert len(entries) == 121  # the index is whole, whatever the data
        seen.append(sum(e.complete for e in entries.values()))
    assert seen[0] is None and seen[1] < seen[2] <= 121 and seen[3] == 121


def test_a_cut_rezipped_file_is_walked_too(tmp_path):
    # A repack by a general zip tool states sizes in each header instead of torch's trailing descriptors.
    import zipfile

    model = randomize(HunyuanFoleyDiT(DiTConfig.tiny()), 2)
    src, path = tmp_path / "dit.pth", tmp_path / "rezipped.pth"
    save_dit(model, src)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    assert load_dit(path).config == model.config  # torch reads it as it is
    os.truncate(path, path.stat().st_size // 2)
    entries = ckpt_index.tensors_of(ckpt_index.read_index(path))
    assert len(entries) == 121 and 0 < sum(e.complete for e in entries.values()) < 121
    with pytest.raises(CheckpointError, match=r"incomplete, the file ends at .* before the zip directory"):
        load_dit(path)


# --------------------------------------------------------------------------- verify


def test_a_complete_folder_verifies(models):
    folder, sizes, checks = verify.verify_folder(models)
    assert sizes == ["xl"] and all(c.ok for c in checks), verify.format_report(folder, sizes, checks)
    text = verify.format_report(folder, sizes, checks)
    assert "DiT (XL): 121 tensors" in text and "every file is complete" in text


def test_extras_missing_and_misshaped_tensors_are_reported(models):
    path = hunyuan_dir(models) / DIT_FILES["xl"]
    state = torch.load(path, weights_only=True)
    state["repa_proj.0.weight"] = torch.zeros(4, 64)
    del state["final_layer.linear.bias"]
    state["empty_clip_feat"] = torch.zeros(1, 3)
    state["triple_blocks.0.new.weight"] = torch.zeros(2)
    torch.save(state, path)
    dit = _by_name(verify.verify_folder(models)[2])[path.name]
    assert dit.status == verify.PROBLEM
    text = "\n".join(dit.problems)
    assert "1 missing: final_layer.linear.bias" in text and "empty_clip_feat file (1, 3) vs model (1, 16)" in text
    assert "unexpected inside modules the model defines: triple_blocks.0.new.weight" in text
    assert "repa_proj.0.weight" in " ".join(dit.notices)


def test_repa_extras_and_repacks_verify_with_notices(models):
    folder = hunyuan_dir(models)
    state = torch.load(folder / DIT_FILES["xl"], weights_only=True)
    torch.save({"module." + k: v for k, v in {**state, "repa_proj.0.weight": torch.zeros(4, 64)}.items()},
               folder / DIT_FILES["xl"])
    sync = torch.load(folder / SYNCHFORMER_FILE, weights_only=True)
    torch.save({k: v for k, v in sync.items() if k.startswith("vfeat_extractor.")}, folder / SYNCHFORMER_FILE)
    checks = _by_name(verify.verify_folder(models)[2])
    assert all(c.ok for c in checks.values())
    dit, synch = checks[DIT_FILES["xl"]], checks[SYNCHFORMER_FILE]
    assert dit.status == verify.NOTICE and "'module.' prefix removed" in " ".join(dit.notices)
    assert "without afeat_extractor, aproj, vproj, transformer" in " ".join(synch.notices)
    # ... and what verify accepts, the loader loads
    assert load_dit(folder / DIT_FILES["xl"], size="xl") is not None
    assert not load_synchformer(folder / SYNCHFORMER_FILE).has_audio_branch


def test_a_partially_downloaded_folder(models):
    folder = hunyuan_dir(models)
    # the Synchformer still downloading (huggingface_hub keeps it under .cache until it is whole)
    whole = (folder / SYNCHFORMER_FILE).read_bytes()
    (folder / SYNCHFORMER_FILE).unlink()
    partial = folder / ".cache/huggingface/download" / (SYNCHFORMER_FILE + ".incomplete")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(whole[: len(whole) // 2])
    # the DiT cut short in place (an interrupted copy or browser download)
    dit = folder / DIT_FILES["xl"]
    os.truncate(dit, dit.stat().st_size * 2 // 3)
    # the VAE not started, the CLAP tokenizer not there yet
    (folder / VAE_FILE).unlink()
    (folder / CLAP_DIR / "tokenizer.json").unlink()
    found, sizes, checks = verify.verify_folder(models)
    by = _by_name(checks)
    synch = by[SYNCHFORMER_FILE]
    assert synch.status == verify.PARTIAL and "still downloading" in synch.problems[0]
    assert "complete so far" in synch.summary
    assert by[dit.name].status == verify.PARTIAL and "cut short" in " ".join(by[dit.name].problems)
    assert by[VAE_FILE].status == verify.MISSING
    assert "foley models download hunyuan --size xl" in by[VAE_FILE].problems[0]
    clap = by[CLAP_DIR + "/"]
    assert clap.status == verify.PARTIAL and "no tokenizer" in clap.problems[0]
    assert by[SIGLIP_DIR + "/"].ok
    text = verify.format_report(found, sizes, checks)
    assert "NOT ready, 4 of 5 items need attention" in text


def test_verify_cli_exit_codes_and_json(models, capsys):
    from foley_engine.cli import main

    assert main(["models", "verify", "--models-dir", str(models)]) == 0
    assert "every file is complete" in capsys.readouterr().out
    (hunyuan_dir(models) / VAE_FILE).unlink()
    assert main(["models", "verify", "hunyuan", "--models-dir", str(models), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"] and report["sizes"] == ["xl"]
    assert [f["name"] for f in report["files"] if f["status"] == "missing"] == [VAE_FILE]
    assert main(["models", "verify", "--models-dir", str(models), "--size", "all"]) == 1
    assert "hunyuanvideo_foley.pth" in capsys.readouterr().out


def test_sha256_of_a_file_under_a_released_name_is_a_notice(models, capsys):
    from foley_engine.cli import main

    assert main(["models", "verify", "--models-dir", str(models), "--sha256"]) == 0
    assert "is not the released" in capsys.readouterr().out


# --------------------------------------------------------------------------- full size


def _index_only_copy(state: dict, dtype, path):
    """A real torch file holding full-size tensors as 0-stride views of one element: the index of a
    full-size checkpoint in a few hundred kB (its shapes and dtypes are what verify reads)."""
    torch.save({k: torch.zeros((), dtype=dtype).expand(v.shape) for k, v in state.items()}, path)


@pytest.mark.parametrize("size", ["xxl", "xl"])
def test_full_size_folder_verifies_from_the_index(tmp_path, tiny_folder, size):
    folder = hunyuan_dir(tmp_path)
    folder.mkdir(parents=True)
    for name in (SIGLIP_DIR, CLAP_DIR):
        shutil.copytree(hunyuan_dir(tiny_folder) / name, folder / name)
    cfg = DiTConfig.xxl() if size == "xxl" else DiTConfig.xl()
    with torch.device("meta"):
        dit = HunyuanFoleyDiT(cfg).state_dict()
        sync = Synchformer().state_dict()
        vae = DACVAE(DACConfig())
    extras = {"repa_proj.0.weight": torch.empty(2048, 1536, device="meta")} if size == "xxl" else {}
    _index_only_copy({**dit, **extras}, torch.bfloat16, folder / DIT_FILES[size])
    _index_only_copy(sync, torch.float32, folder / SYNCHFORMER_FILE)
    torch.save({"state_dict": {k: torch.zeros(()).expand(v.shape) for k, v in vae.state_dict().items()},
                "metadata": {"kwargs": vae.config.to_kwargs()}}, folder / VAE_FILE)
    _, sizes, checks = verify.verify_folder(tmp_path)
    by = _by_name(checks)
    assert sizes == [size] and all(c.ok for c in checks), [c.problems for c in checks]
    # XXL: 1087 tensors, 5.134 B values, plus the 3.1 M of the extra head
    want = "1088 tensors, 5.137 B values" if size == "xxl" else "733 tensors, 2.913 B values"
    assert by[DIT_FILES[size]].summary == want + ", bfloat16"
    assert by[SYNCHFORMER_FILE].summary.startswith("513 tensors, 0.237 B values")
    assert by[VAE_FILE].summary.startswith("298 tensors")
    if extras:
        assert "ignoring 1 tensors the model does not use (3.1 M values, 0.06% of the model)" in by[
            DIT_FILES[size]].notices[0]


# --------------------------------------------------------------------------- verify and the loader agree


def _layouts(model):
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    missing = dict(state)
    del missing["final_layer.linear.bias"]
    return {
        "exact": state,
        "bf16": {k: v.to(torch.bfloat16) for k, v in state.items()},
        "repa extras": {**state, "repa_proj.0.weight": torch.zeros(8, 64)},
        "wrapped": {"state_dict": {f"module.{k}": v for k, v in state.items()}, "step": 3},
        "inside extra": {**state, "single_blocks.0.extra.weight": torch.zeros(2)},
        "missing": missing,
        "wrong shape": {**state, "triple_blocks.1.audio_mod.linear.bias": torch.zeros(7)},
        "float64": {**state, "empty_clip_feat": state["empty_clip_feat"].double()},
        "model copy": {**state, **{f"ema.{k}": v for k, v in state.items()}},
        "not a dict": [state["empty_clip_feat"]],
    }


def test_verify_says_ok_exactly_when_the_loader_loads(tmp_path):
    model = randomize(HunyuanFoleyDiT(DiTConfig.tiny()), 3)
    verdicts = {}
    for name, obj in _layouts(model).items():
        path = tmp_path / f"{name}.pth"
        torch.save(obj, path)
        checked = verify.check_checkpoint(path, "dit", "DiT")
        try:
            load_dit(path)
            loads = True
        except CheckpointError as exc:
            loads = False
            assert checked.problems and checked.problems[-1].removeprefix("DiT: ") in str(exc), name  # same words
        verdicts[name] = (checked.ok, loads)
    assert all(ok == loads for ok, loads in verdicts.values()), verdicts
    assert [n for n, (ok, _) in verdicts.items() if ok] == ["exact", "bf16", "repa extras", "wrapped"]
