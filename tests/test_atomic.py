"""plugin_host.atomic: the one temp-file-then-rename writer every package uses."""
import json
import os
import stat
import sys

import pytest

from plugin_host.atomic import atomic_path, write_atomic, write_json_atomic


def test_a_write_replaces_the_file_whole_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("old")
    write_json_atomic(target, {"b": 1, "a": [1, 2]}, indent=1, sort_keys=True)
    assert json.loads(target.read_text()) == {"a": [1, 2], "b": 1} and target.read_text().endswith("}\n")
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert os.listdir(tmp_path) == ["state.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    target = tmp_path / "take.otio"
    target.write_text("whole")
    with pytest.raises(RuntimeError):
        with atomic_path(target, suffix=".otio") as tmp:
            assert tmp.endswith(".otio") and os.path.dirname(tmp) == str(tmp_path)
            assert os.path.basename(tmp).startswith(".take.otio.")  # hidden, named after its target
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "whole" and os.listdir(tmp_path) == ["take.otio"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_private_files_are_owner_only_from_the_start_and_others_follow_the_umask(tmp_path):
    write_json_atomic(tmp_path / "engine.json", {"key": "secret"}, private=True)
    assert stat.S_IMODE(os.stat(tmp_path / "engine.json").st_mode) == 0o600
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "shared.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "shared.txt").st_mode) == 0o644
