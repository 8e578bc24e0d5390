"""The run file: gradients through time, one SQLite database per recorded run.

`gradtui.watch` (and `gradtui train --save`) write it; `open_run` reads it, while it grows
or after the writer died. No torch here: the reader serves the app and `gradtui history`.

The database (stdlib sqlite3, WAL mode, `PRAGMA application_id` = APPLICATION_ID,
`PRAGMA user_version` = SCHEMA_VERSION) holds five tables, see SCHEMA (schema 1 files,
without the sign maps, are read as well). Each recorded step
is one transaction, so a process killed mid-run leaves every committed step readable, and
a reader sees a step whole or not at all. Tensor figures are keyed (param, step), so a
series of one tensor is one range of the primary key.

SQLite stores NaN as NULL: a figure that is NaN (a norm with no finite entry) reads back
as None, and as NaN for `TensorStats.norm`, which is a float.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import secrets
import sqlite3
import stat
import sys
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradtui import __version__
from gradtui.result import Histogram, SignMap, TensorStats

SCHEMA_VERSION = 2
"""`PRAGMA user_version` of the files this module writes; it reads 1 and 2 (2 added the
sign_maps table)."""
APPLICATION_ID = 0x67747569
"""`PRAGMA application_id`: b"gtui", what tells a gradtui run from any SQLite file."""

PARAM, ACTIVATION = "param", "activation"
"""Kinds of recorded tensors: a parameter's gradient (with the parameter's norm and its
update), or a leaf module's output (with the share of non-negative inputs)."""

FIGURES = (
    "numel",
    "pos",
    "neg",
    "zero",
    "nonfinite",
    "mean",
    "std",
    "min",
    "max",
    "norm",
    "row_coherence",
    "saturated",
    "dead",
)
"""TensorStats' figures, one column each (the histogram has its own table)."""
EXTRAS = ("param_norm", "update_ratio", "input_nonneg")
"""Figures beside the tensor's own: ||W|| at the step, log10(std(update) / std(W)) of the
optimizer step that follows, and the share of non-negative entries of the module's input."""
SERIES_KEYS = {**{key: key for key in FIGURES + EXTRAS}, "grad_norm": "norm"}
"""Keys `RunReader.series` takes, and their columns; grad_norm is the gradient's norm."""
BAND_PERCENTILES = (0.0, 6.68, 15.87, 30.85, 50.0, 69.15, 84.13, 93.32, 100.0)
"""The percentiles `RunReader.bands` gives: those of a normal distribution at -inf, -1.5,
-1, -0.5, 0, 0.5, 1, 1.5 and +inf standard deviations, as TensorBoard's distributions."""

SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY CHECK (id = 1),  -- one run per file
    gradtui TEXT NOT NULL,                  -- version that wrote it
    started TEXT NOT NULL,                  -- ISO 8601, UTC
    every INTEGER NOT NULL,                 -- steps 1, 1 + every, 1 + 2 every, ... recorded
    bins INTEGER NOT NULL,
    command TEXT NOT NULL,                  -- the command line of the writing process
    model TEXT NOT NULL,                    -- what was watched, in words
    device TEXT NOT NULL,
    first_nonfinite_step INTEGER,           -- first recorded step with NaN/Inf ...
    first_nonfinite_name TEXT               -- ... in this tensor's gradient, or 'loss'
);
CREATE TABLE params (
    id INTEGER PRIMARY KEY,                 -- parameters in module order, then activations
    name TEXT NOT NULL,                     -- qualified name (named_parameters/_modules)
    kind TEXT NOT NULL CHECK (kind IN ('param', 'activation')),
    shape TEXT,                             -- JSON list; an activation's once first seen
    UNIQUE (kind, name)
);
CREATE TABLE steps (
    step INTEGER PRIMARY KEY,               -- 1-based count of watch.step() calls
    loss REAL,                              -- NULL: not given, or not finite
    seconds REAL NOT NULL                   -- since the run started
);
CREATE TABLE tensors (
    param INTEGER NOT NULL REFERENCES params (id),
    step INTEGER NOT NULL REFERENCES steps (step),
    numel INTEGER, pos REAL, neg REAL, zero REAL, nonfinite INTEGER,
    mean REAL, std REAL, min REAL, max REAL, norm REAL,
    row_coherence REAL, saturated REAL, dead REAL,  -- NULL where they do not apply
    param_norm REAL,                        -- ||W|| (Frobenius) at this step
    update_ratio REAL,                      -- written by the next watch.step() call
    input_nonneg REAL,                      -- Linear/Conv outputs: share of inputs >= 0
    PRIMARY KEY (param, step)
) WITHOUT ROWID;
CREATE TABLE histograms (
    param INTEGER NOT NULL REFERENCES params (id),
    step INTEGER NOT NULL REFERENCES steps (step),
    edges BLOB NOT NULL,                    -- bins + 1 float64, little-endian
    counts BLOB NOT NULL,                   -- bins int64, little-endian
    PRIMARY KEY (param, step)
) WITHOUT ROWID;
CREATE TABLE sign_maps (                    -- schema 2; gradtui.watch(sign_maps=True)
    param INTEGER NOT NULL REFERENCES params (id),
    step INTEGER NOT NULL REFERENCES steps (step),
    rows INTEGER NOT NULL,                  -- the gradient as (dim 0, the rest flattened)
    cols INTEGER NOT NULL,
    row_step INTEGER NOT NULL,              -- rows and columns per block
    col_step INTEGER NOT NULL,
    codes BLOB NOT NULL,                    -- zlib: SIGN_CODES per block, rows in neuron
                                            -- order, then sorted by sign class; then per
                                            -- row 0 mixed or zero, 1 all +, 2 all -
    PRIMARY KEY (param, step)
) WITHOUT ROWID;
"""
SIGN_CODES = {(0, 0): 0, (1, 0): 1, (0, 1): 2, (2, 1): 3, (1, 2): 4, (1, 1): 5}
"""A recorded sign map keeps, per block, which signs its entries have and which is the
majority, not the counts: (pos, neg) stand-ins (1 per sign present, 2 for the majority)
and their code. The map view draws from these exactly what it draws from counts, except
that a character covering several blocks takes the majority of its blocks' majorities."""


class RunFileError(Exception):
    """A run file cannot be opened, read or created; the message says why, in words."""


class MissingRunFile(RunFileError):
    """Nothing at the path."""


class NotARunFile(RunFileError):
    """Something at the path, but not a gradtui run file (or of a newer schema)."""


@dataclass(frozen=True)
class RunMeta:
    """What a run file says about its run."""

    gradtui: str
    """The version that wrote it."""
    started: str
    """ISO 8601, UTC."""
    every: int
    bins: int
    command: str
    model: str
    device: str


@dataclass(frozen=True)
class Recorded:
    """One tensor at one recorded step."""

    kind: str
    """PARAM (a parameter's gradient) or ACTIVATION (a module's output)."""
    stats: TensorStats | None
    """The gradient's (or output's) figures and exact histogram; None for a parameter
    without a gradient at that step."""
    param_norm: float | None = None
    """Parameters: ||W|| at the step."""
    update_ratio: float | None = None
    """Parameters: log10(std(update) / std(W)) of the optimizer step after this one (W
    before it); None until the next watch.step() call, or where either std is 0."""
    input_nonneg: float | None = None
    """Linear and Conv outputs: the share of the module's input entries that are >= 0."""
    sign_map: SignMap | None = None
    """Parameters of 2 or more dims, with gradtui.watch(sign_maps=True): the gradient's
    sign map (stored as SIGN_CODES, read back with stand-in counts)."""


def _row(stats: TensorStats | None) -> list:
    if stats is None:
        return [None] * len(FIGURES)
    return [getattr(stats, key) for key in FIGURES]


