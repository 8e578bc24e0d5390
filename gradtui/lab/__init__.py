"""The gradient lab: builds networks from a Spec and measures them. Torch only.

Nothing here imports Textual or rich; a test proves it.
"""

from gradtui.lab.device import resolve_device
from gradtui.lab.model import MLP, build_model
from gradtui.lab.probe import Cancelled, run_probe

__all__ = ["MLP", "Cancelled", "build_model", "resolve_device", "run_probe"]
