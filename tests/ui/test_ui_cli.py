"""``tracekit ui``: where it listens, what it warns about, how it fails."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from ui_helpers import research_trace, write

from tracekit.cli import main


def test_missing_store_is_one_line_not_a_traceback(tmp_path, capsys):
    status = main(["ui", "--db", str(tmp_path / "nothing.db"), "--port", "0"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("tracekit: no trace store at ")
    assert "Traceback" not in err


def test_a_file_that_is_not_a_store(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("hello " * 1000)
    assert main(["ui", "--db", str(path), "--port", "0"]) == 1
    assert "is not a tracekit store" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_bad_port(port, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["ui", "--port", port])
    assert exit_info.value.code == 2
    assert "bad port" in capsys.readouterr().err


def test_port_in_use_is_one_line(db, capsys):
    import socket

    write(db, research_trace(1))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["ui", "--db", db, "--port", str(port)]) == 1
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err


def test_without_the_ui_extra_the_message_says_what_to_install(tmp_path):
    code = (
        "import sys; sys.modules['starlette'] = None\n"
        "from tracekit.cli import main\n"
        f"sys.exit(main(['ui', '--db', {str(tmp_path / 'x.db')!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert "pip install 'tracekit-llm[ui]'" in result.stderr
    assert "Traceback" not in result.stderr


def run_ui(db, *args, env=None):
    """Start ``tracekit ui`` in a subprocess; return it and its first line of output."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracekit.cli", "ui", "--db", db, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if selector.select(timeout=0.5):
            return proc, proc.stdout.readline()
    proc.kill()
    raise AssertionError(f"tracekit ui did not start: {proc.stderr.read()}")


@pytest.mark.slow
def test_default_is_loopback_and_quiet(db):
    write(db, research_trace(1))
    proc, line = run_ui(db)
    try:
        assert "serving" in line
        assert "http://127.0.0.1:" in line
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url + "api/projects", timeout=10) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "WARNING" not in err
    assert proc.returncode == 0


@pytest.mark.slow
def test_non_loopback_host_warns_loudly(db):
    write(db, research_trace(1))
    proc, line = run_ui(db, "--host", "0.0.0.0")
    try:
        assert "serving" in line
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "WARNING: tracekit ui is listening on 0.0.0.0, which is not a loopback address" in err
    assert "no login" in err.lower()
    assert os.path.basename(db) in err


def test_the_listening_socket_is_tcp_so_responses_are_not_delayed():
    """asyncio sets TCP_NODELAY only on IPPROTO_TCP sockets (else ~40 ms per response)."""
    import socket

    from tracekit.ui._server import bind

    with bind("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP


@pytest.mark.slow
def test_open_starts_the_browser_on_the_served_address(db, tmp_path):
    write(db, research_trace(1))
    marker = tmp_path / "opened.txt"
    script = tmp_path / "fake_browser.py"
    script.write_text("import sys\nopen(sys.argv[1], 'w').write(sys.argv[2])\n")
    env = {**os.environ, "BROWSER": f"{sys.executable} {script} {marker} %s"}
    proc, line = run_ui(db, "--open", env=env)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # polling for the file the fake browser writes
        assert marker.read_text() == line.split(" at ")[1].split()[0]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
