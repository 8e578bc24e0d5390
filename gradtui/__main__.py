"""Command line: arguments -> Spec -> the app, or a headless command.

`gradtui [spec flags]` opens the app; `gradtui probe [spec flags]` prints the report;
`gradtui presets` lists the presets. Bad input exits with code 2 and one line that names
the flag and what is allowed.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import os
import sys
import time
from collections.abc import Callable
from typing import NoReturn

from gradtui import __version__
from gradtui.spec import (
    ACTIVATIONS,
    DTYPES,
    FIELDS,
    FINAL_ACTIVATIONS,
    INITS,
    INPUTS,
    LOSSES,
    OPTIMIZERS,
    PRESETS,
    TASKS,
    TRAIN_FIELDS,
    Spec,
    SpecError,
    TrainSpec,
    describe,
    parse_activations,
    preset,
)

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 1
"""stdout's reader went away (`gradtui probe | head`): end quietly, as rich does."""
EXIT_INTERRUPTED = 130
PROGRESS_INTERVAL_S = 10.0
"""Seconds between the plain progress lines on stderr of `train` and `compare` where
there is no progress bar (stdout is not a terminal, or takes the JSON)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _add_spec_flags(parser: argparse.ArgumentParser) -> None:
    # Every flag defaults to "not given", so a preset keeps its own values.
    add = parser.add_argument
    add("--preset", help=f"start from a preset: {', '.join(PRESETS)}")
    add("--config", metavar="TOML", help="start from a spec saved as TOML")
    add("--sizes", help="input size, then each layer's output size, e.g. 100,100,100,100,100")
    add("--activation", help=f"after every layer: {', '.join(ACTIVATIONS)}")
    add(
        "--final-activation",
        dest="final_activation",
        help=f"after the last layer: {', '.join(FINAL_ACTIVATIONS)}",
    )
    add("--loss", help=f"{', '.join(LOSSES)}")
    add("--target", help="target of the sum-mse loss (default 100)")
    add("--batch-size", dest="batch_size", help="samples per batch (default 1)")
    add("--input", help=f"input distribution: {', '.join(INPUTS)}")
    add("--init", help=f"weight init: {', '.join(INITS)}")
    add(
        "--no-bias",
        dest="bias",
        action="store_const",
        const="off",
        help="Linear layers without bias",
    )
    add("--seed", help="random seed (default 0)")
    add("--device", help="auto (CUDA when available), cpu, cuda, cuda:N")
    add("--dtype", help=f"{', '.join(DTYPES)}")
    add("--bins", help="histogram bins (default 50)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gradtui", description="A terminal lab for back-propagated gradients.")
    parser.add_argument("--version", action="version", version=f"gradtui {__version__}")
    _add_spec_flags(parser)
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    probe = commands.add_parser("probe", help="one forward+backward pass, printed as a report")
    _add_spec_flags(probe)
    probe.add_argument(
        "--json", metavar="PATH", help="write the result as JSON to PATH, or - for stdout only"
    )
    commands.add_parser("presets", help="list the presets")
    train = commands.add_parser("train", help="train on a task; loss, update coherence, trajectory")
    compare = commands.add_parser("compare", help="train under 2-4 activations, side by side")
    compare.add_argument(
        "--activations", required=True, help="2 to 4 activations, e.g. sigmoid,tanh,relu"
    )
    for sub in (train, compare):
        _add_spec_flags(sub)
        _add_train_flags(sub)
        sub.add_argument(
            "--json", metavar="PATH", help="write the runs as JSON to PATH, or - for stdout only"
        )
    return parser


def _add_train_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--task", help=f"{', '.join(TASKS)} (default xor)")
    add("--steps", help="optimizer steps (default 300)")
    add("--lr", help="learning rate (default 0.1)")
    add("--optimizer", help=f"{', '.join(OPTIMIZERS)} (default sgd)")
    add("--samples", help="size of the generated data set (default 500)")
    add("--noise", help="noise on the task's points or targets (default 0.2)")
    add("--threshold", help="loss for 'steps to threshold' (default 0.2)")
    add("--trace", help="weights whose trajectory is drawn: LAYER:NEURON:A,B (default 2:0:0,1)")


def spec_from_args(args: argparse.Namespace) -> Spec:
    """The Spec the flags describe: a preset or config, then each given flag over it."""
    if args.preset is not None:
        base = preset(args.preset)
    elif args.config is not None:
        base = Spec.load(args.config)
    else:
        base = Spec()
    texts = {name: getattr(args, name) for name in FIELDS if getattr(args, name, None) is not None}
    return base.with_text(**texts)


def _fail(message: str) -> NoReturn:
    # One line, whatever a path or a value in the message holds.
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
    with contextlib.suppress(OSError, AttributeError):  # stderr closed: the code says it
        print(f"gradtui: error: {line}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_USAGE)


def _spec_error(error: SpecError) -> NoReturn:
    flag = (
        error.flag
        if error.field in (*FIELDS, *TRAIN_FIELDS, "preset", "config", "activations")
        else error.field
    )
    _fail(f"{flag}: {error.reason}")


def _guard_output(run: Callable[[list[str] | None], int]) -> Callable[..., int]:
    """Wrap main so that no write to stdout ends in a traceback: a write error (a full
    disk) is one line on stderr and exit 2, a closed pipe (`| head`) ends quietly with
    EXIT_BROKEN_PIPE, as Unix tools do, and Ctrl-C quietly with EXIT_INTERRUPTED."""

    @functools.wraps(run)
    def guarded(argv: list[str] | None = None) -> int:
        try:
            try:
                return run(argv)
            finally:
                if sys.stdout is not None:
                    sys.stdout.flush()  # so that a buffered write fails here, not at exit
        except BrokenPipeError:
            _drop_stdout()
            return EXIT_BROKEN_PIPE
        except OSError as error:  # a file's error names it; stdout's does not
            _drop_stdout()
            where = error.filename or "cannot write the output"
            _fail(f"{where}: {error.strerror or error}")
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED

    return guarded


def _drop_stdout() -> None:
    """Point stdout at /dev/null: what its buffer still holds is flushed at exit, and
    would fail again with a message from the interpreter."""
    # No descriptor (a test's captured stdout, a closed one): nothing to redirect.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@_guard_output
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "presets":
        from gradtui.report import make_console, print_presets

        print_presets(make_console())
        return 0
    try:
        spec = spec_from_args(args)
    except SpecError as error:
        _spec_error(error)
    if args.command == "probe":
        return _probe(spec, args.json)
    if args.command in ("train", "compare"):
        texts = {
            name: getattr(args, name)
            for name in TRAIN_FIELDS
            if getattr(args, name, None) is not None
        }
        try:
            plan = TrainSpec.from_texts(**texts)
            activations = parse_activations(args.activations) if args.command == "compare" else None
        except SpecError as error:
            _spec_error(error)
        return _train(spec, plan, activations, args.json)
    from gradtui.tui.app import make_app

    app = make_app(spec)
    app.run()
    return app.return_code or 0


def _probe(spec: Spec, json_path: str | None) -> int:
    from gradtui.lab import run_probe
    from gradtui.report import make_console, print_report

    try:
        result = run_probe(spec)
    except SpecError as error:
        _spec_error(error)
    except RuntimeError as error:  # e.g. CUDA out of memory: one line, not a traceback
        _fail(f"the probe failed on {spec.device}: {describe(error)}")
    return _output(result.to_json(), json_path, lambda: print_report(result, make_console()))


def _train(
    spec: Spec, plan: TrainSpec, activations: tuple[str, ...] | None, json_path: str | None
) -> int:
    from gradtui.lab.train import compare, run_training
    from gradtui.report import make_console, print_training
    from gradtui.result import comparison_json

    console = make_console()
    labels = activations or (spec.activation,)
    progress = None
    if console.is_terminal and json_path != "-":
        from rich.progress import Progress

        progress = Progress(console=console, transient=True)
        progress.start()
        task_id = progress.add_task(
            f"training ({', '.join(labels)})", total=plan.steps * len(labels)
        )

    last_line = time.monotonic()

    def on_step(index: int, result) -> None:
        nonlocal last_line
        if progress is not None:
            progress.update(task_id, completed=index * plan.steps + len(result.steps))
        elif time.monotonic() - last_line >= PROGRESS_INTERVAL_S:
            last_line = time.monotonic()
            step = result.steps[-1]
            run = f" ({labels[index]})" if activations else ""
            loss = "not finite" if step.loss is None else f"{step.loss:.4g}"
            print(f"step {step.step}/{plan.steps}{run}, loss {loss}", file=sys.stderr, flush=True)

    try:
        if activations is None:
            runs = [run_training(spec, plan, on_step=lambda result: on_step(0, result))]
        else:
            runs = compare(spec, plan, activations, on_step=on_step)
    except SpecError as error:
        _spec_error(error)
    except RuntimeError as error:
        _fail(f"training failed on {spec.device}: {describe(error)}")
    finally:
        if progress is not None:
            progress.stop()
    if activations is None:
        text = runs[0].to_json(plan.threshold)
    else:
        text = comparison_json(runs, plan.threshold)
    return _output(text, json_path, lambda: print_training(runs, console, plan.threshold))


def _output(json_text: str, json_path: str | None, show: Callable[[], None]) -> int:
    """`--json -`: only the JSON, on stdout. Otherwise `show` the report, after writing
    the JSON file when one is named."""
    if json_path == "-":
        sys.stdout.write(json_text + "\n")
        return 0
    if json_path is not None:
        from gradtui.files import write_atomic

        try:
            write_atomic(json_path, json_text + "\n")  # whole, or the old file stays
        except OSError as error:
            hint = "; use - for stdout" if error.errno == errno.EINVAL else ""  # a device
            _fail(f"--json: cannot write {json_path}: {error.strerror or error}{hint}")
    show()
    if json_path is not None:
        print(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
