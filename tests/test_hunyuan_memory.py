"""Memory for small GPUs: block streaming, float8 weights, the memory plan, --compile (CPU, tiny models).

Full size only on the meta device (the planner's counts) or as one block.
"""
from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("diffusers")

from foley_engine.backends.hunyuan import memory as planner  # noqa: E402
from foley_engine.backends.hunyuan.checkpoints.fp8_copy import copy_is_current, load_fp8_dit  # noqa: E402
from foley_engine.backends.hunyuan.checkpoints.layout import FP8_FILES, PARAMS  # noqa: E402
from foley_engine.backends.hunyuan.checkpoints.verify import verify_folder  # noqa: E402
from foley_engine.backends.hunyuan.models.dit import DiTConfig, HunyuanFoleyDiT, TripleStreamBlock  # noqa: E402
from foley_engine.backends.hunyuan.models.fp8 import (  # noqa: E402
    FP8, Fp8Linear, dequantize, fp8_layers, quantize, quantize_blocks, set_activation_mode,
)
from foley_engine.backends.hunyuan.offload import (  # noqa: E402
    BlockStreamer, CopyTransfer, Offload, execution_order, parse_offload,
)
from foley_engine.backends.hunyuan.pipeline import HunyuanFoleyPipeline  # noqa: E402
from foley_engine.errors import BackendError  # noqa: E402
from hunyuan_tiny import make_tiny_models, randomize  # noqa: E402

from foley_engine.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("hunyuan_memory")
    make_tiny_models(root, size="xl", seed=0)
    return root


@pytest.fixture(scope="module")
def folder(models_dir):
    return models_dir / "hunyuan"


def _frames(pipeline, seconds=1, seed=0):
    rng = np.random.default_rng(seed)
    size_s, size_y = pipeline.siglip.image_size, pipeline.synchformer.config.image_size
    siglip = rng.integers(0, 256, (8 * seconds, size_s, size_s, 3), dtype=np.uint8)
    sync = rng.integers(0, 256, (25 * seconds, size_y, size_y, 3), dtype=np.uint8)
    return siglip, sync


def _generate(pipeline, seconds=1):
    siglip, sync = _frames(pipeline, seconds)
    return pipeline.generate(siglip, sync, 48000 * seconds, "footsteps on wooden floor", seed=5, steps=3)


# --------------------------------------------------------------------------- offload modes


@pytest.mark.parametrize("text,expected", [
    (None, Offload()), (False, Offload()), ("none", Offload()), (True, Offload("model")), ("true", Offload("model")),
    ("model", Offload("model")), ("blocks", Offload("blocks", 0)), ("blocks:3", Offload("blocks", 3)),
    ("BLOCKS:12", Offload("blocks", 12)),
])
def test_offload_modes_parse(text, expected):
    assert parse_offload(text) == expected
    assert parse_offload(str(expected)) == expected  # what describe() prints reads back


@pytest.mark.parametrize("bad", ["blocks:", "blocks:-1", "layers", "blocks:2:3"])
def test_offload_bad_mode_is_one_line(bad):
    with pytest.raises(BackendError, match="--offload must be none, model, blocks or blocks:N"):
        parse_offload(bad)


class CountingTransfer(CopyTransfer):
    """A CPU 'device move' that records every fetch, wait and release, and how many blocks are away from home."""

    def __init__(self, blocks):
        super().__init__("cpu")
        self.index = {id(b): i for i, b in enumerate(blocks)}
        self.log = []
        self.on_device = set()
        self.most_on_device = 0

    def fetch(self, block):
        i = self.index[id(block)]
        self.log.append(("fetch", i))
        self.on_device.add(i)
        self.most_on_device = max(self.most_on_device, len(self.on_device))
        return super().fetch(block)

    def wait(self, block, pending):
        self.log.append(("wait", self.index[id(block)]))
        super().wait(block, pending)

    def release(self, block):
        i = self.index[id(block)]
        self.log.append(("release", i))
        self.on_device.discard(i)
        super().release(block)


