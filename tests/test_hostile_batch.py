"""``foley batch`` given hostile inputs (issue 20, items 4 and 5)."""
from __future__ import annotations

import os

import pytest

from foley_batch.inputs import BatchError, expand_inputs

from bounds import bounded


def test_a_list_that_lists_itself_is_a_cycle(tmp_path):
    listing = tmp_path / "L"
    listing.write_text(f"@{listing}\n")
    with bounded(5, 32), pytest.raises(BatchError, match="includes itself"):
        expand_inputs([f"@{listing}"])


def test_two_self_references_do_not_grow(tmp_path):
    listing = tmp_path / "L"
    listing.write_text("@L\n@L\n")  # relative to the list's own folder
    with bounded(5, 32), pytest.raises(BatchError, match="includes itself"):
        expand_inputs([f"@{listing}"])


def test_a_long_cycle_through_other_lists(tmp_path):
    for i in range(5):
        (tmp_path / f"l{i}").write_text(f"@l{(i + 1) % 5}\n")
    with bounded(5, 32), pytest.raises(BatchError, match=r"@.*l0.*includes itself"):
        expand_inputs([f"@{tmp_path / 'l0'}"])


def test_lists_nested_too_deep_are_refused(tmp_path):
    for i in range(40):
        (tmp_path / f"l{i}").write_text(f"@l{i + 1}\n")
    (tmp_path / "l40").write_text("")
    with bounded(5, 32), pytest.raises(BatchError, match="nested more than 16 deep"):
        expand_inputs([f"@{tmp_path / 'l0'}"])


def test_a_list_read_twice_from_two_lists_is_fine(tmp_path):
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"")
    (tmp_path / "shared").write_text("a.mp4\n")
    (tmp_path / "top").write_text("@shared\n@shared\n")
    assert expand_inputs([f"@{tmp_path / 'top'}"]) == ([str(clip)], [])


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_character_device_is_not_a_list(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    with bounded(5, 32), pytest.raises(BatchError, match="not a regular file"):
        expand_inputs([f"@{device}"])


def test_a_fifo_is_not_a_list_and_does_not_block(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with bounded(5, 32), pytest.raises(BatchError, match="not a regular file"):
        expand_inputs([f"@{fifo}"])


def test_a_huge_list_is_refused_unread(tmp_path):
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(17 * 2**20)  # sparse: costs no disk
    with bounded(5, 40), pytest.raises(BatchError, match="over 16 MiB"):
        expand_inputs([f"@{big}"])


def test_dry_run_on_a_cycle_is_one_line(tmp_path, capsys):
    from foley_engine.cli import main

    listing = tmp_path / "L"
    listing.write_text(f"@{listing}\n")
    with bounded(20, 64):
        code = main(["batch", f"@{listing}", "--out", str(tmp_path / "out"), "--dry-run"])
    err = capsys.readouterr().err
    assert code != 0 and "includes itself" in err and "Traceback" not in err


# ------------------------------------------------------------------ item 5: a re-run after the outputs were deleted


def test_a_rerun_after_the_outputs_were_deleted_generates_them_again(engines, tmp_path, capsys):
    import json
    import shutil

    from test_batch import batch
    from test_engine_backend import make_clip

    clips = [make_clip(str(tmp_path / f"{n}.mp4"), seconds=1) for n in ("a", "b")]
    engine = engines(tmp_path / "engine")
    out = tmp_path / "out"
    args = [*clips, "--out", str(out), "--connection-file", engine.connection_file, "--no-autostart",
            "--progress"]
    assert batch(*args) == 0
    shutil.rmtree(out)
    capsys.readouterr()
    assert batch(*args) == 0
    assert "generating it again" in capsys.readouterr().err
    doc = json.loads((out / "foley-batch-summary.json").read_text())
    assert doc["totals"]["done"] == 2
    for item in doc["items"]:
        assert item["output"] and os.path.getsize(item["output"]) > 44, item  # never a file that is not there


def test_a_summary_never_lists_a_missing_file(tmp_path):
    from fractions import Fraction

    from foley_batch.report import summary
    from foley_batch.units import Unit
    from plugin_host.items import Item, Result

    item = Item(media="/x/a.mp4", start=Fraction(0), end=Fraction(1))
    unit = Unit(label="a.mp4", source="/x/a.mp4", item=item, out_dir=str(tmp_path), seconds=Fraction(1))
    unit.status = "done"
    unit.result = Result(item=0, path=str(tmp_path / "gone.wav"), media="/x/a.mp4", start=Fraction(0),
                         end=Fraction(1), start_sample=0, num_samples=48000, sample_rate=48000)
    doc = summary([unit], [], str(tmp_path), 0.0, 1.0, None)
    assert doc["items"][0]["output"] is None
