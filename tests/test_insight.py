"""The findings under the table say what the figures show, and nothing they do not."""

from __future__ import annotations

from gradtui.insight import findings
from gradtui.lab import run_probe
from gradtui.spec import Spec, preset


def notes_for(spec: Spec) -> str:
    return "\n".join(findings(run_probe(spec.replace(device="cpu"))))


def test_sigmoid_names_the_coherent_layers_and_the_hidden_ones():
    notes = notes_for(preset("seed-v2.0"))
    assert "Row coherence 100% in layers 2-4" in notes
    assert "Layers 2, 3 only look mixed" in notes
    assert "Layer 4: all weight gradients one sign." in notes
    assert "No layer's rows are one-signed" not in notes


def test_tanh_says_no_row_is_one_signed():
    notes = notes_for(preset("seed-v3.0"))
    assert "No layer's rows are one-signed: the activation's outputs have both signs" in notes
    assert "Row coherence 100%" not in notes


def test_relu_over_a_batch_blames_the_batch_not_the_inputs():
    notes = notes_for(
        Spec(
            sizes=(100, 100, 100),
            activation="relu",
            final_activation="none",
            loss="mse",
            batch_size=8,
        )
    )
    assert "Batch 8: layer 2 takes only non-negative inputs" in notes
    assert "both signs" not in notes


def test_a_batch_note_only_where_coherence_fell():
    # NOTES.md's case: rows one-signed 84% / 99% / 100% in layers 2-4 at batch 64.
    spec = Spec(sizes=(100,) * 5, final_activation="none", loss="mse", batch_size=64)
    notes = notes_for(spec)
    assert "Row coherence 100% in layer 4:" in notes
    assert "Batch 64: layers 2, 3 take only non-negative inputs" in notes
    # Sum loss with a sigmoid output keeps every row one-signed at batch 32: no batch note.
    assert "Batch" not in notes_for(preset("seed-v2.0").replace(batch_size=32))


def test_saturation_and_non_finite_values_are_reported():
    saturated = notes_for(Spec(sizes=(10, 10, 10), activation="tanh", init="normal:10"))
    assert "half or more of the units are saturated" in saturated
    broken = notes_for(Spec(sizes=(4, 4, 2), init="normal:1e30", activation="identity"))
    assert "non-finite" in broken
