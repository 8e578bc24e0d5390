"""gradtui: a terminal lab for seeing how activations shape back-propagated gradients."""

__version__ = "0.1.0"
