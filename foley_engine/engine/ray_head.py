"""A private single-node Ray for ``foley engine serve --ray-address local``.

The engine starts ``python -m foley_engine.engine.ray_head`` (the engine process
itself never imports Ray).  That process starts Ray with ``ray.init(address="local")``,
prints the cluster address as one JSON line, and keeps Ray up until its stdin
closes — when the engine stops, or dies even by kill -9 — then shuts Ray down.
It never runs ``ray stop`` (that would stop every Ray of this user on the machine).

Ray refuses to bind its ports to loopback, so the private cluster is protected by
Ray's token authentication with a fresh random token that only this engine's
slots are given (``RAY_AUTH_MODE=token``, ``RAY_AUTH_TOKEN``), and no dashboard.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from typing import Callable, Optional


class RayHead:
    """The engine's handle on its private Ray: ``address`` and the ``env`` its slots need."""

    def __init__(self, proc: subprocess.Popen, address: str, env: dict):
        self.proc, self.address, self.env = proc, address, env

    def stop(self, timeout: float = 30.0) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def auth_env() -> dict:
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def start_private_ray(config, log: Callable[[str], None], timeout: float = 120.0) -> RayHead:
    env = dict(os.environ, **auth_env())
    args = [sys.executable, "-m", "foley_engine.engine.ray_head"]
    if config.ray_local_cpus is not None:
        args += ["--num-cpus", str(config.ray_local_cpus)]
    if config.ray_local_gpus is not None:
        args += ["--num-gpus", str(config.ray_local_gpus)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, env=env, text=True)
    line: list = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    try:
        address = json.loads(line[0])["address"] if line and line[0] else None
    except (ValueError, KeyError):
        address = None
    if address is None:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the private Ray did not start within {timeout:g} s (is the ray extra installed?)")
    log(f"private Ray started at {address} (pid {proc.pid}, token authentication)")
    return RayHead(proc, address, {k: env[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")})


def main(argv: Optional[list] = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m foley_engine.engine.ray_head")
    parser.add_argument("--num-cpus", type=float)
    parser.add_argument("--num-gpus", type=float)
    args = parser.parse_args(argv)
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # Ray's own prints go to stderr, the channel stays clean
    import ray

    ctx = ray.init(address="local", num_cpus=args.num_cpus, num_gpus=args.num_gpus, include_dashboard=False,
                   log_to_driver=False, logging_level="WARNING", namespace="foley-engine")
    out.write(json.dumps({"address": ctx.address_info["gcs_address"]}) + "\n")
    out.flush()
    try:
        sys.stdin.read()  # until the engine closes it (or dies)
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