def _blob(values: Sequence[float] | Sequence[int], code: str) -> bytes:
    data = array(code, values)
    if data.itemsize != 8:  # pragma: no cover - every CPython platform has 8-byte d and q
        raise RunFileError(f"array('{code}') is not 8 bytes wide here")
    if sys.byteorder != "little":  # pragma: no cover - big-endian hosts
        data.byteswap()
    return data.tobytes()


def _unblob(blob: bytes, code: str) -> list:
    data = array(code)
    data.frombytes(blob)
    if sys.byteorder != "little":  # pragma: no cover - big-endian hosts
        data.byteswap()
    return data.tolist()


def _block_step(edges: list[int]) -> int:
    return edges[1] - edges[0] if len(edges) > 1 else 1


def _block_edges(n: int, step: int) -> list[int]:
    return [*range(0, n, step), n] if n else [0]


_STAND_INS = [(0, 0)] * 6
for _pair, _code in SIGN_CODES.items():
    _STAND_INS[_code] = _pair


def _encode_sign_map(sign_map: SignMap) -> tuple[int, int, int, int, bytes]:
    """(rows, cols, row_step, col_step, codes) of the sign_maps table."""
    import numpy as np  # only here and in the reader's helpers: the app starts light

    def codes(pos: Any, neg: Any) -> bytes:  # nested lists or arrays
        p, n = np.asarray(pos, dtype=np.int64), np.asarray(neg, dtype=np.int64)
        out = np.where(p > 0, 1, 0) + np.where(n > 0, 2, 0)  # 0, +, -, both
        both = out == 3
        out[both & (p < n)] = 4
        out[both & (p == n)] = 5
        return out.astype(np.uint8).tobytes()

    pos, neg, sorted_pos, sorted_neg, row_signs = sign_map.arrays()  # lists never made
    signs = np.asarray(row_signs, dtype=np.int64)
    row_codes = np.where(signs > 0, 1, np.where(signs < 0, 2, 0)).astype(np.uint8).tobytes()
    data = codes(pos, neg) + codes(sorted_pos, sorted_neg) + row_codes
    return (
        sign_map.rows,
        sign_map.cols,
        _block_step(sign_map.row_edges),
        _block_step(sign_map.col_edges),
        zlib.compress(data, 6),
    )


def _decode_sign_map(rows: int, cols: int, row_step: int, col_step: int, blob: bytes) -> SignMap:
    row_edges, col_edges = _block_edges(rows, row_step), _block_edges(cols, col_step)
    down, across = len(row_edges) - 1, len(col_edges) - 1
    data = zlib.decompress(blob)
    size = down * across
    if len(data) != 2 * size + rows:
        raise RunFileError(f"a sign map of {rows}x{cols} holds {len(data)} bytes")

    def grids(chunk: bytes) -> tuple[list[list[int]], list[list[int]]]:
        pairs = [_STAND_INS[code] for code in chunk]
        pos = [[p for p, _ in pairs[i * across : (i + 1) * across]] for i in range(down)]
        neg = [[n for _, n in pairs[i * across : (i + 1) * across]] for i in range(down)]
        return pos, neg

    pos, neg = grids(data[:size])
    sorted_pos, sorted_neg = grids(data[size : 2 * size])
    signs = [(0, 1, -1)[code] for code in data[2 * size :]]
    return SignMap(rows, cols, row_edges, col_edges, pos, neg, sorted_pos, sorted_neg, signs)


# -- writing ---------------------------------------------------------------------------


