"""The run file: schema, exact round trip of every figure, the reader's queries and its
refusals. No torch needed: figures are made by hand."""

from __future__ import annotations

import math
import os
import sqlite3

import pytest

from gradtui.result import Histogram, TensorStats
from gradtui.runfile import (
    APPLICATION_ID,
    BAND_PERCENTILES,
    SCHEMA_VERSION,
    SERIES_KEYS,
    MissingRunFile,
    NotARunFile,
    Recorded,
    RunFileError,
    RunWriter,
    open_run,
)

TENSORS = [("w", "param", (2, 3)), ("b", "param", (3,)), ("act", "activation", None)]


def stats(scale: float = 1.0, **changes) -> TensorStats:
    figures = dict(
        numel=6,
        pos=0.5,
        neg=1 / 3,
        zero=1 / 6,
        nonfinite=0,
        mean=0.1 * scale,
        std=0.7 * scale,
        min=-1.0 * scale,
        max=1.25 * scale,
        norm=1.6 * scale,
        hist=Histogram(edges=[-1.0 * scale, 0.125 * scale, 1.25 * scale], counts=[2, 4]),
        row_coherence=0.5,
    )
    figures.update(changes)
    return TensorStats(**figures)


def writer(path, **options) -> RunWriter:
    return RunWriter(
        path,
        every=5,
        bins=2,
        command="python train.py --lr 0.1",
        model="Net, 9 parameters",
        device="cpu",
        tensors=TENSORS,
        **options,
    )


def write_step(run: RunWriter, step: int, **options) -> None:
    run.write(
        step,
        loss=0.5 / step,
        seconds=0.25 * step,
        records=[
            (0, Recorded("param", stats(step), param_norm=2.0 * step)),
            (1, Recorded("param", None, param_norm=0.5)),
            (
                2,
                Recorded(
                    "activation", stats(step, row_coherence=None, dead=0.25), None, None, 0.75
                ),
            ),
        ],
        **options,
    )


def test_schema_version_application_id_and_wal(tmp_path):
    path = tmp_path / "r.gradtui"
    run = writer(path)
    assert os.listdir(tmp_path)[0] == "r.gradtui"  # the temporary file is gone
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert db.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"runs", "params", "steps", "tensors", "histograms", "sign_maps"}
    db.close()
    run.close()


def test_every_figure_reads_back_exactly(tmp_path):
    path = tmp_path / "r.gradtui"
    run = writer(path)
    write_step(run, 1, shapes=[(2, (4, 3))])
    write_step(run, 6, updates=[(0, 1, -2.75)])
    run.close()
    reader = open_run(path)
    meta = reader.meta
    assert (meta.every, meta.bins, meta.command, meta.model, meta.device) == (
        5,
        2,
        "python train.py --lr 0.1",
        "Net, 9 parameters",
        "cpu",
    )
    assert reader.params == [
        ("w", "param", (2, 3)),
        ("b", "param", (3,)),
        ("act", "activation", (4, 3)),
    ]
    assert reader.steps() == [1, 6]
    assert reader.losses() == [(1, 0.5), (6, 0.5 / 6)]
    first = reader.stats(1)
    assert list(first) == ["w", "b", "act"]
    assert first["w"] == Recorded("param", stats(1), 2.0, -2.75, None)
    assert first["b"] == Recorded("param", None, 0.5, None, None)
    assert first["act"] == Recorded(
        "activation", stats(1, row_coherence=None, dead=0.25), None, None, 0.75
    )
    assert reader.stats(6)["w"].update_ratio is None  # its update comes with the next call
    assert reader.series("w", "grad_norm") == [(1, 1.6), (6, 1.6 * 6)]
    assert reader.series("w", "update_ratio") == [(1, -2.75), (6, None)]
    assert reader.series("b", "norm") == [(1, None), (6, None)]
    assert reader.series("act", "input_nonneg") == [(1, 0.75), (6, 0.75)]
    assert reader.first_nonfinite() is None


def test_nan_figures_read_back_as_nan_and_only_the_first_nonfinite_stays(tmp_path):
    path = tmp_path / "r.gradtui"
    run = writer(path)
    empty = Histogram(edges=[0.0, 0.5, 1.0], counts=[0, 0])
    nothing_finite = stats(nonfinite=6, mean=None, std=None, min=None, max=None, norm=math.nan)
    nothing_finite = TensorStats(**{**nothing_finite.__dict__, "hist": empty})
    run.write(
        3, loss=math.inf, records=[(0, Recorded("param", nothing_finite))], nonfinite=(3, "w")
    )
    run.write(4, loss=math.nan, nonfinite=(4, "loss"))
    run.close()
    reader = open_run(path)
    got = reader.stats(3)["w"].stats
    assert math.isnan(got.norm) and got.nonfinite == 6 and got.mean is None
    assert reader.losses() == [(3, None), (4, None)]
    assert reader.first_nonfinite() == (3, "w")
    assert reader.bands("w") == []  # no finite entry at any step