def test_block_streamer_fetches_ahead_in_order_and_holds_at_most_two():
    torch.manual_seed(0)
    dit = randomize(HunyuanFoleyDiT(DiTConfig.tiny()), 1).eval()
    blocks = execution_order(dit)
    assert len(blocks) == 4
    transfer = CountingTransfer(blocks)
    streamer = BlockStreamer(blocks, "cpu", resident=1, transfer=transfer).attach()
    x, t = torch.randn(2, 8, 20), torch.tensor([500.0, 500.0])
    text, clip, sync = torch.randn(2, 5, 24), torch.randn(2, 4, 16), torch.randn(2, 16, 128)
    with torch.no_grad():
        dit(x, t, text, clip, sync)
        first = list(transfer.log)
        transfer.log.clear()
        dit(x, t, text, clip, sync)
    streamer.finish()
    # Step 1: block 1 is fetched when resident block 0 starts; each streamed block fetches the next one
    # before it computes and is released right after; the last one prefetches block 1 for the next step.
    assert first == [("fetch", 1), ("wait", 1), ("fetch", 2), ("release", 1), ("wait", 2), ("fetch", 3),
                     ("release", 2), ("wait", 3), ("fetch", 1), ("release", 3)]
    # Step 2 finds block 1 already on its way: no second fetch of it.
    assert transfer.log[:3] == [("wait", 1), ("fetch", 2), ("release", 1)]
    assert transfer.most_on_device == 2
    assert transfer.on_device == set()  # finish() released the prefetch for the step that never came
    assert sum(1 for op, i in transfer.log + first if op == "fetch" and i == 0) == 0  # resident: never moved


def test_block_swap_output_is_bit_identical_to_no_offload(folder):
    plain = HunyuanFoleyPipeline.from_folder(folder, "xl", device="cpu")
    expected = _generate(plain)
    for mode in ("blocks:0", "blocks:2", "model"):
        swapped = HunyuanFoleyPipeline.from_folder(folder, "xl", device="cpu", offload=mode)
        assert str(swapped.offload) == mode
        assert np.array_equal(_generate(swapped), expected), mode
        if swapped.streamer is not None:
            assert not swapped.streamer.pending  # nothing left on the device after a window


# --------------------------------------------------------------------------- float8 weights


@pytest.mark.parametrize("granularity", ["tensor", "channel"])
def test_quantize_round_trip(granularity):
    torch.manual_seed(0)
    w = torch.randn(64, 48) * torch.logspace(-2, 0, 64)[:, None]  # rows of very different magnitude
    q, scale = quantize(w, granularity)
    assert q.dtype == FP8 and scale.dtype == torch.float32
    assert scale.shape == (() if granularity == "tensor" else (64,))
    back = dequantize(q, scale, torch.float32)
    rel = ((back - w).norm() / w.norm()).item()
    assert rel < 0.05
    # Per-channel scales keep the small rows: their error is relative to the row, not to the largest one.
    small_row = ((back[0] - w[0]).norm() / w[0].norm()).item()
    assert small_row < (0.04 if granularity == "channel" else 1.0)


def test_quantize_keeps_zero_rows_and_exact_values():
    w = torch.zeros(3, 4)
    w[1] = torch.tensor([1.0, -2.0, 0.5, 448.0])
    q, scale = quantize(w, "channel")
    assert torch.equal(dequantize(q, scale, torch.float32), w)


def test_fp8_blocks_replace_every_block_linear_and_conv_and_keep_names():
    dit = randomize(HunyuanFoleyDiT(DiTConfig.tiny()), 0)
    names = set(dit.state_dict())
    quantize_blocks(dit)
    state = dit.state_dict()
    assert names <= set(state)
    assert {k for k in state if k not in names} == {k[: -len("weight")] + "weight_scale" for k, v in state.items()
                                                    if v.dtype == FP8}
    for name, value in state.items():
        in_block = name.startswith(("triple_blocks.", "single_blocks."))
        is_matmul_weight = name.endswith(".weight") and value.dim() >= 2
        assert (value.dtype == FP8) == (in_block and is_matmul_weight), name