class RunWriter:
    """Creates a run file and writes one transaction per recorded step.

    The file appears whole: the schema and the run's row are written to a temporary file
    beside it, which is then linked into place (refusing a path that exists meanwhile),
    so a reader never finds a half-made file. Then the file switches to WAL mode.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        every: int,
        bins: int,
        command: str,
        model: str,
        device: str,
        tensors: Sequence[tuple[str, str, Sequence[int] | None]],
        overwrite: bool = False,
    ) -> None:
        """tensors: (name, kind, shape or None) of every tensor that may be recorded, in
        the order the reader lists them."""
        self.path = os.fspath(path)
        existing = _existing(self.path)
        if existing and not overwrite:
            raise RunFileError(f"{self.path} exists; pass overwrite=True or choose another path")
        if existing:
            _check_run_file(self.path)  # overwrite a run, never someone's other file
        folder, name = os.path.split(os.path.abspath(self.path))
        temp = os.path.join(folder, f".{name}.{secrets.token_hex(8)}.tmp")
        try:
            connection = sqlite3.connect(temp)
            try:
                with connection:
                    connection.executescript(SCHEMA)
                    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
                    connection.execute(
                        "INSERT INTO runs (id, gradtui, started, every, bins, command, model,"
                        " device) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
                        (__version__, started, every, bins, command, model, device),
                    )
                    connection.executemany(
                        "INSERT INTO params (id, name, kind, shape) VALUES (?, ?, ?, ?)",
                        [
                            (i, name, kind, None if shape is None else json.dumps(list(shape)))
                            for i, (name, kind, shape) in enumerate(tensors)
                        ],
                    )
            finally:
                connection.close()
            if existing:
                for suffix in ("-wal", "-shm"):  # the old run's, if it died open
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path + suffix)
                os.replace(temp, self.path)
            else:
                _link_new(temp, self.path)
        except OSError as error:
            raise RunFileError(f"cannot create {self.path}: {error.strerror or error}") from None
        except sqlite3.Error as error:
            raise RunFileError(f"cannot create {self.path}: {error}") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._absolute = os.path.abspath(self.path)  # the process may chdir meanwhile
        self._identity = _identity(self._absolute)
        # NORMAL is durable against a crash of the process (not of the machine) in WAL mode,
        # and skips an fsync per step.
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")

    def write(
        self,
        step: int | None = None,
        *,
        loss: float | None = None,
        seconds: float = 0.0,
        records: Sequence[tuple[int, Recorded]] = (),
        shapes: Sequence[tuple[int, Sequence[int]]] = (),
        updates: Sequence[tuple[int, int, float | None]] = (),
        nonfinite: tuple[int, str] | None = None,
    ) -> None:
        """One transaction: a recorded step (when `step` is given) with its records
        (tensor id, Recorded), shapes first seen (tensor id, shape), update ratios of an
        earlier step (tensor id, step, ratio) and the first non-finite (step, name)."""
        rows, hists, maps = [], [], []
        for tensor, rec in records:
            rows.append(
                (tensor, step, *_row(rec.stats), rec.param_norm, rec.update_ratio, rec.input_nonneg)
            )
            if rec.stats is not None:
                hist = rec.stats.hist
                hists.append((tensor, step, _blob(hist.edges, "d"), _blob(hist.counts, "q")))
            if rec.sign_map is not None:
                maps.append((tensor, step, *_encode_sign_map(rec.sign_map)))
        if _identity(self._absolute) != self._identity:  # writes would go to a file nobody sees
            raise RunFileError(f"{self.path} was removed or replaced while recording")
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if step is not None:
                loss = loss if loss is not None and math.isfinite(loss) else None
                db.execute("INSERT INTO steps VALUES (?, ?, ?)", (step, loss, seconds))
                columns = ", ".join(("param", "step", *FIGURES, *EXTRAS))
                marks = ", ".join("?" * (2 + len(FIGURES) + len(EXTRAS)))
                db.executemany(f"INSERT INTO tensors ({columns}) VALUES ({marks})", rows)
                db.executemany("INSERT INTO histograms VALUES (?, ?, ?, ?)", hists)
                db.executemany("INSERT INTO sign_maps VALUES (?, ?, ?, ?, ?, ?, ?)", maps)
            db.executemany(
                "UPDATE params SET shape = ? WHERE id = ?",
                [(json.dumps(list(shape)), tensor) for tensor, shape in shapes],
            )
            db.executemany(
                "UPDATE tensors SET update_ratio = ? WHERE param = ? AND step = ?",
                [(ratio, tensor, at) for tensor, at, ratio in updates],
            )
            if nonfinite is not None:
                db.execute(
                    "UPDATE runs SET first_nonfinite_step = ?, first_nonfinite_name = ?"
                    " WHERE first_nonfinite_step IS NULL",
                    nonfinite,
                )
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the database. A finished run goes back to a rollback journal, so that it
        is one self-contained file that readers open without making -wal and -shm files
        beside it (it stays in WAL mode if a reader holds it open just then)."""
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA journal_mode = DELETE")
        with contextlib.suppress(sqlite3.Error):
            self._db.close()


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`; None when nothing is there."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _existing(path: str) -> bool:
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or error
        raise RunFileError(f"cannot use {path}: {reason}") from None
    return True


def _link_new(temp: str, path: str) -> None:
    """Put `temp` at `path`, failing if anything is there by then."""
    try:
        os.link(temp, path)
    except FileExistsError:
        raise RunFileError(f"{path} exists; choose another path") from None
    except OSError:  # no hard links on this file system: check, then rename
        if _existing(path):
            raise RunFileError(f"{path} exists; choose another path") from None
        os.replace(temp, path)


# -- reading ---------------------------------------------------------------------------


def _check_run_file(path: str) -> None:
    """Raise MissingRunFile or NotARunFile unless `path` is a regular file with a run."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise MissingRunFile(f"{path}: no such file") from None
    except (OSError, ValueError) as error:
        raise RunFileError(f"{path}: {getattr(error, 'strerror', None) or error}") from None
    if not stat.S_ISREG(mode):
        raise NotARunFile(f"{path}: not a regular file, so not a gradtui run file")
    with open(path, "rb") as file:
        header = file.read(100)
    if not header.startswith(b"SQLite format 3\0") or len(header) < 100:
        raise NotARunFile(f"{path}: not a gradtui run file (not an SQLite database)")
    application_id = int.from_bytes(header[68:72], "big")
    version = int.from_bytes(header[60:64], "big")
    if application_id != APPLICATION_ID:
        raise NotARunFile(f"{path}: not a gradtui run file (an SQLite database of another kind)")
    if version < 1:
        raise NotARunFile(f"{path}: not a gradtui run file (no schema version)")
    if version > SCHEMA_VERSION:
        raise NotARunFile(
            f"{path}: a run file of schema {version}, newer than this gradtui reads "
            f"({SCHEMA_VERSION}); upgrade gradtui"
        )


class RunReader:
    """A run file opened read-only: its meta data, steps, losses and tensor figures.

    Opening reads the run, its tensors and its step numbers (a few milliseconds for
    10,000 steps); every other query is one SQL statement on the (tensor, step) key.
    `refresh()` picks up the steps committed since, so a view can poll it while the
    run grows. Raises MissingRunFile, NotARunFile or RunFileError, with a message in
    words, for a path that holds no readable run.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        _check_run_file(self.path)
        uri = Path(self.path).absolute().as_uri() + "?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            row = self._db.execute(
                "SELECT gradtui, started, every, bins, command, model, device FROM runs"
            ).fetchone()
            if row is None:
                raise NotARunFile(f"{self.path}: not a gradtui run file (no run in it)")
            self.meta = RunMeta(*row)
            params = self._db.execute("SELECT id, name, kind, shape FROM params ORDER BY id")
            self._ids: dict[str, int] = {}
            self.params: list[tuple[str, str, tuple[int, ...] | None]] = []
            for tensor, name, kind, shape in params:
                self._ids[name] = tensor
                self.params.append(
                    (name, kind, None if shape is None else tuple(json.loads(shape)))
                )
            self._steps: list[int] = []
            self._kinds = {name: kind for name, kind, _ in self.params}
            self.has_sign_maps = bool(
                self._db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sign_maps'"
                ).fetchone()
            )
            """Whether the file can hold sign maps (schema 2); a run recorded without
            `sign_maps=True` holds none all the same."""
        except sqlite3.Error as error:
            with contextlib.suppress(AttributeError, sqlite3.Error):
                self._db.close()
            raise RunFileError(f"{self.path}: cannot read the run: {error}") from None
        self.refresh()

    # -- the run as it grows ---------------------------------------------------------

    def refresh(self) -> list[int]:
        """Read the steps committed since the last call (or since opening); return them."""
        last = self._steps[-1] if self._steps else 0
        new = [
            step
            for (step,) in self._query(
                "SELECT step FROM steps WHERE step > ? ORDER BY step", (last,)
            )
        ]
        self._steps.extend(new)
        if new and any(shape is None for _, _, shape in self.params):
            # Activation shapes are known once first recorded.
            known = dict(self._query("SELECT name, shape FROM params WHERE shape IS NOT NULL", ()))
            self.params = [
                (
                    name,
                    kind,
                    shape
                    if shape is not None or name not in known
                    else tuple(json.loads(known[name])),
                )
                for name, kind, shape in self.params
            ]
        return new

    def steps(self) -> list[int]:
        """Recorded step numbers, ascending (as of the last refresh)."""
        return list(self._steps)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    def __enter__(self) -> RunReader:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # -- figures ---------------------------------------------------------------------

    def losses(self) -> list[tuple[int, float | None]]:
        """(step, loss) of every recorded step; None where no loss was given or it was not
        finite."""
        return self._query("SELECT step, loss FROM steps ORDER BY step", ())

    def first_nonfinite(self) -> tuple[int, str] | None:
        """(step, name) of the first recorded step with a NaN/Inf gradient (name: the
        first such parameter in module order) or loss (name: 'loss'); None if none."""
        row = self._query("SELECT first_nonfinite_step, first_nonfinite_name FROM runs", ())[0]
        return None if row[0] is None else (row[0], row[1])

    def stats(self, step: int) -> dict[str, Recorded]:
        """Every tensor recorded at `step`, by name, in the order of `params`."""
        columns = ", ".join(f"t.{c}" for c in (*FIGURES, *EXTRAS))
        rows = self._query(
            # CROSS JOIN keeps params outside: one key lookup per tensor, never a scan.
            f"SELECT p.name, p.kind, {columns}, h.edges, h.counts FROM params p"
            " CROSS JOIN tensors t ON t.param = p.id AND t.step = ?"
            " LEFT JOIN histograms h ON h.param = p.id AND h.step = ? ORDER BY p.id",
            (step, step),
        )
        if not rows:
            self._check_step(step)
        out = {}
        n = len(FIGURES)
        for name, kind, *values in rows:
            figures, extras, (edges, counts) = values[:n], values[n : n + 3], values[n + 3 :]
            stats = None
            if figures[0] is not None:
                stats = _stats(figures, edges, counts)
            out[name] = Recorded(kind, stats, *extras)
        return out

    def sign_map(self, name: str, step: int) -> SignMap | None:
        """The sign map of the tensor's gradient at `step` (see SIGN_CODES: the counts
        are stand-ins); None where none was recorded."""
        if not self.has_sign_maps:
            return None
        rows = self._query(
            "SELECT rows, cols, row_step, col_step, codes FROM sign_maps"
            " WHERE param = ? AND step = ?",
            (self._id(name), step),
        )
        return _decode_sign_map(*rows[0]) if rows else None

    def series(self, name: str, key: str) -> list[tuple[int, float | None]]:
        """(step, value) of one figure of one tensor over the run; None where the value
        is missing (no gradient, no update yet, NaN). key: any of SERIES_KEYS."""
        column = SERIES_KEYS.get(key)
        if column is None:
            raise ValueError(f"unknown key {key!r}; allowed: {', '.join(SERIES_KEYS)}")
        return self._query(
            f"SELECT step, {column} FROM tensors WHERE param = ? ORDER BY step",
            (self._id(name),),
        )

    def bands(self, name: str) -> list[tuple[int, tuple[float, ...]]]:
        """(step, the BAND_PERCENTILES of the tensor's finite entries) over the run, from
        the exact histograms: within a bin, entries are taken as evenly spread, and every
        value is clamped to the recorded min and max (the 0th and 100th percentiles).
        Steps with no finite entry are left out."""
        rows = self._query(
            "SELECT h.step, t.min, t.max, h.edges, h.counts FROM histograms h"
            " CROSS JOIN tensors t ON t.param = h.param AND t.step = h.step"
            " WHERE h.param = ? AND t.min IS NOT NULL ORDER BY h.step",
            (self._id(name),),
        )
        if not rows:
            return []
        bands: dict[int, tuple[float, ...]] = {}
        by_bins: dict[int, list[tuple]] = {}
        for row in rows:  # a run has one bin count; a file edited by hand may not
            by_bins.setdefault(len(row[4]), []).append(row)
        for group in by_bins.values():
            bands.update(_bands(group))
        return [(step, bands[step]) for step, *_ in rows]

    # -- helpers ---------------------------------------------------------------------

    def _id(self, name: str) -> int:
        tensor = self._ids.get(name)
        if tensor is None:
            shown = ", ".join(self._ids) or "none"
            raise ValueError(f"no tensor {name!r} in this run; recorded: {shown}")
        return tensor

    def _check_step(self, step: int) -> None:
        if not self._query("SELECT 1 FROM steps WHERE step = ?", (step,)):
            raise ValueError(f"step {step} was not recorded; see steps()")

    def _query(self, sql: str, parameters: tuple) -> list[tuple]:
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise RunFileError(f"{self.path}: cannot read the run: {error}") from None


def _bands(rows: list[tuple]) -> dict[int, tuple[float, ...]]:
    """BAND_PERCENTILES of rows (step, min, max, edges, counts) of equal bin counts."""
    import numpy as np  # only here: the app's start-up path stays light

    low = np.array([row[1] for row in rows])
    high = np.array([row[2] for row in rows])
    edges = np.frombuffer(b"".join(row[3] for row in rows), dtype="<f8").reshape(len(rows), -1)
    counts = np.frombuffer(b"".join(row[4] for row in rows), dtype="<i8").reshape(len(rows), -1)
    counts = counts.astype(np.float64)
    cumulative = np.cumsum(counts, axis=1)
    total = cumulative[:, -1]
    lanes = np.arange(len(rows))
    columns = []
    for q in BAND_PERCENTILES:
        rank = total * (q / 100.0)
        index = np.minimum((cumulative < rank[:, None]).sum(axis=1), counts.shape[1] - 1)
        inside = counts[lanes, index]
        below = cumulative[lanes, index] - inside
        fraction = np.divide(rank - below, inside, out=np.zeros_like(rank), where=inside > 0)
        left, right = edges[lanes, index], edges[lanes, index + 1]
        columns.append(np.clip(left + np.clip(fraction, 0, 1) * (right - left), low, high))
    columns[0], columns[-1] = low, high
    table = np.stack(columns, axis=1).tolist()
    return {row[0]: tuple(values) for row, values in zip(rows, table)}


def _stats(figures: list, edges: bytes | None, counts: bytes | None) -> TensorStats:
    values = dict(zip(FIGURES, figures))
    if values["norm"] is None:
        values["norm"] = math.nan
    hist = Histogram(
        edges=[] if edges is None else _unblob(edges, "d"),
        counts=[] if counts is None else _unblob(counts, "q"),
    )
    return TensorStats(hist=hist, **values)


def open_run(path: str | os.PathLike[str]) -> RunReader:
    """A RunReader on `path`; see RunReader."""
    return RunReader(path)
