"""Fuzzing the checkpoint-header readers (hypothesis, bounded): safetensors headers, shard indexes and the
pickle inside a torch zip.  Whatever the bytes, each case ends in a one-line refusal
(:class:`UnreadableIndex` / :class:`CheckpointError`) or a valid index, within 2 s and 64 MiB."""
from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from foley_engine.backends.hunyuan.checkpoints import index as ckpt_index
from foley_engine.backends.hunyuan.checkpoints.policy import CheckpointError, unwrap

from bounds import bounded

FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
REFUSALS = (ckpt_index.UnreadableIndex, CheckpointError)

scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=12) | \
    st.sampled_from(["F32", "BF16", "1e999", "9" * 4200, -1])
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) |
                      st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
entries = st.fixed_dictionaries({}, optional={
    "dtype": st.sampled_from(list(ckpt_index.SAFETENSORS_DTYPES)) | scalars,
    "shape": st.lists(st.integers(-5, 2**40) | scalars, max_size=5) | values,
    "data_offsets": st.lists(st.integers(-100, 2**40), max_size=4) | values,
})
headers = st.dictionaries(st.text(max_size=10), entries | values, max_size=5) | values
deep = st.integers(1, 200_000).map(lambda n: "[" * n + "]" * n)


def within_bounds(read):
    with bounded(2, 64):
        try:
            return read()
        except REFUSALS:
            return None


@FUZZ
@given(header=headers | deep, data=st.binary(max_size=64), lie=st.integers(-8, 8))
def test_random_safetensors_headers(tmp_path_factory, header, data, lie):
    text = header.encode() if isinstance(header, str) else json.dumps(header).encode()
    path = tmp_path_factory.mktemp("st") / "w.safetensors"
    path.write_bytes(struct.pack("<Q", max(0, len(text) + lie)) + text + data)
    index = within_bounds(lambda: ckpt_index.read_index(path))
    if index is not None:
        for entry in index.root.values():  # what was accepted is consistent
            assert all(isinstance(d, int) and d >= 0 for d in entry.shape) and entry.nbytes >= 0


@FUZZ
@example(index={"weight_map": {"": "\x00"}})  # found by this test: a NUL in a shard name raised ValueError
@given(index=values | deep | st.fixed_dictionaries({"weight_map": st.dictionaries(
    st.text(max_size=5), st.sampled_from(["/etc/passwd", "../x", "a/../../b", "", ".", "ok.safetensors"])
    | st.text(max_size=20), max_size=4)}))
def test_random_shard_indexes(tmp_path_factory, index):
    folder = tmp_path_factory.mktemp("hf")
    path = folder / "model.safetensors.index.json"
    path.write_text(index if isinstance(index, str) else json.dumps(index))
    names = within_bounds(lambda: ckpt_index.shard_names(path))
    for name in names or ():
        assert (folder / name).resolve().is_relative_to(folder.resolve())


def _pickled(obj, self_ref: bool) -> bytes:
    if self_ref and isinstance(obj, dict):
        obj["state_dict"] = obj
    elif self_ref and isinstance(obj, list):
        obj.append(obj)
    return pickle.dumps(obj, protocol=2)


@FUZZ
@given(obj=values, self_ref=st.booleans(), junk=st.binary(max_size=40), cut=st.integers(0, 200))
def test_random_pickles_in_a_torch_zip(tmp_path_factory, obj, self_ref, junk, cut):
    pkl = _pickled(obj, self_ref)
    pkl = pkl[:len(pkl) - cut] + junk if cut else pkl
    path = tmp_path_factory.mktemp("pth") / "w.pth"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", pkl)
    path.write_bytes(buf.getvalue())

    def read_and_unwrap():
        index = ckpt_index.read_index(path)
        ckpt_index.tensors_of(index)
        return unwrap(index.root, lambda v: isinstance(v, ckpt_index.TensorEntry), "fuzz")

    within_bounds(read_and_unwrap)
