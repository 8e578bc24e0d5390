"""gradtui: a terminal lab for seeing how activations shape back-propagated gradients.

`gradtui.watch(model, path, every=10)` records any training loop's gradients to a run
file; `gradtui.open_run(path)` reads one. Both load on first use, so `import gradtui`
imports neither torch nor sqlite3.
"""

__version__ = "0.1.0"

_LAZY = {
    "watch": "gradtui.lab.watch",
    "Watch": "gradtui.lab.watch",
    "NonFiniteGradient": "gradtui.lab.watch",
    "RecordingStopped": "gradtui.lab.watch",
    "open_run": "gradtui.runfile",
    "RunReader": "gradtui.runfile",
    "RunFileError": "gradtui.runfile",
}
"""Public names and the module that defines each, imported when first asked for."""

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gradtui' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