def test_refresh_sees_steps_committed_since(tmp_path):
    path = tmp_path / "r.gradtui"
    run = writer(path)
    reader = open_run(path)
    assert reader.steps() == [] and reader.params[2] == ("act", "activation", None)
    write_step(run, 1, shapes=[(2, (4, 3))])
    write_step(run, 6)
    assert reader.steps() == []
    assert reader.refresh() == [1, 6]
    assert reader.params[2] == ("act", "activation", (4, 3))
    assert reader.refresh() == []
    write_step(run, 11)
    assert reader.refresh() == [11]
    assert reader.steps() == [1, 6, 11]
    run.close()


def test_bands_from_the_exact_histogram(tmp_path):
    path = tmp_path / "r.gradtui"
    run = writer(path)
    uniform = stats(
        min=0.0, max=4.0, hist=Histogram(edges=[0.0, 1.0, 2.0, 3.0, 4.0], counts=[1] * 4)
    )
    skewed = stats(min=0.5, max=4.0, hist=Histogram(edges=[0.5, 1.0, 4.0], counts=[3, 1]))
    constant = stats(min=2.0, max=2.0, hist=Histogram(edges=[1.5, 2.0, 2.5], counts=[0, 6]))
    for step, figures in ((1, uniform), (2, skewed), (3, constant)):
        run.write(step, records=[(0, Recorded("param", figures))])
    run.close()
    bands = dict(open_run(path).bands("w"))
    assert bands[1] == pytest.approx([4 * q / 100 for q in BAND_PERCENTILES], rel=1e-12)
    # 3 entries spread over [0.5, 1), 1 over [1, 4]: the 50th percentile is rank 2 of 4.
    expected = [
        0.5 + 0.5 * (4 * q / 100) / 3 if 4 * q / 100 <= 3 else 1.0 + 3.0 * (4 * q / 100 - 3)
        for q in BAND_PERCENTILES
    ]
    assert bands[2] == pytest.approx(expected, rel=1e-12)
    assert bands[3] == (2.0,) * 9  # clamped to the recorded min and max


def test_queries_use_the_tensor_step_key(tmp_path):
    path = tmp_path / "r.gradtui"
    writer(path).close()
    db = sqlite3.connect(path)
    for sql in (
        "SELECT step, norm FROM tensors WHERE param = 1 ORDER BY step",
        "SELECT * FROM histograms WHERE param = 1 ORDER BY step",
        "SELECT * FROM params p CROSS JOIN tensors t ON t.param = p.id AND t.step = 5",
    ):
        plan = " ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + sql))
        assert "PRIMARY KEY" in plan and "SCAN t" not in plan and "TEMP B-TREE" not in plan, plan


def test_the_reader_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(MissingRunFile, match="no such file"):
        open_run(tmp_path / "missing.gradtui")
    with pytest.raises(NotARunFile, match="not a regular file"):
        open_run(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("hello " * 40)
    with pytest.raises(NotARunFile, match=r"not a gradtui run file \(not an SQLite database\)"):
        open_run(text)
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(NotARunFile, match="not an SQLite database"):
        open_run(tmp_path / "empty")
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(NotARunFile, match="an SQLite database of another kind"):
        open_run(other)
    newer = tmp_path / "newer.gradtui"
    writer(newer).close()
    db = sqlite3.connect(newer)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(NotARunFile, match="newer than this gradtui reads"):
        open_run(newer)
    assert issubclass(NotARunFile, RunFileError) and issubclass(MissingRunFile, RunFileError)


def test_the_reader_refuses_unknown_names_keys_and_steps(tmp_path):
    path = tmp_path / "r.gradtui"
    run = writer(path)
    write_step(run, 1)
    run.close()
    reader = open_run(path)
    with pytest.raises(ValueError, match="unknown key 'gradient'; allowed: numel, pos"):
        reader.series("w", "gradient")
    with pytest.raises(ValueError, match="no tensor 'v' in this run; recorded: w, b, act"):
        reader.series("v", "norm")
    with pytest.raises(ValueError, match="step 2 was not recorded"):
        reader.stats(2)
    assert "grad_norm" in SERIES_KEYS and "update_ratio" in SERIES_KEYS


def test_a_writer_refuses_an_existing_path_and_overwrites_only_runs(tmp_path):
    path = tmp_path / "r.gradtui"
    run = writer(path)
    write_step(run, 1)
    run.close()
    with pytest.raises(RunFileError, match="exists; pass overwrite=True"):
        writer(path)
    writer(path, overwrite=True).close()
    assert open_run(path).steps() == []
    other = tmp_path / "data.csv"
    other.write_text("a,b\n")
    with pytest.raises(NotARunFile):
        writer(other, overwrite=True)
    assert other.read_text() == "a,b\n"
    with pytest.raises(RunFileError, match="cannot create"):
        writer(tmp_path / "no" / "such" / "folder.gradtui")
    assert sorted(os.listdir(tmp_path)) == ["data.csv", "r.gradtui"]
