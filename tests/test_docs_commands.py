"""Every command the README and docs/ show still exists: each ``srapp`` command, ``python -m``
module, script and ``make`` target, every option written after it, and every script or option
file it names. (Commands are parsed, with ``--help`` where they have subcommands; none is run.)"""

from __future__ import annotations

import contextlib
import io
import re
import runpy
import shlex
import sys
from pathlib import Path

import pytest

from srapp.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PROGRAMS = ("srapp ", "python ", "make ")
_INLINE = re.compile(r"`([^`\n]+)`")
_PREFIXES = [  # what runs a command without being it
    re.compile(r"^(\w+=\S*\s+)+"),  # VARIABLE=value
    re.compile(r"^nice -n \d+\s+"),
    re.compile(r"^timeout \d+\s+"),
    re.compile(r"^\.venv/bin/"),
]
_TORCHRUN = re.compile(r"^torchrun (--\S+\s+)*-m srapp\.cli ")
_PLACEHOLDER = re.compile(r"[A-Z]{3,}|[{}*]|\.\.\.")


def normalised(command: str) -> str:
    command = command.strip()
    changed = True
    while changed:
        before = command
        for prefix in _PREFIXES:
            command = prefix.sub("", command)
        command = _TORCHRUN.sub("srapp ", command)
        changed = command != before
    return command


def split_fences(text: str) -> tuple[list[str], str]:
    """The lines of the shell blocks (continuations joined) and the text outside every block."""
    shell, prose, fence = [], [], None
    for line in text.splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else (line[3:].strip() or "text")
            continue
        if fence is None:
            prose.append(line)
        elif fence in ("bash", "sh", "shell"):
            if shell and shell[-1].endswith("\\"):
                shell[-1] = shell[-1][:-1] + " " + line.strip()
            else:
                shell.append(line)
    return shell, "\n".join(prose)


def documented_commands() -> list[tuple[str, str]]:
    """``(document, command)`` of every command in a shell block or an inline code span."""
    found = []
    for document in DOCUMENTS:
        shell, prose = split_fences(document.read_text(encoding="utf-8"))
        for line in shell:
            found.append((document.name, normalised(re.split(r"\s#\s", line)[0])))
        for span in _INLINE.findall(prose):
            found.append((document.name, normalised(span)))
    return sorted({(name, command) for name, command in found if command.startswith(PROGRAMS)
                   and not command.startswith("python -c")})


COMMANDS = documented_commands()


def words(command: str) -> list[str]:
    """The command's words, optional ``[...]`` groups unwrapped and ``...`` dropped."""
    return [word.strip("[]") for word in shlex.split(command.replace("[", " [").replace("]", "] "))
            if word.strip("[]") not in ("", "...", "|")]


def options_in(argv: list[str]) -> list[str]:
    return [word.split("=")[0] for word in argv if re.fullmatch(r"--?[a-z][\w-]*(=.*)?", word)]


def help_text(argv: list[str], run) -> str:
    """What ``run`` prints for ``argv + ["--help"]`` (it must exit with status 0)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_status:
        run([*argv, "--help"])
    assert exit_status.value.code in (0, None), f"{argv}: exit status {exit_status.value.code}"
    return out.getvalue()


def run_script(path: Path):
    def run(argv: list[str]) -> None:
        saved_argv, saved_path = sys.argv, list(sys.path)
        sys.argv, sys.path[0:0] = [str(path), *argv], [str(path.parent)]  # as `python path` would
        try:
            runpy.run_path(str(path), run_name="__main__")
        finally:
            sys.argv, sys.path[:] = saved_argv, saved_path
    return run


def run_module(name: str):
    def run(argv: list[str]) -> None:
        saved = sys.argv
        sys.argv = [name, *argv]
        try:
            runpy.run_module(name, run_name="__main__", alter_sys=False)
        finally:
            sys.argv = saved
    return run


def test_the_documents_show_the_commands_a_user_runs():
    shown = {command.split()[0] + " " + command.split()[1] for _, command in COMMANDS}
    assert {"make test", "make app", "srapp upscale", "srapp benchmark", "srapp models", "python app.py"} <= shown


@pytest.mark.parametrize("document, command", COMMANDS, ids=[f"{d}: {c[:60]}" for d, c in COMMANDS])
def test_a_documented_command_exists_with_its_options(document, command):
    argv = words(command)
    program, arguments = argv[0], argv[1:]
    if program == "make":
        targets = re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M)
        assert arguments and arguments[0] in targets, f"{document}: no make target {arguments[:1]}"
        return
    if program == "srapp":
        subcommands = build_parser()._subparsers._group_actions[0].choices
        assert arguments and arguments[0] in subcommands, f"{document}: no srapp command {arguments[:1]}"
        known = subcommands[arguments[0]].format_help()
    elif arguments[:1] == ["-m"]:
        module, arguments = arguments[1], arguments[2:]
        run = run_module(module)
        known = help_text(arguments[:1], run) if arguments and not arguments[0].startswith("-") else help_text([], run)
    else:
        script = REPO / arguments[0]
        assert script.is_file(), f"{document}: {arguments[0]} does not exist"
        arguments = arguments[1:]
        run = run_script(script)
        top = help_text([], run)
        is_subcommand = arguments and re.search(r"\{[\w,-]*\b" + re.escape(arguments[0]) + r"\b[\w,-]*\}", top)
        known = help_text(arguments[:1], run) if is_subcommand else top
    for option in options_in(arguments):
        assert re.search(rf"(^|[\s,\[]){re.escape(option)}\b", known), f"{document}: `{command}`: no {option}"
    for word in arguments:
        if word.endswith((".py", ".yml")) and not _PLACEHOLDER.search(word) and "/" in word:
            assert (REPO / word).is_file(), f"{document}: `{command}`: {word} does not exist"
