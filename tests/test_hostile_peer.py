"""A hostile peer on the wire (issue 20, items 1 and 8): the whole message is bounded before anything else."""
import os
import time

import pytest

from plugin_host.envelope import MAX_MESSAGE_BYTES

from test_engine_backend import EngineProcess, raw_socket


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = EngineProcess(tmp_path_factory.mktemp("engine")).start()
    yield eng
    eng.stop()


def signed_status(session):
    return session.serialize("status", {})[0]


def refusal(sock, session, timeout=20.0):
    assert sock.poll(timeout * 1000), "no answer"
    return session.deserialize(sock.recv_multipart(), verify=False).content


def test_many_frames_before_the_delimiter_are_refused_by_count(engine):
    """200,000 empty frames in front of a signed message: refused by count, and the loop keeps serving."""
    sock, session = raw_socket(engine)
    try:
        started = time.monotonic()
        sock.send_multipart([b""] * 200_000 + signed_status(session))
        answer = refusal(sock, session)
        assert answer["status"] == "error"
        assert "more than 16 frames" in answer["message"], answer  # not a signature check of it
        assert time.monotonic() - started < 10
        with engine.client() as eng:
            assert eng.status()["engine"]["pid"] == engine.proc.pid
    finally:
        sock.close()


def test_frames_under_the_per_frame_limit_are_refused_by_total(engine):
    """Frames each under ZMQ_MAXMSGSIZE but over the bound together: refused, never assembled."""
    sock, session = raw_socket(engine)
    try:
        chunk = b"x" * (MAX_MESSAGE_BYTES // 4)
        sock.send_multipart([chunk] * 5 + signed_status(session))
        answer = refusal(sock, session)
        assert f"over {MAX_MESSAGE_BYTES} bytes in all" in answer["message"], answer
        with engine.client() as eng:
            assert eng.status()
    finally:
        sock.close()


def test_a_normal_message_still_passes(engine):
    sock, session = raw_socket(engine)
    try:
        sock.send_multipart(signed_status(session))
        assert sock.poll(5000)
        reply = session.deserialize(sock.recv_multipart())
        assert reply.content["status"] == "ok"
    finally:
        sock.close()


def test_a_stopped_worker_is_not_responding_rather_than_busy(engine):
    import os
    import signal

    from test_engine_backend import wait_for

    pid = wait_for(lambda: (engine.status()["worker"] or {}).get("pid"), what="a worker")
    os.kill(pid, signal.SIGSTOP)
    try:
        # kill() returns before the process is stopped: wait for it
        status = wait_for(lambda: (lambda st: st if st["worker"]["state"] == "not responding" else None)(
            engine.status()), 10, "the stopped worker reported")
        assert status["slots"][0]["state"] == "not responding"
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: engine.status()["worker"]["state"] != "not responding", what="the worker back")


# ------------------------------------------------------------------ item 8: the grammar of numbers and timecode


@pytest.mark.parametrize("text", ["١٢", "１２", "1.٥", "١/٢", "²"])
def test_numbers_are_ascii_digits_only(text):
    from plugin_host.timebase import TimeError, parse_number

    with pytest.raises(TimeError):
        parse_number(text)


def test_timecode_and_clock_times_are_ascii_digits_only():
    from fractions import Fraction

    from foley_engine.errors import RangeError
    from foley_engine.timebase import parse_clock
    from plugin_host.timebase import TimeError, timecode_to_frames

    with pytest.raises(TimeError):
        timecode_to_frames("٠٠:٠٠:٠١:٠٠", Fraction(25))
    with pytest.raises(RangeError):
        parse_clock("٠:٠١")


@pytest.mark.parametrize("rate", [15, 24, 25, 30, 50, 60])
def test_a_drop_frame_separator_is_refused_where_there_is_no_drop_frame(rate):
    from fractions import Fraction

    from plugin_host.timebase import TimeError, timecode_to_frames

    with pytest.raises(TimeError, match="drop-frame"):
        timecode_to_frames("00:01:00;05", Fraction(rate))
    assert timecode_to_frames("00:01:00:05", Fraction(rate)) == 60 * rate + 5
    assert timecode_to_frames("00:01:00;02", Fraction(30000, 1001)) == 60 * 30  # 29.97 keeps it


# ------------------------------------------------------------------ item 6: --output-root where the file is opened


def test_process_views_are_not_output_folders(engine, tmp_path):
    from plugin_host.client import RequestRejected

    for view in ("/proc/self/cwd", f"/proc/{os.getpid()}/cwd", "/dev/fd"):
        with engine.client() as eng, pytest.raises(RequestRejected) as info:
            eng.submit([{"media": str(tmp_path / "missing.mp4")}], out_dir=view)
        assert "process or device view" in str(info.value), (view, str(info.value))


def test_a_folder_swapped_for_a_link_while_queued_is_refused(engines, tmp_path):
    import shutil

    from plugin_host.client import JobFailed

    from test_engine_backend import make_clip

    clip = make_clip(str(tmp_path / "clip.mp4"), seconds=1)
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    eng = engines(tmp_path / "engine", "--output-root", str(root))
    with eng.client() as client:
        busy = client.submit([{"media": clip, "options": {"delay": "2"}}], out_dir=str(root))
        queued = client.submit([{"media": clip, "end": "1/2"}], out_dir=str(root / "sub"))
        shutil.rmtree(root / "sub")
        os.symlink(outside, root / "sub")  # the swap, while the job waits behind the busy one
        busy.wait(timeout=60)
        with pytest.raises(JobFailed, match="a link was put in its path"):
            queued.wait(timeout=60)
    assert os.listdir(outside) == []
