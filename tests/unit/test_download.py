"""Downloads over HTTP with time limits: a mirror that hangs or drips is left for the next one, with a log line
naming it and why; no temporary folder is left behind, however the download ends. Every server here is on
127.0.0.1, started by the test, and every test ends in seconds."""

import contextlib
import functools
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT

from vanishing_gradients.data import DataError
from vanishing_gradients.fetch import Limits, fetch_files

FAST = Limits(connect_s=0.5, file_s=1.5)


@contextlib.contextmanager
def silent_server():
    """Accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


@contextlib.contextmanager
def dripping_server(stop_after_s=20.0):
    """Answers with headers for a large file, then one byte every 50 ms."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve():
        deadline = time.monotonic() + stop_after_s
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 1000000\r\n\r\n")
                with contextlib.suppress(OSError):
                    while not stop.is_set() and time.monotonic() < deadline:
                        conn.sendall(b"\x1f")
                        time.sleep(0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        stop.set()
        thread.join(5)
        sock.close()


@contextlib.contextmanager
def http_mirror(folder):
    """A good mirror: the folder served over HTTP."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def leftovers(out):
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".fetch-"))


def test_a_mirror_that_never_answers_is_left_for_the_next_with_a_log_line(synthetic_mirror, tmp_path):
    mirror, files, _ = synthetic_mirror
    out, seen = tmp_path / "out", []
    started = time.monotonic()
    with silent_server() as silent, http_mirror(mirror) as good:
        served = fetch_files([silent, good], out, files, log=seen.append, limits=FAST)
    assert time.monotonic() - started < 15
    assert set(served.values()) == {good}
    for name in files:
        assert (out / name).read_bytes() == (mirror / name).read_bytes()
    hung = [line for line in seen if silent in line]
    assert len(hung) == len(files) and all("no answer within 0.5 s" in line for line in hung)
    assert all("trying the next mirror" in line for line in hung)
    assert not leftovers(out)


def test_a_mirror_that_drips_stops_at_the_time_limit_per_file(synthetic_mirror, tmp_path):
    mirror, files, _ = synthetic_mirror
    name = "t10k-labels-idx1-ubyte.gz"
    one = {name: files[name]}
    out, seen = tmp_path / "out", []
    started = time.monotonic()
    with dripping_server() as drip:
        served = fetch_files([drip, str(mirror)], out, one, log=seen.append, limits=FAST)
        assert served == {name: str(mirror)}
        assert time.monotonic() - started < 10
        assert any(drip in line and "not complete after 1.5 s" in line for line in seen), seen
        with pytest.raises(DataError) as err:
            fetch_files([drip], tmp_path / "o2", one, limits=FAST)
    assert f"{drip}: not complete after 1.5 s" in str(err.value)
    assert not leftovers(out) and not leftovers(tmp_path / "o2")


def test_http_errors_are_named_and_the_next_mirror_tried(synthetic_mirror, tmp_path):
    mirror, files, _ = synthetic_mirror
    with http_mirror(tmp_path) as empty, http_mirror(mirror) as good:
        served = fetch_files([empty, good], tmp_path / "out", files, limits=FAST)
        assert set(served.values()) == {good}
        with pytest.raises(DataError, match=r"HTTP 404"):
            fetch_files([empty], tmp_path / "o2", files, limits=FAST)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    with pytest.raises(DataError, match=r"cannot connect"):
        fetch_files([f"http://127.0.0.1:{port}/"], tmp_path / "o3", files, limits=FAST)


# SIGINT as in a terminal: a process started in the background by a shell (as CI may start the suite) inherits
# SIGINT ignored, and Python then never raises KeyboardInterrupt.
FETCH = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {src!r})
from vanishing_gradients.datasets import FASHION_MNIST
from vanishing_gradients.fetch import Limits, fetch_files
fetch_files([{mirror!r}], {out!r}, FASHION_MNIST.files, limits=Limits(connect_s=60))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_download_leaves_no_temporary_folder(tmp_path, signum):
    out = tmp_path / "out"
    with silent_server() as silent:
        code = FETCH.format(src=str(ROOT / "src"), mirror=silent, out=str(out))
        proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while not (out.is_dir() and leftovers(out)) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not leftovers(out):  # say why: a child that ended early has its traceback on stderr
                ended = proc.poll()
                why = proc.communicate(timeout=5)[1] if ended is not None else "still running, no temporary folder"
                raise AssertionError(f"the download never started (exit {ended}): {why}")
            proc.send_signal(signum)
            proc.wait(timeout=10)
        finally:
            proc.kill()
            proc.wait()
    # SIGTERM: exit status 143 after the clean-up; Ctrl-C: Python dies of SIGINT after it (returncode -2)
    assert proc.returncode == (128 + signal.SIGTERM if signum == signal.SIGTERM else -signal.SIGINT), proc.stderr.read()
    assert not leftovers(out)


def test_the_temporary_folder_of_a_killed_download_is_removed_by_the_next(synthetic_mirror, tmp_path):
    mirror, files, _ = synthetic_mirror
    out = tmp_path / "out"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    stale = out / f".fetch-{int(gone.stdout)}@{host}.abc123"
    live = out / f".fetch-{os.getpid()}@{host}.def456"  # a download running now: left alone
    for folder in (stale, live):
        folder.mkdir(parents=True)
        (folder / "train-images-idx3-ubyte.gz").write_bytes(b"partial")
    fetch_files([str(mirror)], out, files)
    assert leftovers(out) == [live.name]


def test_a_mirror_that_is_a_device_or_a_folder_without_the_files_is_named_and_skipped(synthetic_mirror, tmp_path):
    mirror, files, _ = synthetic_mirror
    empty = tmp_path / "empty"
    empty.mkdir()
    devices = tmp_path / "devices"  # the file names exist, but they are a device and a named pipe
    devices.mkdir()
    (devices / "train-images-idx3-ubyte.gz").symlink_to("/dev/zero")
    os.mkfifo(devices / "train-labels-idx1-ubyte.gz")
    bad = ["/dev/null", "/dev/zero", str(empty), str(devices)]
    started = time.monotonic()
    served = fetch_files([*bad, str(mirror)], tmp_path / "out", files, limits=FAST)
    assert set(served.values()) == {str(mirror)}
    with pytest.raises(DataError) as err:
        fetch_files(bad, tmp_path / "o2", files, limits=FAST)
    assert time.monotonic() - started < 10
    lines = str(err.value).splitlines()
    assert "  /dev/null: /dev/null is a character device, not a folder: a mirror is a folder" in str(err.value)
    assert any(line.startswith("  /dev/zero: /dev/zero is a character device, not a folder") for line in lines)
    assert f"  {empty}: the folder {empty} has no train-images-idx3-ubyte.gz" in lines
    assert f"  {devices}: {devices}/train-images-idx3-ubyte.gz is a character device, not a regular file" in lines
    with pytest.raises(DataError, match="is a named pipe, not a regular file"):
        fetch_files([str(devices)], tmp_path / "o3", {"train-labels-idx1-ubyte.gz": (None, (1,))})
