"""Files written whole or not at all; config files refused unless small UTF-8 TOML."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from gradtui.files import MAX_CONFIG_BYTES, free_path, read_config, write_atomic
from gradtui.spec import Spec, SpecError

# -- write_atomic -------------------------------------------------------------------------


def test_writes_text_and_bytes_whole_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out.json"
    write_atomic(path, "héllo\n")
    assert path.read_bytes() == "héllo\n".encode()
    write_atomic(str(path), b"\x00\xff" * 50_000)
    assert path.read_bytes() == b"\x00\xff" * 50_000
    assert os.listdir(tmp_path) == ["out.json"]


def test_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    path.chmod(0o640)
    write_atomic(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def _full_disk_after(first_bytes: int, monkeypatch):
    """os.write that takes `first_bytes`, then fails as a full disk does."""
    real_write = os.write
    written = []

    def write(fd, data):
        if sum(written) >= first_bytes:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = real_write(fd, bytes(data[: first_bytes - sum(written)]))
        written.append(n)
        return n

    monkeypatch.setattr(os, "write", write)
    return written


def test_a_full_disk_leaves_the_existing_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "out.json"
    path.write_text("the earlier result\n")
    written = _full_disk_after(8192, monkeypatch)
    with pytest.raises(OSError) as error:
        write_atomic(path, "x" * 100_000)
    assert error.value.errno == errno.ENOSPC
    assert sum(written) == 8192  # it did get part way
    assert path.read_text() == "the earlier result\n"
    assert os.listdir(tmp_path) == ["out.json"]


def test_a_failing_fsync_leaves_no_file(tmp_path, monkeypatch):
    # Delayed allocation: a full disk can first show at fsync.
    def fsync(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError) as error:
        write_atomic(tmp_path / "new.json", "data")
    assert error.value.errno == errno.EIO
    assert os.listdir(tmp_path) == []


def test_a_symlink_is_replaced_not_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not yours\n")
    link = tmp_path / "out.json"
    link.symlink_to(elsewhere)
    write_atomic(link, "result\n")
    assert not link.is_symlink()
    assert link.read_text() == "result\n"
    assert elsewhere.read_text() == "not yours\n"
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "missing" / "file")
    write_atomic(dangling, "result\n")
    assert not dangling.is_symlink() and dangling.read_text() == "result\n"
    assert not (tmp_path / "missing").exists()


def test_a_fifo_a_folder_or_a_link_to_them_is_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    link = tmp_path / "link"
    link.symlink_to(fifo)
    for path in (fifo, folder, link):
        with pytest.raises(OSError) as error:
            write_atomic(path, "x")
        assert error.value.strerror == "not a regular file"
    assert stat.S_ISFIFO(fifo.stat().st_mode) and link.is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["fifo", "folder", "link"]
    assert os.listdir(folder) == []


def test_a_missing_folder_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "no" / "out.json", "x")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_folder_is_an_os_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "out.json").write_text("old")
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            write_atomic(folder / "out.json", "new")
        assert (folder / "out.json").read_text() == "old"
        assert os.listdir(folder) == ["out.json"]
    finally:
        folder.chmod(0o700)


# -- free_path ----------------------------------------------------------------------------


def test_free_path_skips_files_and_dangling_symlinks(tmp_path):
    assert free_path(tmp_path, "gradtui-result", "json") == tmp_path / "gradtui-result-1.json"
    (tmp_path / "gradtui-result-1.json").write_text("{}")
    (tmp_path / "gradtui-result-2.json").symlink_to(tmp_path / "nowhere")
    assert free_path(tmp_path, "gradtui-result", "json") == tmp_path / "gradtui-result-3.json"
    assert free_path(str(tmp_path), "gradtui-result", ".json") == (
        tmp_path / "gradtui-result-3.json"
    )


# -- read_config --------------------------------------------------------------------------


def refusal(path) -> str:
    with pytest.raises(SpecError) as error:
        read_config(path)
    assert error.value.field == "config"
    return error.value.reason


def test_reads_a_spec(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text('sizes = [10, 5]\nactivation = "tanh"\n')
    assert read_config(path) == {"sizes": [10, 5], "activation": "tanh"}
    path.write_bytes(b'\xef\xbb\xbfactivation = "relu"\n')  # a byte-order mark is fine
    assert read_config(path) == {"activation": "relu"}


def test_devices_fifos_and_folders_are_refused_unread(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody writes: opening it for reading would block
    for path in (fifo, "/dev/zero", tmp_path):
        assert refusal(path) == f"cannot read {path}: not a regular file"


def test_a_missing_file(tmp_path):
    path = tmp_path / "none.toml"
    assert refusal(path) == f"cannot read {path}: No such file or directory"


def test_at_most_one_mebibyte(tmp_path):
    path = tmp_path / "big.toml"
    line = 'activation = "relu"\n'
    path.write_text(line + "#" * (MAX_CONFIG_BYTES - len(line)))
    assert read_config(path) == {"activation": "relu"}
    path.write_text(line + "#" * (MAX_CONFIG_BYTES - len(line) + 1))
    assert refusal(path).endswith("larger than 1 MiB; a spec is a few lines")


def test_only_utf8(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text('activation = "relu"\n', encoding="utf-16")
    assert "not UTF-8 text: it holds NUL bytes (UTF-16? binary?)" in refusal(path)
    path.write_bytes('# tänh\nactivation = "tanh"\n'.encode("latin-1"))
    assert refusal(path).endswith("not UTF-8 text: byte 0xe4 at offset 3; save it as UTF-8")
    path.write_bytes(b"\xef\xbb\xbf# \xff\n")
    assert refusal(path).endswith("byte 0xff at offset 5; save it as UTF-8")
    path.write_bytes(bytes(range(256)))
    assert "not UTF-8 text" in refusal(path)


def test_toml_errors_and_deep_nesting_are_messages(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text("sizes = [10, 5]\nactivation = tanh\n")
    assert (
        refusal(path) == f"cannot read {path}: not valid TOML: Invalid value (at line 2, column 14)"
    )
    path.write_text("sizes = " + "[" * 5000 + "]" * 5000 + "\n")
    assert refusal(path) == f"cannot read {path}: nested too deeply to read"


def test_spec_load_reads_through_read_config(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(SpecError) as error:
        Spec.load(fifo)
    assert str(error.value) == f"config: cannot read {fifo}: not a regular file"
    path = tmp_path / "spec.toml"
    path.write_text("sizes = [3, 2]\nbias = false\n")
    assert Spec.load(path) == Spec(sizes=(3, 2), bias=False)
