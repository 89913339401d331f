"""srapp._atomic: which temp files clean-up may remove, and temp names that fit the name limit."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path

import pytest

from srapp import _atomic
from srapp._atomic import atomic_write, check_writable, remove_stale_temporaries, temporary_stem
from srapp.batch.inputs import Job
from srapp.batch.runner import remove_stale_temporaries_for


def _temporaries(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


def test_clean_up_removes_only_srapp_marked_temporaries_no_writer_holds(tmp_path):
    old = time.time() - 3600
    user_file = tmp_path / "notes.txt"
    user_file.write_bytes(b"mine")
    names = {
        ".srapp-a.png.0123abcd.part": True,  # its writer was killed a moment ago: age does not matter
        ".srapp-b.png.ffff0000.part": True,
        ".thesis.docx.20241201.part": False,  # a user's, of the shape srapp's temp files once had
        ".a.png.abcd1234.part": False,
        ".srapp-c.png.part": False,  # no random part
        ".srapp-d.png.ABCDEF12.part": False,  # not srapp's digits
        "srapp-e.png.0123abcd.part": False,  # not hidden
        "f.png": False,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (old, old))
    os.utime(tmp_path / ".srapp-a.png.0123abcd.part")
    (tmp_path / ".srapp-link.png.00000000.part").symlink_to(user_file)  # never followed, never removed
    (tmp_path / ".srapp-folder.png.11111111.part").mkdir()
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(path.name for path in removed) == sorted(name for name, stale in names.items() if stale)
    kept = [name for name, stale in names.items() if not stale] + [
        ".srapp-folder.png.11111111.part", ".srapp-link.png.00000000.part", "notes.txt"]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(kept)
    assert user_file.read_bytes() == b"mine"


def test_a_second_run_leaves_the_temporary_another_run_is_writing(tmp_path):
    target = tmp_path / "out" / "a.png"
    with atomic_write(target) as handle:  # the first run, writing its a.png
        handle.write(b"first")
        (temporary,) = _temporaries(target.parent)
        remove_stale_temporaries_for([Job(tmp_path / "a.jpg", target, "a")])  # the second run starts
        assert _temporaries(target.parent) == [temporary]
        handle.write(b" run")
    assert target.read_bytes() == b"first run"
    assert _temporaries(target.parent) == []


def test_a_temporary_is_unlocked_and_removable_once_its_writer_is_gone(tmp_path):
    target = tmp_path / "a.png"
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write(b"half")
        (temporary,) = _temporaries(tmp_path)
        raise RuntimeError("the write fails")
    assert _temporaries(tmp_path) == []  # removed by its writer
    # A writer killed mid-write leaves its file, which no one holds locked any more.
    (tmp_path / temporary).write_bytes(b"half")
    assert [path.name for path in remove_stale_temporaries(tmp_path)] == [temporary]


def test_a_temporary_removed_before_its_writer_locks_it_is_replaced(tmp_path, monkeypatch):
    # Between creating its file and locking it the writer holds no lock: a clean-up there may
    # remove the file, so the writer must notice and start another.
    real_flock, cleaned = fcntl.flock, []

    def clean_up_first(descriptor, operation):
        if operation == fcntl.LOCK_EX and not cleaned:
            cleaned.extend(remove_stale_temporaries(tmp_path))
        return real_flock(descriptor, operation)

    monkeypatch.setattr(_atomic.fcntl, "flock", clean_up_first)
    with atomic_write(tmp_path / "a.png") as handle:
        handle.write(b"whole")
    assert len(cleaned) == 1 and not cleaned[0].exists()
    assert (tmp_path / "a.png").read_bytes() == b"whole"
    assert _temporaries(tmp_path) == []


def test_without_file_locks_writes_work_and_clean_up_removes_nothing(tmp_path, monkeypatch):
    def no_locks(descriptor, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(_atomic.fcntl, "flock", no_locks)
    (tmp_path / ".srapp-a.png.0123abcd.part").write_bytes(b"x")
    with atomic_write(tmp_path / "b.png") as handle:
        handle.write(b"whole")
        assert remove_stale_temporaries(tmp_path) == []  # no lock tells a killed writer from a busy one
    assert (tmp_path / "b.png").read_bytes() == b"whole"
    assert _temporaries(tmp_path) == [".srapp-a.png.0123abcd.part"]


@pytest.mark.parametrize("name", ["x" * 240 + ".png", "é" * 120 + ".png", "x" * 251 + ".png", "写" * 83 + ".png"],
                         ids=["244 ASCII", "244 bytes of two-byte characters", "255 ASCII", "253 bytes of three"])
def test_a_name_that_fits_gets_a_temporary_name_that_fits(tmp_path, name):
    assert len(os.fsencode(name)) <= 255
    target = tmp_path / name
    with atomic_write(target) as handle:
        handle.write(b"long")
        (temporary,) = _temporaries(tmp_path)
        assert len(os.fsencode(temporary)) <= 255
        temporary.encode("utf-8", "strict")  # cut between characters
        assert temporary.startswith(temporary_stem(name)) and temporary.startswith(".srapp-" + name[:60])
    assert target.read_bytes() == b"long" and _temporaries(tmp_path) == []
    (tmp_path / temporary).write_bytes(b"left by a killed run")
    assert [path.name for path in remove_stale_temporaries(tmp_path)] == [temporary]


def test_cut_names_keep_a_hash_of_the_whole_name():
    first, second = temporary_stem("x" * 250 + "1.png"), temporary_stem("x" * 250 + "2.png")
    assert first != second and first[:-10] == second[:-10]
    assert len(os.fsencode(first)) == 255 - len("01234567.part")
    assert temporary_stem("short.png") == ".srapp-short.png."
    assert len(os.fsencode(temporary_stem("é" * 120, limit=143))) <= 143 - len("01234567.part")


def test_a_writability_probe_is_a_temporary_like_the_others(tmp_path, monkeypatch):
    real_fsync, seen = os.fsync, []

    def look(descriptor):  # while the probe is being written
        seen.append((_temporaries(tmp_path), remove_stale_temporaries(tmp_path)))
        return real_fsync(descriptor)

    monkeypatch.setattr(_atomic.os, "fsync", look)
    check_writable(tmp_path / "not" / "yet")
    monkeypatch.undo()
    ((names, removed),) = seen
    assert len(names) == 1 and removed == []  # locked by its writer
    assert list(tmp_path.iterdir()) == []
    (tmp_path / names[0]).write_bytes(b"\0")  # as a process killed during its probe leaves it
    assert [path.name for path in remove_stale_temporaries(tmp_path)] == names
