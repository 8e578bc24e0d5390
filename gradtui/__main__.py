"""Command line: arguments -> Spec -> the app, or a headless command.

`gradtui [spec flags]` opens the app; `gradtui probe [spec flags]` prints the report;
`gradtui presets` lists the presets; `gradtui history RUN` reads a recorded run and
`gradtui open RUN` opens it in the app. Bad
input exits with code 2 and one line that names the flag and what is allowed.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import os
import re
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import NoReturn

from gradtui import __version__
from gradtui.fields import FieldInfo
from gradtui.result import stats_path_text
from gradtui.spec import (
    FIELDS,
    PRESETS,
    TRAIN_FIELDS,
    Spec,
    SpecError,
    TrainSpec,
    describe,
    parse_activations,
    preset,
)

EXIT_USAGE = 2
APP_PREFIX = "app_"
"""The app's own flags (before any command) land under this prefix, so a command's
defaults cannot silently replace them."""
EXIT_BROKEN_PIPE = 1
"""stdout's reader went away (`gradtui probe | head`): end quietly, as rich does."""
EXIT_INTERRUPTED = 130
PROGRESS_INTERVAL_S = 10.0
"""Seconds between the plain progress lines on stderr of `train` and `compare` where
there is no progress bar (stdout is not a terminal, or takes the JSON)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2, and a negative
    number in any notation (-1e308, -.5) is a value, not a flag."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)  # --siz is not --sizes
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(
            r"^-([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$|^-inf(inity)?$", re.IGNORECASE
        )

    def error(self, message: str) -> NoReturn:
        _fail(message, prog=self.prog)


def _add_fields(
    parser: argparse.ArgumentParser, fields: tuple[FieldInfo, ...], prefix: str
) -> None:
    """One flag per declared field. A flag not given is absent from the namespace
    (SUPPRESS), so a preset or config keeps its own value for it."""
    for info in fields:
        kind = info.kind
        allowed = f"; {kind.allowed()}" if kind.allowed() else ""
        parser.add_argument(
            info.flag,
            dest=prefix + info.name,
            metavar=info.name.upper(),
            default=argparse.SUPPRESS,
            help=f"{info.option.help}{allowed} (default: {info.default_text or 'none'})",
        )
        if isinstance(info.default, bool):
            parser.add_argument(
                "--no-" + info.flag[2:],
                dest=prefix + info.name,
                action="store_const",
                const=kind.text(False),
                default=argparse.SUPPRESS,
                help=f"the same as {info.flag} {kind.text(False)}",
            )


def _add_spec_flags(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    add = parser.add_argument
    add(
        "--preset",
        dest=prefix + "preset",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help=f"start from a preset: {', '.join(PRESETS)}",
    )
    add(
        "--config",
        dest=prefix + "config",
        metavar="TOML",
        default=argparse.SUPPRESS,
        help="start from a spec saved as TOML",
    )
    _add_fields(parser, Spec.fields(), prefix)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gradtui", description="A terminal lab for back-propagated gradients.")
    parser.add_argument("--version", action="version", version=f"gradtui {__version__}")
    _add_spec_flags(parser, APP_PREFIX)
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    probe = commands.add_parser("probe", help="one forward+backward pass, printed as a report")
    _add_spec_flags(probe)
    probe.add_argument(
        "--json", metavar="PATH", help="write the result as JSON to PATH, or - for stdout only"
    )
    probe.add_argument(
        "--debug",
        action="store_true",
        help="when your model (--model) fails, print its traceback before the one line",
    )
    probe.add_argument(
        "--verbose",
        action="store_true",
        help="say on stderr which statistics path measured (fused numba kernels or plain "
        "torch) and why",
    )
    commands.add_parser("presets", help="list the presets")
    train = commands.add_parser("train", help="train on a task; loss, update coherence, trajectory")
    compare = commands.add_parser("compare", help="train under 2-4 activations, side by side")
    compare.add_argument(
        "--activations", required=True, help="2 to 4 activations, e.g. sigmoid,tanh,relu"
    )
    for sub in (train, compare):
        _add_spec_flags(sub)
        _add_fields(sub, TrainSpec.fields(), "")
        sub.add_argument(
            "--json", metavar="PATH", help="write the runs as JSON to PATH, or - for stdout only"
        )
        sub.add_argument(
            "--save",
            metavar="PATH",
            help="train only: also record every step's gradients to a new run file at PATH "
            "(read it with gradtui history PATH)",
        )
    history = commands.add_parser(
        "history", help="read a run file (gradtui.watch, train --save): last step and over time"
    )
    history.add_argument("run", metavar="RUN", help="the run file")
    history.add_argument(
        "--json", metavar="PATH", help="write the readout as JSON to PATH, or - for stdout only"
    )
    opened = commands.add_parser(
        "open", help="the app on a run file: scrub its steps, follow it live while it grows"
    )
    opened.add_argument("run", metavar="RUN", help="the run file")
    return parser


def _given(args: argparse.Namespace, names, prefix: str = "") -> dict[str, str]:
    """The flags among `names` given on the command line, as their texts."""
    return {name: getattr(args, prefix + name) for name in names if hasattr(args, prefix + name)}


def spec_from_args(args: argparse.Namespace, prefix: str = "") -> Spec:
    """The Spec the flags describe: a preset or config, then each given flag over it."""
    chosen_preset = getattr(args, prefix + "preset", None)
    config = getattr(args, prefix + "config", None)
    if chosen_preset is not None and config is not None:
        raise SpecError("config", "give --preset or --config, not both")
    given = _given(args, FIELDS, prefix)
    if given.get("model"):
        if chosen_preset is not None:
            raise SpecError(
                "preset", "a preset is a built-in MLP; give --preset or --model, not both"
            )
        builtin = [name for name in Spec.builtin_fields() if name in given]
        if builtin:
            flag = "--" + builtin[0].replace("_", "-")
            raise SpecError(
                "model",
                f"{flag} describes the built-in MLP and does not apply to your own model; "
                f"give --model or the built-in MLP's flags ({flag}), not both",
            )
    if chosen_preset is not None:
        base = preset(chosen_preset)
    elif config is not None:
        base = Spec.load(config)
    else:
        base = Spec()
    return base.with_text(**given)


def _fail(message: str, *, prog: str = "gradtui") -> NoReturn:
    # One line, whatever a path or a value in the message holds.
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
    with contextlib.suppress(OSError, AttributeError):  # stderr closed: the code says it
        print(f"{prog}: error: {line}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_USAGE)


def _spec_error(error: SpecError) -> NoReturn:
    _fail(f"{error.flag}: {error.reason}")


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
    if args.command == "history":
        return _history(args.run, args.json)
    if args.command == "open":
        return _open(args.run)
    if args.command == "presets":
        from gradtui.report import make_console, print_presets

        print_presets(make_console())
        return 0
    app_flags = [name for name in vars(args) if name.startswith(APP_PREFIX)]
    if args.command is not None and app_flags:
        flag = "--" + app_flags[0].removeprefix(APP_PREFIX).replace("_", "-")
        _fail(f"{flag}: give it after the command: gradtui {args.command} {flag} ...")
    try:
        spec = spec_from_args(args, APP_PREFIX if args.command is None else "")
    except SpecError as error:
        _spec_error(error)
    if args.command == "probe":
        return _probe(spec, args.json, verbose=args.verbose, debug=args.debug)
    if args.command in ("train", "compare"):
        if not spec.builtin:
            _fail(
                f"--model: {args.command} trains the built-in MLP on a task; to record your "
                "own model's training, use gradtui.watch in your loop (README)"
            )
        texts = _given(args, TRAIN_FIELDS)
        try:
            train_spec = TrainSpec.from_texts(**texts)
            activations = parse_activations(args.activations) if args.command == "compare" else None
        except SpecError as error:
            _spec_error(error)
        if args.save is not None and activations is not None:
            _fail(
                "--save: compare trains several runs and a run file holds one; "
                "record each with gradtui train --save PATH"
            )
        if args.save is not None and os.path.lexists(args.save):
            _fail(f"--save: {args.save} exists; remove it or choose another path")
        return _train(spec, train_spec, activations, args.json, args.save, argv)
    from gradtui.tui.app import make_app

    app = make_app(spec)
    app.run()
    return app.return_code or 0


def _probe(
    spec: Spec, json_path: str | None, *, verbose: bool = False, debug: bool = False
) -> int:
    from gradtui.lab import run_probe
    from gradtui.report import make_console, print_report

    try:
        result = run_probe(spec)
    except SpecError as error:
        if debug and error.__cause__ is not None:
            import traceback

            traceback.print_exception(error.__cause__, file=sys.stderr)
        _spec_error(error)
    except RuntimeError as error:  # e.g. CUDA out of memory: one line, not a traceback
        _fail(f"the probe failed on {spec.device}: {describe(error)}")
    if verbose:
        print(f"gradtui: statistics: {stats_path_text(result)}", file=sys.stderr)
    return _output(result.to_json(), json_path, lambda: print_report(result, make_console()))


def _train(
    spec: Spec,
    train_spec: TrainSpec,
    activations: tuple[str, ...] | None,
    json_path: str | None,
    save: str | None = None,
    argv: list[str] | None = None,
) -> int:
    from gradtui.lab.train import compare, run_training
    from gradtui.report import make_console, print_training
    from gradtui.result import comparison_json
    from gradtui.runfile import RunFileError

    console = make_console()
    labels = activations or (spec.activation,)
    progress = None
    if console.is_terminal and json_path != "-":
        from rich.progress import Progress

        progress = Progress(console=console, transient=True)
        progress.start()
        task_id = progress.add_task(
            f"training ({', '.join(labels)})", total=train_spec.steps * len(labels)
        )

    last_line = time.monotonic()

    def on_step(index: int, result) -> None:
        nonlocal last_line
        if progress is not None:
            progress.update(task_id, completed=index * train_spec.steps + len(result.steps))
        elif time.monotonic() - last_line >= PROGRESS_INTERVAL_S:
            last_line = time.monotonic()
            step = result.steps[-1]
            run = f" ({labels[index]})" if activations else ""
            loss = "not finite" if step.loss is None else f"{step.loss:.4g}"
            print(
                f"step {step.step}/{train_spec.steps}{run}, loss {loss}",
                file=sys.stderr,
                flush=True,
            )

    interrupted = threading.Event()
    try:
        with _interrupt_sets(interrupted):
            if activations is None:
                command = shlex.join(["gradtui", *(sys.argv[1:] if argv is None else argv)])
                runs = [
                    run_training(
                        spec,
                        train_spec,
                        interrupted,
                        on_step=lambda result: on_step(0, result),
                        save=save,
                        command=command,
                    )
                ]
            else:
                runs = compare(spec, train_spec, activations, interrupted, on_step=on_step)
    except SpecError as error:
        _spec_error(error)
    except RunFileError as error:
        _fail(f"--save: {error}")
    except RuntimeError as error:
        _fail(f"training failed on {spec.device}: {describe(error)}")
    finally:
        if progress is not None:
            progress.stop()
    if interrupted.is_set():
        return EXIT_INTERRUPTED
    if activations is None:
        text = runs[0].to_json(train_spec.threshold)
    else:
        text = comparison_json(runs, train_spec.threshold)
    return _output(text, json_path, lambda: print_training(runs, console, train_spec.threshold))


@contextlib.contextmanager
def _interrupt_sets(event: threading.Event):
    """Ctrl-C sets `event`, which the training loop checks after each step; a second
    Ctrl-C raises KeyboardInterrupt at once. A handler that only sets an Event cannot be
    lost, as a KeyboardInterrupt raised inside a finaliser (`Exception ignored in ...`)
    is, which left a long training running after Ctrl-C."""

    def handler(_signum, _frame) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        event.set()

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: Ctrl-C stays Python's
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _history(path: str, json_path: str | None) -> int:
    from gradtui.history import history_json, read_history
    from gradtui.report import make_console, print_history
    from gradtui.runfile import RunFileError

    try:
        history = read_history(path)
    except RunFileError as error:
        _fail(str(error))
    console = make_console()
    return _output(history_json(history), json_path, lambda: print_history(history, console))


def _open(path: str) -> int:
    from gradtui.runfile import RunFileError, open_run

    try:
        open_run(path).close()  # refused here, as one line, before the app starts
    except RunFileError as error:
        _fail(str(error))
    from gradtui.tui.app import make_app

    app = make_app(run=path)
    app.run()
    return app.return_code or 0


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
