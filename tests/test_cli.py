"""The tracekit command: ls, show, export, demo, --db, and errors as one line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from hand_records import hand_record

import tracekit
from tracekit._time import parse_time
from tracekit.backends.sqlite import SqliteBackend
from tracekit.cli import display_width, format_table, main
from tracekit.store import Store

ESC = "\x1b[31m"


# -- helpers -------------------------------------------------------------------------------


@tracekit.tool(name="lookup")
def lookup(query):
    if query == "fail":
        raise ValueError("lookup failed")
    return {"hits": [query]}


@tracekit.llm(name="model")
def model(prompt):
    span = tracekit.current_span()
    span.set_model("fake-model")
    span.set_usage(prompt_tokens=30, completion_tokens=12, total_tokens=42)
    return "answer"


@tracekit.agent(name="assistant")
def assistant(question, use_model=False):
    try:
        lookup(question)
    except ValueError:
        pass
    return model(question) if use_model else "done"


def write_store(db, *questions, use_model=False):
    """Trace ``assistant`` once per question into the store at db; returns the trace ids."""
    tracekit.init(f"sqlite:///{db}")
    for question in questions:
        assistant(question, use_model=use_model)
    tracekit.shutdown()
    with Store(db) as store:
        return [t.trace_id for t in store.list_traces(limit=1000).traces]  # newest first


def write_records(db, records, started=()):
    backend = SqliteBackend(str(db))
    if started:
        backend.export_started(list(started))
    if records:
        backend.export(list(records))
    backend.shutdown()


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, out, err, text):
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("tracekit: ")
    assert text in err
    assert "Traceback" not in err


@pytest.fixture
def db(tmp_path):
    return tmp_path / "traces.db"


# -- version, help ---------------------------------------------------------------------


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert tracekit.__version__ in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "ls" in capsys.readouterr().err


# -- ls --------------------------------------------------------------------------------


def test_ls_prints_a_table(db, capsys):
    ids = write_store(db, "fail", use_model=True)
    status, out, _ = run(capsys, "--db", str(db), "ls")
    assert status == 0
    header, row = out.splitlines()
    assert header.split() == [
        "TRACE", "STARTED", "DURATION", "STATUS", "SPANS", "TOKENS", "ROOT", "INPUT"
    ]  # fmt: skip
    assert row.startswith(ids[0][:12] + "  ")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row)
    assert re.search(r"\d+(\.\d+)? (µs|ms|s)", row)
    assert "ERROR" in row  # the lookup failed, even if the agent recovered
    assert re.search(r"\b3\s+42\b", row)  # 3 spans, 42 tokens
    assert "AGENT assistant" in row
    assert '{"question": "fail", "use_model": true}' in row
    # columns line up: every header word starts where its column starts
    assert header.index("STATUS") == row.index("ERROR")


def test_ls_empty_store_says_no_traces(db, capsys):
    write_store(db, "one")
    assert run(capsys, "--db", str(db), "ls", "--search", "nothing like it") == (
        0,
        "no traces\n",
        "",
    )


def test_ls_filters_by_status_and_kind(db, capsys):
    [failed] = write_store(db, "fail", use_model=True)
    ok = hand_record("ab" * 16, "cd" * 8, name="fine")
    write_records(db, [ok])
    _, out, _ = run(capsys, "--db", str(db), "ls", "--status", "ERROR")
    assert failed[:12] in out
    assert ok["trace_id"][:12] not in out
    _, out, _ = run(capsys, "--db", str(db), "ls", "--status", "ok")
    assert ok["trace_id"][:12] in out
    assert failed[:12] not in out
    _, out, _ = run(capsys, "--db", str(db), "ls", "--kind", "llm")
    assert failed[:12] in out
    assert ok["trace_id"][:12] not in out
    _, out, _ = run(capsys, "--db", str(db), "ls", "--project", "elsewhere")
    assert out == "no traces\n"


def test_ls_search_matches_text_literally(db, capsys):
    a, b, c = "1" * 32, "2" * 32, "3" * 32
    write_records(
        db,
        [
            hand_record(a, "1" * 16, inputs={"text": "100% sure"}),
            hand_record(b, "2" * 16, inputs={"text": "snake_case"}),
            hand_record(c, "3" * 16, inputs={"text": "plain words"}),
        ],
    )
    for text, expected in [("%", a), ("_", b), ("PLAIN", c)]:
        status, out, _ = run(capsys, "--db", str(db), "ls", "--search", text)
        assert status == 0
        rows = out.splitlines()[1:]
        assert [row[:12] for row in rows] == [expected[:12]], text
    for hostile in ["' OR 1=1 --", '"; DROP TABLE spans; --', "\\"]:
        assert run(capsys, "--db", str(db), "ls", "--search", hostile)[:2] == (0, "no traces\n")
    with Store(db) as store:
        assert len(store.list_traces().traces) == 3


def test_ls_pages_with_a_cursor(db, capsys):
    records = [
        hand_record(f"{i:032x}", f"{i:016x}", start_ns=1_700_000_000_000_000_000 + i)
        for i in range(1, 6)
    ]
    write_records(db, records)
    seen = []
    argv = ["--db", str(db), "ls", "--limit", "2"]
    for _ in range(3):
        status, out, _ = run(capsys, *argv)
        assert status == 0
        lines = out.splitlines()
        rows = [line for line in lines[1:] if not line.startswith("more: ")]
        seen += [row[:12] for row in rows]
        more = [line for line in lines if line.startswith("more: ")]
        if not more:
            break
        command = more[0].removeprefix("more: ").split()
        assert command[:2] == ["tracekit", "ls"]
        assert "--limit" in command
        assert command[2:4] == ["--db", str(db)]
        argv = command[1:]
    assert seen == [f"{i:032x}"[:12] for i in range(5, 0, -1)]


def test_ls_next_page_keeps_the_filters(db, capsys):
    write_records(db, [hand_record(f"{i:032x}", f"{i:016x}") for i in range(1, 4)])
    argv = ["--limit", "1", "--search", "hello world's", "--since", "30000d", "--sort", "spans"]
    write_records(db, [hand_record("ab" * 16, "ab" * 8, inputs={"text": "hello world's end"})])
    write_records(db, [hand_record("cd" * 16, "cd" * 8, inputs={"text": "hello world's end"})])
    _, out, _ = run(capsys, "ls", "--db", str(db), *argv)
    more = out.splitlines()[-1]
    assert more.startswith(f"more: tracekit ls --db {db} ")
    assert "--search 'hello world'\"'\"'s' --since 30000d --sort spans --limit 1 --cursor" in more


def test_ls_time_range(db, capsys):
    write_records(db, [hand_record("ab" * 16, "cd" * 8)])  # started in November 2023
    assert "abababababab" in run(capsys, "--db", str(db), "ls", "--since", "2023-11-01")[1]
    assert run(capsys, "--db", str(db), "ls", "--since", "1h")[1] == "no traces\n"
    assert run(capsys, "--db", str(db), "ls", "--until", "2023-01-01T00:00Z")[1] == "no traces\n"


# -- show ----------------------------------------------------------------------------------


def test_show_prints_the_tree(db, capsys):
    [trace_id] = write_store(db, "fail", use_model=True)
    status, out, _ = run(capsys, "--db", str(db), "show", trace_id)
    assert status == 0
    assert out.startswith(f"trace {trace_id}  project default  3 spans  42 tokens")
    assert "└─ AGENT assistant" in out
    assert "TOOL lookup" in out
    assert "ERROR ValueError: lookup failed" in out
    assert "LLM model" in out
    assert "fake-model  42 tokens  OK" in out
    assert 'in:  {"question": "fail", "use_model": true}' in out


def test_show_json_prints_the_stored_records(db, capsys):
    [trace_id] = write_store(db, "q", use_model=True)
    status, out, _ = run(capsys, "--db", str(db), "show", "--json", trace_id[:8])
    assert status == 0
    with Store(db) as store:
        assert json.loads(out) == {
            "trace_id": trace_id,
            "incomplete": False,
            "lost_spans": 0,
            "spans": store.get_trace(trace_id),
        }
    assert len(json.loads(out)["spans"]) == 3


def test_show_json_of_hand_written_records_round_trips(db, capsys):
    root = hand_record("ab" * 16, "01" * 8, kind="AGENT", attributes={"k": [1, 2]})
    child = hand_record("ab" * 16, "02" * 8, parent_id="01" * 8, kind="TOOL")
    write_records(db, [child, root])
    _, out, _ = run(capsys, "show", "abab", "--json", "--db", str(db))
    assert json.loads(out)["spans"] == [root, child]


def test_show_accepts_a_unique_prefix_and_refuses_an_ambiguous_one(db, capsys):
    write_records(db, [hand_record("abc0" * 8, "1" * 16), hand_record("abc1" * 8, "2" * 16)])
    status, out, _ = run(capsys, "--db", str(db), "show", "abc0")
    assert status == 0
    assert out.startswith("trace " + "abc0" * 8)
    assert_one_line_error(*run(capsys, "--db", str(db), "show", "abc"), "ambiguous")


def test_show_unknown_trace_is_one_line(db, capsys):
    write_records(db, [hand_record("ab" * 16, "cd" * 8)])
    assert_one_line_error(*run(capsys, "--db", str(db), "show", "ffff"), "no trace with id ffff")
    assert_one_line_error(*run(capsys, "--db", str(db), "show", "zz!"), "is not a trace id")


def test_running_and_unfinished_spans_render(db, capsys):
    root = hand_record("ab" * 16, "01" * 8, kind="AGENT", end_ns=None, status="RUNNING")
    child = hand_record("ab" * 16, "02" * 8, parent_id="01" * 8, kind="TOOL")
    write_records(db, [child], started=[root])
    _, out, _ = run(capsys, "--db", str(db), "ls")
    assert re.search(r"running\s+RUNNING", out)
    _, out, _ = run(capsys, "--db", str(db), "show", "abab")
    assert "AGENT step  running  RUNNING" in out
    assert "TOOL step  500.0 ms  OK" in out
    from tracekit._render import render_trace

    gone = {**root, "status": "UNFINISHED"}
    assert "AGENT step  unfinished  UNFINISHED" in render_trace([gone])


# -- export --------------------------------------------------------------------------------


def test_export_prints_every_record_as_json_lines(db, capsys):
    ids = write_store(db, "one", "two", use_model=True)
    status, out, _ = run(capsys, "--db", str(db), "export", "--format", "jsonl")
    assert status == 0
    exported = [json.loads(line) for line in out.splitlines()]
    with Store(db) as store:
        stored = list(store.iter_records())
    assert exported == stored
    assert {r["trace_id"] for r in exported} >= set(ids)


def test_export_one_trace_to_a_file(db, tmp_path, capsys):
    ids = write_store(db, "one", "two")
    target = tmp_path / "out.jsonl"
    status, out, _ = run(
        capsys, "export", "--db", str(db), "--trace", ids[0][:10], "--output", str(target)
    )
    assert status == 0
    assert out == f"exported 2 span records to {target}\n"
    exported = [json.loads(line) for line in target.read_text("utf-8").splitlines()]
    with Store(db) as store:
        stored = store.get_trace(ids[0])
    by_span = sorted(stored, key=lambda r: r["span_id"])
    assert sorted(exported, key=lambda r: r["span_id"]) == by_span


def test_export_takes_the_trace_id_positionally_as_show_does(db, tmp_path, capsys):
    ids = write_store(db, "one", "two")
    with Store(db) as store:
        stored = sorted(store.get_trace(ids[1]), key=lambda r: r["span_id"])
    for trace in (ids[1], ids[1][:8]):
        status, out, err = run(capsys, "--db", str(db), "export", trace)
        assert (status, err) == (0, "")
        exported = [json.loads(line) for line in out.splitlines()]
        assert sorted(exported, key=lambda r: r["span_id"]) == stored
    # with the other flags, in any order, and with --trace naming the same trace
    target = tmp_path / "one.jsonl"
    argv = ["export", "-o", str(target), ids[1][:8], "--db", str(db), "--trace", ids[1][:8]]
    assert run(capsys, *argv) == (0, f"exported 2 span records to {target}\n", "")
    assert len(target.read_text("utf-8").splitlines()) == 2
    # the id is resolved as show resolves it: an unknown one is one line, as there
    assert_one_line_error(*run(capsys, "--db", str(db), "export", "f" * 12), "no trace with id")


def test_export_of_an_unknown_trace_leaves_the_output_file_alone(db, tmp_path, capsys):
    ids = write_store(db, "one")
    kept = tmp_path / "kept.jsonl"
    kept.write_text("earlier export\n", encoding="utf-8")
    for bad, why in (("f" * 12, "no trace with id"), ("not-hex", "is not a trace id")):
        assert_one_line_error(*run(capsys, "--db", str(db), "export", bad, "-o", str(kept)), why)
        assert kept.read_text("utf-8") == "earlier export\n"  # not truncated
    fresh = tmp_path / "fresh.jsonl"
    assert run(capsys, "--db", str(db), "export", "f" * 12, "-o", str(fresh))[0] == 1
    assert not fresh.exists()  # nothing created either
    # a good id creates the file, private (it holds prompts and model output)
    assert run(capsys, "--db", str(db), "export", ids[0], "-o", str(fresh))[0] == 0
    assert len(fresh.read_text("utf-8").splitlines()) == 2
    if os.name == "posix":
        assert fresh.stat().st_mode & 0o777 == 0o600


def test_export_refuses_two_different_traces(db, capsys):
    ids = write_store(db, "one", "two")
    with pytest.raises(SystemExit) as exit_:
        main(["--db", str(db), "export", ids[0], "--trace", ids[1]])
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "give the trace once" in err
    assert err.count("\n") == 1


def test_export_time_range(db, capsys):
    write_records(db, [hand_record("ab" * 16, "cd" * 8)])
    assert run(capsys, "--db", str(db), "export", "--since", "2d") == (0, "", "")
    _, out, _ = run(capsys, "--db", str(db), "export", "--until", "1d")
    assert json.loads(out) == hand_record("ab" * 16, "cd" * 8)


def test_export_to_an_unwritable_path_is_one_line(db, tmp_path, capsys):
    write_records(db, [hand_record("ab" * 16, "cd" * 8)])
    target = tmp_path / "missing" / "out.jsonl"
    assert_one_line_error(
        *run(capsys, "--db", str(db), "export", "-o", str(target)), "No such file"
    )


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["ls"], ["show", "abc"], ["export"]])
def test_missing_store_is_one_line(tmp_path, capsys, command):
    missing = tmp_path / "nope.db"
    assert_one_line_error(*run(capsys, "--db", str(missing), *command), "no trace store at")
    assert not missing.exists()


def test_a_file_that_is_no_store_is_one_line(tmp_path, capsys):
    bogus = tmp_path / "bogus.db"
    bogus.write_text("this is not sqlite " * 100)
    assert_one_line_error(*run(capsys, "--db", str(bogus), "ls"), "not a tracekit store")


@pytest.mark.parametrize(
    "argv",
    [
        ["ls", "--since", "yesterday"],
        ["ls", "--until", "2026-13-45"],
        ["ls", "--since", "99999999999d"],  # out of the store's range
        ["ls", "--limit", "0"],
        ["ls", "--status", "great"],
        ["export", "--format", "csv"],
        ["show"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_are_one_line(db, capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("tracekit")
    assert "--help" in err


def test_bad_cursor_is_one_line(db, capsys):
    write_records(db, [hand_record("ab" * 16, "cd" * 8)])
    assert_one_line_error(*run(capsys, "--db", str(db), "ls", "--cursor", "nope"), "bad cursor")


def test_parse_time():
    now = 1_800_000_000.0
    assert parse_time("15m", now) == (now - 900) * 10**9
    assert parse_time("2h", now) == (now - 7200) * 10**9
    assert parse_time("3D", now) == (now - 3 * 86400) * 10**9
    assert parse_time("2026-01-02T03:04:05Z") == 1_767_323_045 * 10**9
    assert parse_time("2026-01-02T03:04:05+01:00") == 1_767_319_445 * 10**9
    local = time.mktime((2026, 1, 2, 0, 0, 0, 0, 0, -1))
    assert parse_time("2026-01-02") == int(local) * 10**9
    with pytest.raises(ValueError, match="bad time"):
        parse_time("soon")
    for huge in (
        "99999999999d",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+00:30",
    ):
        with pytest.raises(ValueError, match="out of range"):
            parse_time(huge)


# -- terminal safety -----------------------------------------------------------------------


def test_control_characters_are_shown_escaped(db, capsys):
    tracekit.init(f"sqlite:///{db}")
    with tracekit.span(f"evil{ESC}name", kind="TOOL", inputs={"text": f"{ESC}red\x07"}) as s:
        s.set_output(f"out\u202eput{ESC}")
        trace_id = s.trace_id
    tracekit.shutdown()
    for argv in (["ls"], ["show", trace_id], ["show", trace_id, "--json"], ["export"]):
        _, out, _ = run(capsys, "--db", str(db), *argv)
        assert "\x1b" not in out, argv
        assert "\x07" not in out, argv
        assert "\u202e" not in out, argv
    _, out, _ = run(capsys, "--db", str(db), "ls")
    assert "TOOL evil\\x1b[31mname" in out
    _, out, _ = run(capsys, "--db", str(db), "show", trace_id)
    assert "TOOL evil\\x1b[31mname" in out
    assert '{"text": "\\u001b[31mred\\u0007"}' in out
    assert "out\\u202eput" in out


def test_control_characters_in_arguments_are_escaped_in_errors(tmp_path, capsys):
    status, out, err = run(capsys, "--db", str(tmp_path / f"x{ESC}.db"), "ls")
    assert status == 1
    assert "\x1b" not in err
    assert "\\x1b[31m" in err


def test_table_alignment_counts_wide_characters():
    assert display_width("日本") == 4
    lines = format_table(("A", "B"), [("日本", "x"), ("ab", "y")])
    assert display_width(lines[1].split("x")[0]) == display_width(lines[2].split("y")[0]) == 6


# -- --db anywhere ---------------------------------------------------------------------------


def test_db_before_and_after_the_command(db, capsys):
    write_records(db, [hand_record("ab" * 16, "cd" * 8)])
    before = run(capsys, "--db", str(db), "ls")
    after = run(capsys, "ls", "--db", str(db))
    assert before == after
    assert before[0] == 0
    assert "abababababab" in before[1]


def test_default_db_is_the_working_directory_store(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    os.makedirs(".tracekit")
    write_records(os.path.join(".tracekit", "traces.db"), [hand_record("ab" * 16, "cd" * 8)])
    assert "abababababab" in run(capsys, "ls")[1]


# -- demo --------------------------------------------------------------------------------------


def test_demo_stores_and_prints_the_agent_trace(db, capsys):
    status, out, _ = run(capsys, "demo", "--db", str(db))
    assert status == 0
    assert "AGENT planner-agent" in out
    assert "CHAIN plan" in out
    assert out.count("LLM chat-completion") == 2
    assert "TOOL web_search" in out
    assert "ERROR TimeoutError" in out  # the failed tool call the agent recovered from
    assert "TOOL calculator" in out
    trace_id = out.split()[1]
    assert f"stored in {db} — browse with: tracekit --db {db} ls" in out
    assert f"or in the web UI: tracekit ui --db {db}" in out
    assert f"tracekit --db {db} show {trace_id[:12]}" in out
    with Store(db) as store:
        records = store.get_trace(trace_id)
    llm = [r for r in records if r["kind"] == "LLM"]
    assert all(r["usage"]["prompt_tokens"] > 50 for r in llm)
    assert all(r["model"] for r in llm)
    _, listing, _ = run(capsys, "ls", "--db", str(db))
    assert trace_id[:12] in listing


@pytest.mark.slow
def test_demo_then_ls_on_a_fresh_directory(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("TRACEKIT_BACKEND", None)

    def tracekit_cli(*argv):
        return subprocess.run(
            [sys.executable, "-m", "tracekit.cli", *argv],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=60,
            check=True,
        )

    demo = tracekit_cli("demo")
    assert "AGENT planner-agent" in demo.stdout
    assert "ERROR TimeoutError" in demo.stdout
    assert "stored in .tracekit/traces.db — browse with: tracekit ls" in demo.stdout
    assert demo.stderr == ""
    assert (tmp_path / ".tracekit" / "traces.db").is_file()
    trace_id = demo.stdout.split()[1]
    listing = tracekit_cli("ls")
    assert listing.stdout.splitlines()[1].startswith(trace_id[:12])
    assert "AGENT planner-agent" in listing.stdout


@pytest.mark.slow
def test_a_closed_pipe_ends_quietly(db):
    write_records(db, [hand_record("ab" * 16, "ab" * 8, inputs={"text": "x" * 90_000})])
    write_records(db, [hand_record("ef" * 16, "ef" * 8, inputs={"text": "y" * 90_000})])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracekit.cli", "--db", str(db), "export"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err == b""


def test_demo_that_cannot_store_is_one_line(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    status, out, err = run(capsys, "demo", "--db", str(tmp_path / "a-file" / "traces.db"))
    assert status == 1
    assert err.startswith("tracekit: the demo trace could not be stored in ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.slow
def test_python_dash_m_tracekit_is_the_tracekit_command(db, tmp_path):
    ids = write_store(db, "one")
    script = os.path.join(os.path.dirname(sys.executable), "tracekit")
    assert os.path.isfile(script), "the tracekit script is installed next to the interpreter"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("TRACEKIT_BACKEND", None)
    cases = [
        (["--version"], 0),
        ([], 2),  # no command: the help, on stderr
        (["show"], 2),  # a bad argument
        (["--db", str(tmp_path / "nope.db"), "ls"], 1),  # an error: one line
        (["--db", str(db), "ls"], 0),
        (["--db", str(db), "export", ids[0][:8]], 0),
    ]
    for argv, status in cases:
        as_module, as_script = (
            subprocess.run(
                [*command, *argv],
                capture_output=True,
                text=True,
                cwd=tmp_path,
                env=env,
                timeout=60,
            )
            for command in ([sys.executable, "-m", "tracekit"], [script])
        )
        assert as_module.returncode == status, (argv, as_module.stderr)
        assert (as_module.returncode, as_module.stdout, as_module.stderr) == (
            as_script.returncode,
            as_script.stdout,
            as_script.stderr,
        ), argv
