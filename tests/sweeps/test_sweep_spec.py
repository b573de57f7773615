"""The sweep spec: parsing, checks with clear errors, the canonical form; the grid."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from runbase.sweeps import _space
from runbase.sweeps.spec import SpecError, load_spec, parse_spec


def _spec(**extra: Any) -> dict[str, Any]:
    return {
        "metric": "val_loss",
        "function": "train:main",
        "max_trials": 10,
        "parameters": {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}},
        **extra,
    }


def test_parameter_kinds_and_groups() -> None:
    spec = parse_spec(
        _spec(
            parameters={
                "model": {
                    "architecture": ["unet", "fpn"],
                    "depth": {"type": "int", "low": 2, "high": 8, "step": 2},
                    "encoder": "resnet34",
                },
                "optimizer": {"lr": {"type": "log_uniform", "low": "1e-5", "high": 1e-2}},
                "dropout": {"type": "float", "low": 0, "high": 0.5},
                "epochs": {"value": 20},
            }
        )
    )
    by_name = {p.name: p for p in spec.parameters}
    assert list(by_name) == [
        "model.architecture",
        "model.depth",
        "model.encoder",
        "optimizer.lr",
        "dropout",
        "epochs",
    ]
    assert by_name["model.architecture"].values == ("unet", "fpn")
    assert (by_name["model.depth"].kind, by_name["model.depth"].step) == ("int", 2)
    lr = by_name["optimizer.lr"]
    assert (lr.kind, lr.low, lr.log) == ("float", 1e-5, True)  # "1e-5" read as YAML 1.1 does
    assert spec.fixed == {"model.encoder": "resnet34", "epochs": 20}
    assert spec.metric.goal == "minimize" and spec.method == "tpe"
    # The canonical form parses back to the same spec.
    assert parse_spec(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "anneal"}, "method: 'anneal' is not one of grid, random, tpe"),
        ({"metric": {"name": "x", "goal": "up"}}, "metric.goal: 'up' is not one of"),
        ({"pruner": "sometimes"}, "pruner: 'sometimes' is not one of none, median"),
        ({"max_trials": 0}, "max_trials: expected an integer of at least 1"),
        ({"max_trials": None}, "a tpe sweep needs `max_trials` or `timeout`"),
        ({"command": "python x.py"}, "exactly one of `function`"),
        ({"function": "no_colon"}, "function: expected 'module:function'"),
        ({"lr": 1}, "lr: unknown setting"),
        (
            {"parameters": {"lr": {"type": "float", "low": 1, "high": 0.5}}},
            "parameters.lr: low (1) must be below high (0.5)",
        ),
        (
            {"parameters": {"lr": {"type": "float", "low": 0, "high": 1, "log": True}}},
            "parameters.lr.low: a log scale needs low > 0",
        ),
        ({"parameters": {"n": {"type": "int", "low": 1.5, "high": 3}}}, "whole numbers"),
        ({"parameters": {"a": {"values": []}}}, "parameters.a.values: expected a non-empty"),
        ({"parameters": {"a": [1, 1]}}, "lists a value twice"),
        ({"parameters": {"a b": [1]}}, "parameter names are letters"),
        ({"parameters": {"a": {"type": "normal", "low": 0, "high": 1}}}, "type 'normal'"),
        ({"parameters": {"a": 3}}, "nothing to search: every parameter is fixed"),
        ({"parameters": {}}, "parameters: expected a mapping"),
    ],
)
def test_mistakes_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match="sweep spec: .*" + _escape(message)):
        parse_spec(_spec(**change))


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def test_grid_is_the_cartesian_product() -> None:
    spec = parse_spec(
        {
            "method": "grid",
            "metric": {"name": "val_map", "goal": "maximize"},
            "command": "python train.py --attention {attention} --arch {model.arch}",
            "parameters": {
                "attention": ["none", "se", "cbam", "eca"],
                "model": {"arch": ["unet", "fpn", "deeplab", "linknet"]},
                "lr": [1e-4, 3e-4],
                "batch_size": [8, 16],
                "weight_decay": {"type": "float", "low": 0.0, "high": 0.01, "step": 0.01},
                "class_weight": [None, "balanced"],
                "epochs": 50,
            },
        }
    )
    assert spec.budget == spec.grid_size() == 4 * 4 * 2 * 2 * 2 * 2
    points = _space.grid_points(spec)
    expected = itertools.product(
        ["none", "se", "cbam", "eca"],
        ["unet", "fpn", "deeplab", "linknet"],
        [1e-4, 3e-4],
        [8, 16],
        [0.0, 0.01],
        [None, "balanced"],
    )
    assert [tuple(p.values()) for p in points] == list(expected)
    assert "epochs" not in points[0]  # fixed values are not searched


def test_grid_needs_values_and_max_trials_takes_a_subset() -> None:
    with pytest.raises(SpecError, match=r"parameters\.lr: a grid needs the values"):
        parse_spec(_spec(method="grid"))
    spec = parse_spec(_spec(method="grid", max_trials=3, seed=1, parameters={"a": list(range(10))}))
    points = _space.grid_points(spec)
    assert spec.budget == len(points) == 3
    assert points == sorted(points, key=lambda p: p["a"])
    assert _space.grid_points(spec) == points  # seeded


def test_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "method: random\nmetric: {name: acc, goal: max}\ncommand: python t.py --lr {lr}\n"
        "max_trials: 4\nparameters:\n  lr: {type: float, low: 1e-4, high: 1e-1, log: true}\n"
    )
    spec = load_spec(path)
    assert (spec.name, spec.metric.goal, spec.workdir) == ("sweep", "maximize", str(tmp_path))
    assert spec.parameters[0].low == 1e-4
    path.write_text("- not a mapping\n")
    with pytest.raises(SpecError, match="must hold a mapping"):
        load_spec(path)
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.yaml")


def test_nest_and_substitute() -> None:
    assert _space.nest({"model.hidden": 64, "lr": 0.1, "model.act": "relu"}) == {
        "model": {"hidden": 64, "act": "relu"},
        "lr": 0.1,
    }
    text = _space.substitute("--lr {lr} --h {model.hidden} {{x}}", {"lr": 0.1, "model.hidden": 8})
    assert text == "--lr 0.1 --h 8 {x}"
    with pytest.raises(KeyError, match="unknown placeholder"):
        _space.substitute("{nope}", {"lr": 1})


def test_sampler_and_pruner_options_are_checked() -> None:
    from runbase.sweeps import _optuna

    spec = parse_spec(_spec(sampler_options={"n_startup_trials": 3}, pruner={"type": "median"}))
    _optuna.check(spec)
    bad = parse_spec(_spec(pruner={"type": "hyperband", "reduction": 3}))
    with pytest.raises(SpecError, match="pruner hyperband"):
        _optuna.check(bad)
    bad = parse_spec(_spec(sampler_options={"bogus": 1}))
    with pytest.raises(SpecError, match="method tpe"):
        _optuna.check(bad)
