"""Full-size MMAudio models: every tensor name and shape equals the released layout, and the shared
Synchformer reproduces the reference's visual tokens.

``tests/data/mmaudio/manifests.json`` was made by constructing the reference classes
(hkchengrex/MMAudio, commit in the file) on the meta device; see ``tests/mmaudio_make_fixtures.py``.
The 44.1 kHz BigVGAN-v2 manifest follows the configuration stated in ``BigVGANConfig.v2_44k`` (its
config.json is read from the downloaded folder at load time; the values there were not fetched here).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import mmaudio_tiny as tiny  # noqa: E402
from foley_engine.backends.mmaudio.files import SIZES  # noqa: E402
from foley_engine.backends.mmaudio.models.bigvgan import BigVGAN, BigVGANConfig  # noqa: E402
from foley_engine.backends.mmaudio.models.network import MMAudioNetwork, NetworkConfig  # noqa: E402
from foley_engine.backends.mmaudio.models.vae import AudioVAE, VAEConfig  # noqa: E402
from foley_engine.models.synchformer import Synchformer  # noqa: E402


@pytest.fixture(scope="module")
def manifests():
    with open(tiny.MANIFESTS, encoding="utf-8") as fh:
        data = json.load(fh)
    assert data["source"].startswith("hkchengrex/MMAudio@")
    return data["models"]


def shapes(factory) -> dict:
    with torch.device("meta"):
        model = factory()
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def same(ours: dict, theirs: dict) -> None:
    assert sorted(set(theirs) - set(ours)) == [], "tensors the release has and we do not"
    assert sorted(set(ours) - set(theirs)) == [], "tensors we have and the release does not"
    wrong = {k: (ours[k], theirs[k]) for k in theirs if ours[k] != theirs[k]}
    assert wrong == {}


@pytest.mark.parametrize("size", SIZES)
def test_network_layout_matches_release(manifests, size):
    same(shapes(lambda: MMAudioNetwork(NetworkConfig.released(size))), manifests[f"network/{size}"])


@pytest.mark.parametrize("mode", ["16k", "44k"])
def test_vae_layout_matches_release(manifests, mode):
    same(shapes(lambda: AudioVAE(VAEConfig.released(mode))), manifests[f"vae/{mode}"])


@pytest.mark.parametrize("mode", ["16k", "44k"])
def test_vocoder_layout_matches_release(manifests, mode):
    cfg = BigVGANConfig.mmaudio_16k() if mode == "16k" else BigVGANConfig.v2_44k()
    same(shapes(lambda: BigVGAN(cfg)), manifests[f"bigvgan/{mode}"])


def test_parameter_counts_are_the_published_ones():
    """The paper's 157 M (small), 621 M (medium) and 1.03 B (large) flow-network parameters (truncated)."""
    from foley_engine.backends.mmaudio.models.network import count_released_parameters

    assert int(count_released_parameters("small_16k") / 1e6) == 157
    assert int(count_released_parameters("medium_44k") / 1e6) == 621
    assert int(count_released_parameters("large_44k") / 1e7) == 103


def test_synchformer_is_the_one_the_reference_loads():
    """The reference loads only ``vfeat_extractor.*`` of the same file; our shared model has each of those."""
    with np.load(tiny.FIXTURES) as data:
        theirs = json.loads(str(data["sync/manifest"]))
    ours = shapes(Synchformer)
    assert {k: v for k, v in ours.items() if k.startswith("vfeat_extractor.")} == theirs


@pytest.mark.slow
def test_synchformer_tokens_match_reference():
    """Full size, recipe weights, one random segment: the reference's visual tokens to 1e-4."""
    with np.load(tiny.FIXTURES) as data:
        expected, checksum = data["sync/tokens"], float(data["sync/in/segment_sum"])
    model = Synchformer().eval()
    state = model.state_dict()
    values = {k: (tiny.recipe(k, v.shape) if k.startswith("vfeat_extractor.") else v) for k, v in state.items()}
    model.load_state_dict(values, strict=True)
    segment = tiny.sync_segment()
    assert float(segment.double().sum()) == pytest.approx(checksum, rel=1e-9), "torch's generator changed"
    with torch.no_grad():
        tokens = model(segment[0]).numpy()[None]
    assert np.abs(tokens - expected).max() / np.abs(expected).max() <= 1e-4
