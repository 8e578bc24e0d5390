"""What `gradtui history RUN` shows, as plain data and as JSON: a run file's last step and
its tensors' figures over time. No torch, no rich: report.py draws it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from gradtui import __version__
from gradtui.insight import run_findings
from gradtui.result import _finite_or_none
from gradtui.runfile import (
    ACTIVATION,
    FIGURES,
    PARAM,
    Recorded,
    RunFileError,
    RunMeta,
    open_run,
)

SERIES = {
    PARAM: ("grad_norm", "row_coherence", "pos", "neg", "param_norm", "update_ratio"),
    ACTIVATION: ("mean", "std", "pos", "neg", "zero", "saturated", "dead", "input_nonneg"),
}
"""The figures over time the readout holds, per kind of tensor (RunReader.series keys)."""
OVER_TIME_STEPS = 6
"""Recorded steps the text readout shows per figure over time (the JSON has them all)."""


@dataclass(frozen=True)
class History:
    """A run file read whole for the readout."""

    path: str
    meta: RunMeta
    params: list[tuple[str, str, tuple[int, ...] | None]]
    steps: list[int]
    losses: list[tuple[int, float | None]]
    last: dict[str, Recorded]
    """Every tensor at the last recorded step."""
    series: dict[str, dict[str, list[tuple[int, float | None]]]]
    """name -> key (SERIES) -> (step, value) at every recorded step."""
    first_nonfinite: tuple[int, str] | None
    findings: list[str]

    @property
    def last_step(self) -> int:
        return self.steps[-1]

    @property
    def last_loss(self) -> float | None:
        return self.losses[-1][1]

    def shown_steps(self, count: int = OVER_TIME_STEPS) -> list[int]:
        """Up to `count` recorded steps, evenly spread, the first and the last among them."""
        steps = self.steps
        if len(steps) <= count:
            return list(steps)
        picks = sorted({round(i * (len(steps) - 1) / (count - 1)) for i in range(count)})
        return [steps[i] for i in picks]


def read_history(path: str | os.PathLike[str]) -> History:
    """Read a run file for the readout; RunFileError (one line, in words) when it holds no
    readable run or no recorded step yet."""
    shown = os.fspath(path)
    with open_run(path) as run:
        steps = run.steps()
        if not steps:
            raise RunFileError(f"{shown}: the run has no recorded step yet")
        series = {
            name: {key: run.series(name, key) for key in SERIES[kind]}
            for name, kind, _ in run.params
        }
        first = run.first_nonfinite()
        return History(
            path=shown,
            meta=run.meta,
            params=run.params,
            steps=steps,
            losses=run.losses(),
            last=run.stats(steps[-1]),
            series=series,
            first_nonfinite=first,
            findings=run_findings(first),
        )


def history_json(history: History) -> str:
    """The readout as strict JSON (non-finite figures as null)."""

    def recorded(rec: Recorded) -> dict[str, Any]:
        figures = None
        if rec.stats is not None:
            figures = {key: getattr(rec.stats, key) for key in FIGURES}
            figures["hist"] = rec.stats.hist.to_dict()
        return {
            "kind": rec.kind,
            "stats": figures,
            "param_norm": rec.param_norm,
            "update_ratio": rec.update_ratio,
            "input_nonneg": rec.input_nonneg,
        }

    meta = history.meta
    data = {
        "gradtui": __version__,
        "path": history.path,
        "run": {
            "gradtui": meta.gradtui,
            "started": meta.started,
            "every": meta.every,
            "bins": meta.bins,
            "command": meta.command,
            "model": meta.model,
            "device": meta.device,
        },
        "tensors": [
            {"name": name, "kind": kind, "shape": None if shape is None else list(shape)}
            for name, kind, shape in history.params
        ],
        "steps": history.steps,
        "losses": [[step, loss] for step, loss in history.losses],
        "first_nonfinite": (
            None
            if history.first_nonfinite is None
            else {"step": history.first_nonfinite[0], "name": history.first_nonfinite[1]}
        ),
        "findings": history.findings,
        "last_step": {
            "step": history.last_step,
            "loss": history.last_loss,
            "tensors": {name: recorded(rec) for name, rec in history.last.items()},
        },
        "series": {
            name: {key: [[step, value] for step, value in values] for key, values in keys.items()}
            for name, keys in history.series.items()
        },
    }
    return json.dumps(_finite_or_none(data), indent=2, allow_nan=False)
