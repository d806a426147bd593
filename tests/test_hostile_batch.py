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
