"""Hand-built results for tests of the views and rules: the built-in MLP's entries from
LayerResults, named as the probe names them."""

from __future__ import annotations

from gradtui.result import Entry, LayerResult, ProbeResult, TensorStats
from gradtui.spec import Spec


def _non_negative(output: TensorStats | None) -> float | None:
    """The input-sign share the probe measures for a layer fed `output` (None for the
    first layer: its input, the data, is not in a LayerResult)."""
    if output is None or not output.has_finite:
        return None
    return 1.0 if output.neg == 0 else 1.0 - output.neg


def mlp_entries(
    layers: list[LayerResult], batch_size: int = 1
) -> tuple[list[Entry], list[Entry]]:
    """The parameters and outputs the probe would give for `layers`."""
    parameters, outputs = [], []
    previous = None
    for layer in layers:
        i = layer.index - 1
        common = {"kind": "Linear", "label": str(layer.index), "activation": layer.activation_name}
        parameters.append(
            Entry(
                name=f"linears.{i}.weight",
                shape=(layer.out_features, layer.in_features),
                stats=layer.weight_grad,
                param_norm=layer.weight_norm,
                sign_map=layer.sign_map,
                input_non_negative=_non_negative(previous),
                summed_over=batch_size,
                **common,
            )
        )
        previous = layer.activation_stats
        if layer.bias_grad is not None:
            parameters.append(
                Entry(
                    name=f"linears.{i}.bias",
                    shape=(layer.out_features,),
                    stats=layer.bias_grad,
                    param_norm=1.0,
                    **common,
                )
            )
        batch = layer.activation_stats.numel // max(1, layer.out_features)
        outputs.append(
            Entry(
                name=f"activations.{i}",
                kind="Sigmoid",
                label=str(layer.index),
                shape=(batch, layer.out_features),
                stats=layer.activation_stats,
                activation=layer.activation_name,
            )
        )
    return parameters, outputs


def mlp_result(layers: list[LayerResult], spec: Spec | None = None, **changes) -> ProbeResult:
    """A built-in MLP's result holding `layers`."""
    spec = spec or Spec(sizes=(2,) * (len(layers) + 1))
    parameters, outputs = mlp_entries(layers, spec.batch_size)
    fields = {"spec": spec, "device": "cpu", "loss": 1.0, **changes}
    return ProbeResult(parameters=parameters, outputs=outputs, **fields)
