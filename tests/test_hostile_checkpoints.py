"""Crafted checkpoints (issue 20, items 2 and 3): one-line refusals, bounded time and memory, and the loader
refusing exactly what ``foley models verify`` refuses."""
from __future__ import annotations

import json
import pickle
import struct
import zipfile

import pytest

from foley_engine.backends.hunyuan.checkpoints import index as ckpt_index, verify
from foley_engine.backends.hunyuan.checkpoints.layout import DIT_FILES, SIGLIP_DIR, hunyuan_dir
from foley_engine.backends.hunyuan.checkpoints.policy import CheckpointError

from bounds import bounded


def safetensors_bytes(header, data: bytes = b"", raw: bytes | None = None) -> bytes:
    text = raw if raw is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def torch_zip(path, pkl: bytes, compress: bool = False):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pkl)
        zf.writestr("archive/version", "3\n")
    return path


def self_referencing_pickle() -> bytes:
    wrapper = {"epoch": 3}
    wrapper["state_dict"] = wrapper  # the unwrap loop followed this forever
    return pickle.dumps(wrapper, protocol=2)


BAD_HEADERS = {
    "a non-object entry": ({"w": 5}, "not an object"),
    "three data_offsets": ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}, "data_offsets"),
    "a string dimension": ({"w": {"dtype": "F32", "shape": ["1e999"], "data_offsets": [0, 4]}}, "dimension"),
    "a 4,200-digit dimension": ({"w": {"dtype": "F32", "shape": [int("9" * 4200)], "data_offsets": [0, 4]}},
                                "dimension"),
    "a negative shape and offsets": ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [100, -50]}},
                                     "dimension"),
    "a range that does not fit the shape": ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}},
                                            "need 8"),
    "overlapping ranges": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                            "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, "overlap"),
    "a list header": ([1, 2], "not a JSON object"),
}


@pytest.mark.parametrize("case", list(BAD_HEADERS))
def test_bad_safetensors_headers_are_one_line_refusals(tmp_path, case):
    header, why = BAD_HEADERS[case]
    path = tmp_path / "w.safetensors"
    path.write_bytes(safetensors_bytes(header, b"\0" * 16))
    with bounded(5, 64), pytest.raises(ckpt_index.UnreadableIndex, match=why):
        ckpt_index.read_index(path)


def test_a_deep_safetensors_header_is_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(safetensors_bytes(None, raw=b"[" * 100_000 + b"]" * 100_000))
    with bounded(5, 64), pytest.raises(ckpt_index.UnreadableIndex, match="nested too deep"):
        ckpt_index.read_index(path)


def test_the_loader_refuses_what_verify_refuses(tmp_path):
    pytest.importorskip("torch")
    from foley_engine.backends.hunyuan.checkpoints.state import load_file

    for case, (header, why) in BAD_HEADERS.items():
        path = tmp_path / "w.safetensors"
        path.write_bytes(safetensors_bytes(header, b"\0" * 16))
        with pytest.raises(CheckpointError, match=why):
            load_file(path)


def test_a_self_referencing_wrapper_is_refused_in_bounded_time(tmp_path):
    folder = tmp_path / "models"
    hunyuan_dir(folder).mkdir(parents=True)
    path = torch_zip(hunyuan_dir(folder) / DIT_FILES["xl"], self_referencing_pickle())
    with bounded(10, 64):
        check = verify.check_checkpoint(path, "dit", "DiT (XL)", "xl")
    assert not check.ok
    assert any("contains itself" in p for p in check.problems), check.problems


def test_a_zip_bomb_index_is_refused_unread(tmp_path):
    """A data.pkl that inflates to 600 MB from a few hundred KB: refused at the cap, never inflated whole."""
    path = tmp_path / "bomb.pth"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("archive/data.pkl", "w", force_zip64=True) as member:
            block = b"\0" * 2**20
            for _ in range(600):
                member.write(block)
    assert path.stat().st_size < 2 * 2**20
    with bounded(20, 128), pytest.raises(ckpt_index.UnreadableIndex, match="data.pkl"):
        ckpt_index.read_index(path)


def _hf_folder(tmp_path, index_data):
    folder = tmp_path / "siglip"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors.index.json").write_text(json.dumps(index_data) if not isinstance(index_data, str)
                                                         else index_data)
    return folder


@pytest.mark.parametrize("index_data, why", [
    ([1, 2, 3], "not a shard index"),
    ("[" * 100_000 + "]" * 100_000, "nested too deep"),
    ({"weight_map": {"a": "/etc/passwd"}}, "outside its folder"),
    ({"weight_map": {"a": "../outside.safetensors"}}, "outside its folder"),
])
def test_bad_shard_indexes_are_refused_by_verify_and_loader(tmp_path, index_data, why):
    folder = _hf_folder(tmp_path, index_data)
    with bounded(5, 64):
        check = verify.check_hf_folder(folder, "SigLIP2 (visual)", False)
    assert not check.ok and any(why in p for p in check.problems), check.problems
    pytest.importorskip("torch")
    from foley_engine.backends.hunyuan.checkpoints.state import check_hf_weights

    with pytest.raises(CheckpointError, match=why):
        check_hf_weights(folder)


def test_a_shard_link_leading_outside_is_refused(tmp_path):
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes(safetensors_bytes({}))
    folder = _hf_folder(tmp_path, {"weight_map": {"a": "model-1.safetensors"}})
    (folder / "model-1.safetensors").symlink_to(outside)
    check = verify.check_hf_folder(folder, "SigLIP2 (visual)", False)
    assert any("outside its folder" in p for p in check.problems), check.problems


def test_verify_names_a_bad_header_in_the_report(tmp_path):
    folder = tmp_path / "models"
    siglip = hunyuan_dir(folder) / SIGLIP_DIR
    siglip.mkdir(parents=True)
    (siglip / "config.json").write_text("{}")
    (siglip / "model.safetensors").write_bytes(safetensors_bytes(BAD_HEADERS["overlapping ranges"][0], b"\0" * 12))
    check = verify.check_hf_folder(siglip, "SigLIP2 (visual)", False)
    assert any("overlap" in p for p in check.problems), check.problems


def test_a_crafted_length_in_the_pickle_allocates_nothing(tmp_path):
    """Five bytes claiming a 4 GiB bytes object: the C unpickler would allocate it before reading."""
    path = torch_zip(tmp_path / "w.pth", b"\x80\x02B\xff\xff\xff\x7f")
    with bounded(5, 64), pytest.raises(ckpt_index.UnreadableIndex, match="data.pkl"):
        ckpt_index.read_index(path)


def test_the_loader_refuses_crafted_torch_files_like_verify(tmp_path):
    pytest.importorskip("torch")
    from foley_engine.backends.hunyuan.checkpoints.state import read_state

    looping = torch_zip(tmp_path / "loop.pth", self_referencing_pickle())
    with bounded(10, 64), pytest.raises(CheckpointError, match="contains itself"):
        read_state(looping, "DiT")
    bomb = tmp_path / "bomb.pth"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("archive/data.pkl", "w", force_zip64=True) as member:
            for _ in range(80):
                member.write(b"\0" * 2**20)
    with bounded(10, 64), pytest.raises(CheckpointError, match="data.pkl"):
        read_state(bomb, "DiT")
