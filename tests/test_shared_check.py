"""``advdemo check-store``: the store's guarantees tried on a folder, with real processes."""

from __future__ import annotations

import threading
import time

import pytest

from advdemo.cli.commands import main
from advdemo.store import shared_check
from advdemo.store.shared_check import StoreCheck, check_shared_store, read_while


def test_a_local_folder_keeps_every_result_never_tears_a_read_and_is_left_as_it_was(tmp_path):
    check = check_shared_store(tmp_path, writers=3, updates_each=8, replace_seconds=0.5)
    assert check.results_kept == 24  # three processes at once, none lost another's entries
    assert check.reads > 0 and check.torn_reads == 0
    assert check.leftovers == () and check.ok and check.problems == []
    assert list(tmp_path.iterdir()) == []  # the scratch folder is gone


def test_the_reader_catches_a_file_rewritten_in_place(tmp_path):
    """What a filesystem without atomic renames looks like to a reader: the check must see it."""
    path = tmp_path / "f.bin"
    size = shared_check._PAYLOAD_BYTES
    path.write_bytes(b"\x01" * size)
    stop = time.monotonic() + 1.0

    def rewrite() -> None:
        i = 0
        while time.monotonic() < stop:
            with open(path, "wb") as f:  # in place, in pieces: no rename
                for _ in range(16):
                    f.write(bytes([1 + i % 2]) * (size // 16))
                    f.flush()
                    time.sleep(0.001)
            i += 1

    writer = threading.Thread(target=rewrite)
    writer.start()
    reads, torn = read_while(path, writer.is_alive)
    writer.join()
    assert reads > 0 and torn > 0


def test_each_failure_is_named_in_one_sentence():
    bad = StoreCheck(folder="/mnt/x", writers=2, updates_each=10, results_kept=17, reads=50, torn_reads=3,
                     leftovers=(".results.json.abc.tmp",), seconds=1.0)
    assert bad.problems == [
        "3 of 20 results written by 2 processes at once were lost: flock() does not exclude other processes here",
        "3 of 50 reads saw a file half replaced: renames are not atomic here",
        "temporary files were left behind: .results.json.abc.tmp",
    ]
    assert not bad.ok


def test_the_command_says_ok_or_why_not_without_a_traceback(tmp_path, capsys):
    assert main(["check-store", str(tmp_path), "--writers", "2"]) == 0
    assert "ok: replicas can share a store here" in capsys.readouterr().out
    with pytest.raises(SystemExit) as missing:
        main(["check-store", str(tmp_path / "nowhere")])
    assert missing.value.code == 1
    with pytest.raises(SystemExit) as too_many:
        main(["check-store", str(tmp_path), "--writers", "99"])
    assert too_many.value.code == 2
    err = capsys.readouterr().err
    assert "is not a folder" in err and "expected writers 1-16" in err and "Traceback" not in err
