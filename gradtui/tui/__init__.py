"""The Textual app. Draws results; never does tensor math, never imports torch at import."""