def test_fp8_dit_runs_close_to_bf16_on_cpu():
    torch.manual_seed(0)
    dit = randomize(HunyuanFoleyDiT(DiTConfig.tiny()), 3).eval()
    # The reference: the released dtype (bf16 weights), computed in float32 as on a CPU.
    dit = dit.to(torch.bfloat16).float()
    quant = quantize_blocks(randomize(HunyuanFoleyDiT(DiTConfig.tiny()), 3).to(torch.bfloat16).float()).eval()
    x, t = torch.randn(2, 8, 30), torch.tensor([700.0, 700.0])
    text, clip, sync = torch.randn(2, 5, 24), torch.randn(2, 4, 16), torch.randn(2, 16, 128)
    with torch.no_grad():
        ref, out = dit(x, t, text, clip, sync), quant(x, t, text, clip, sync)
        set_activation_mode(quant, "emulate")
        emulated = quant(x, t, text, clip, sync)
    rel = ((out - ref).norm() / ref.norm()).item()
    assert rel < 0.02
    assert ((emulated - ref).norm() / ref.norm()).item() < 0.1 and not torch.equal(emulated, out)


def test_native_path_falls_back_off_the_gpu():
    layer = Fp8Linear(torch.nn.Linear(16, 8))
    layer.activation = "native"  # on a CPU tensor the native path is not taken: plain upcast
    x = torch.randn(3, 16)
    assert torch.equal(layer(x), torch.nn.functional.linear(x, layer.upcast(torch.float32), layer.bias))


