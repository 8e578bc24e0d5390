"""Command line: arguments -> Spec -> the app, or a headless command.

`gradtui [spec flags]` opens the app; `gradtui probe [spec flags]` prints the report;
`gradtui presets` lists the presets. Bad input exits with code 2 and one line that names
the flag and what is allowed.
"""

from __future__ import annotations

import argparse
import sys
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
    PRESETS,
    Spec,
    SpecError,
    preset,
)

EXIT_USAGE = 2


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
    return parser


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
    print(f"gradtui: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _spec_error(error: SpecError) -> NoReturn:
    flag = error.flag if error.field in (*FIELDS, "preset", "config") else error.field
    _fail(f"{flag}: {error.reason}")


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
    from gradtui.tui.app import make_app

    make_app(spec).run()
    return 0


def _probe(spec: Spec, json_path: str | None) -> int:
    from gradtui.lab import run_probe
    from gradtui.report import make_console, print_report

    try:
        result = run_probe(spec)
    except SpecError as error:
        _spec_error(error)
    except RuntimeError as error:  # e.g. CUDA out of memory: one line, not a traceback
        _fail(f"the probe failed on {spec.device}: {str(error).splitlines()[0]}")
    if json_path == "-":
        sys.stdout.write(result.to_json() + "\n")
        return 0
    if json_path is not None:
        try:
            with open(json_path, "w", encoding="utf-8") as out:
                out.write(result.to_json() + "\n")
        except OSError as error:
            _fail(f"--json: cannot write {json_path}: {error.strerror}")
    print_report(result, make_console())
    if json_path is not None:
        print(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