def test_fp8_copy_is_written_once_read_back_and_verified(folder):
    copy = folder / FP8_FILES["xl"]
    copy.unlink(missing_ok=True)
    first = load_fp8_dit(folder, "xl", torch.float32)
    assert copy.is_file() and copy_is_current(copy, folder / "hunyuanvideo_foley_xl.pth", "channel")
    assert any("saved" in line for line in first.load_notices)
    second = load_fp8_dit(folder, "xl", torch.float32)
    assert any(f"from {copy.name}" in line for line in second.load_notices)
    for (k, a), (k2, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert k == k2 and a.dtype == b.dtype and torch.equal(a.float(), b.float()), k
    assert not copy_is_current(copy, folder / "hunyuanvideo_foley_xl.pth", "tensor")  # other scales: rewritten
    # verify checks the copy like the released files
    _folder, _sizes, checks = verify_folder(folder.parent, "xl")
    fp8 = [c for c in checks if c.name == copy.name]
    assert fp8 and fp8[0].ok, fp8
    # a copy cut short is reported, not loaded
    data = copy.read_bytes()
    copy.write_bytes(data[: len(data) // 2])
    _folder, _sizes, checks = verify_folder(folder.parent, "xl")
    assert not [c for c in checks if c.name == copy.name][0].ok
    assert not copy_is_current(copy, folder / "hunyuanvideo_foley_xl.pth", "channel")
    copy.unlink()


def test_fp8_pipeline_generates(folder):
    pipeline = HunyuanFoleyPipeline.from_folder(folder, "xl", device="cpu", weights="fp8", offload="blocks:1")
    assert pipeline.weights == "fp8-channel" and fp8_layers(pipeline.dit)
    audio = _generate(pipeline)
    assert audio.shape == (48000,) and np.isfinite(audio).all()
    (folder / FP8_FILES["xl"]).unlink(missing_ok=True)


# --------------------------------------------------------------------------- the memory plan


def test_meta_counts_match_the_released_parameter_counts():
    assert planner.parameter_count("xxl") == PARAMS["xxl"]
    assert planner.parameter_count("xl") == PARAMS["xl"]


def test_fp8_roughly_halves_the_dit():
    for size in ("xxl", "xl"):
        bf16, fp8 = planner.weight_bytes(size, "bf16"), planner.weight_bytes(size, "fp8")
        assert 0.49 < fp8.dit / bf16.dit < 0.52


def test_issue_targets_are_predicted():
    gb = 10**9
    assert planner.predict("xxl", "fp8", "blocks:0").peak <= 8 * gb
    assert planner.predict("xl", "fp8", "blocks:0").peak <= 6 * gb
    assert planner.predict("xxl", "bf16", "model").peak <= 12 * gb


def test_peaks_order_as_expected():
    w = Fraction(10)
    none, model = planner.predict("xxl", "bf16", "none", w), planner.predict("xxl", "bf16", "model", w)
    streamed, resident = planner.predict("xxl", "bf16", "blocks:0", w), planner.predict("xxl", "bf16", "blocks:20", w)
    assert streamed.peak < resident.peak < none.peak and model.peak < none.peak
    assert streamed.relative_speed <= resident.relative_speed <= 1.0 and none.relative_speed == 1.0
    assert planner.predict("xxl", "bf16", "none", Fraction(5)).peak < none.peak


def test_choose_fits_the_budget_and_prefers_speed():
    for vram in ("8GB", "12GB", "16GB", "24GB", "80GB"):
        budget = planner.parse_memory(vram)
        plan = planner.choose("xxl", budget)
        assert plan.fits(budget)
        faster = [p for p in planner.candidates("xxl", budget) if p.fits(budget)
                  and p.relative_speed > plan.relative_speed + 1e-3]
        assert not faster, (vram, plan, faster)
    assert planner.choose("xxl", planner.parse_memory("80GB")).offload == Offload()
    with pytest.raises(BackendError, match="no HunyuanVideo-Foley XXL plan fits 2.0 GiB"):
        planner.choose("xxl", planner.parse_memory("2GB"))


@pytest.mark.parametrize("text,gib", [("8GB", 8), ("8 GiB", 8), ("7.5g", 7.5), ("12288MB", 12), ("16", 16)])
def test_parse_memory(text, gib):
    assert planner.parse_memory(text) == int(gib * 2**30)


def test_parse_memory_refuses_nonsense():
    with pytest.raises(BackendError, match="memory size must look like 8GB"):
        planner.parse_memory("eight")


def test_models_plan_cli_lists_every_plan(capsys):
    assert main(["models", "plan", "--vram", "8GB", "--size", "xxl"]) == 0
    out = capsys.readouterr().out
    assert "XXL  fp8     blocks:" in out and "predicted" in out and "--memory auto with 8GB, XXL: XXL fp8" in out
    assert main(["models", "plan", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["predicted"] and {p["size"] for p in data["plans"]} == {"xxl", "xl"}
    assert {p["offload"] for p in data["plans"]} >= {"none", "model", "blocks:0"}


def test_backend_refuses_a_plan_over_budget_before_loading(models_dir, monkeypatch):
    from foley_engine.backends.hunyuan import pipeline as pipeline_module
    from foley_engine.backends.hunyuan.backend import HunyuanBackend

    def never(*args, **kwargs):
        raise AssertionError("loaded although the plan cannot fit")

    monkeypatch.setattr(pipeline_module.HunyuanFoleyPipeline, "from_folder", never)
    with pytest.raises(BackendError, match=r"needs about .* the --memory budget has 4.0 GiB free") as err:
        HunyuanBackend(device="cpu", size="xl", models_dir=str(models_dir), memory="4GB", offload="none",
                       weights="bf16", window=10)
    assert "\n" not in str(err.value)


def test_backend_memory_auto_says_what_it_chose(models_dir):
    from foley_engine.backends.hunyuan.backend import HunyuanBackend

    backend = HunyuanBackend(device="cpu", size="xl", models_dir=str(models_dir), memory="5GB", steps=2)
    try:
        chosen = [n for n in backend.load_notices if n.startswith("memory plan for 5.0 GiB")]
        assert chosen and "XL fp8" in chosen[0]
        info = backend.describe()
        assert info["weights"] == "fp8-channel" and info["offload"].startswith(("blocks", "model"))
        assert info["plan"]["predicted_peak_bytes"] + planner.CUDA_RESERVE <= 5 * 2**30
    finally:
        backend.close()
        (models_dir / "hunyuan" / FP8_FILES["xl"]).unlink(missing_ok=True)


# --------------------------------------------------------------------------- --compile


def test_compile_wraps_each_block_and_matches_eager():
    from foley_engine.backends.hunyuan.compile import compile_blocks

    torch.manual_seed(0)
    dit = randomize(HunyuanFoleyDiT(DiTConfig.tiny()), 2).eval()
    x, t = torch.randn(1, 8, 12), torch.tensor([300.0])
    text, clip, sync = torch.randn(1, 5, 24), torch.randn(1, 3, 16), torch.randn(1, 16, 128)
    with torch.no_grad():
        eager = dit(x, t, text, clip, sync)
        # The "eager" dynamo backend traces the blocks without a C++ toolchain: the wiring, cheaply.
        compile_blocks(dit, backend="eager")
        compiled = dit(x, t, text, clip, sync)
    assert dit.compiled == "eager" and isinstance(dit.triple_blocks[0], TripleStreamBlock)
    assert torch.allclose(compiled, eager, atol=1e-6)
