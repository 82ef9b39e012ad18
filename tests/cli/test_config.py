"""The real config, composed as Hydra composes it, built into the one job spec.

Every option of every config group and every ``experiment=`` recipe composes, becomes
a frozen :class:`~fincast.specs.JobSpec` and builds its model, as
lightning-hydra-template's config tests do; bad values fail with the key and value.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from fincast.cli.common import job_spec
from fincast.cli.schema import check_override_keys, register_schemas
from fincast.evaluation.tasks import TASKS
from fincast.paths import config_dir
from fincast.specs import JobSpec

PACKAGE = Path(__import__("fincast").__file__).parent

GROUPS = ("data", "features", "task", "model", "training", "evaluation", "tracking")
RECIPES = ("experiment", "hparams_search")
NEEDS = {"data=csv": ["data.options.path=prices.csv"]}


def composed(*overrides: str):
    register_schemas()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (config_dir() / group).glob("*.yaml"))


def every_choice() -> list[str]:
    return [f"{group}={name}" for group in (*GROUPS, *RECIPES) for name in options(group)]


def test_every_group_and_recipe_has_options():
    for group in (*GROUPS, *RECIPES):
        assert options(group), f"conf/{group} has no options"


@pytest.mark.parametrize("choice", every_choice())
def test_every_choice_builds_a_frozen_spec_and_its_model(choice):
    config = composed(choice, *NEEDS.get(choice, []))
    job = job_spec(config, "test")
    assert isinstance(job, JobSpec) and job.task.name in TASKS
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.training.epochs = 1  # type: ignore[misc]
    build = job.model.build_function()
    assert callable(build) and build.func.__module__ == "fincast.models.builders"


def test_the_spec_holds_what_was_composed():
    job = job_spec(
        composed(
            "experiment=sp500_lstm",
            "data.on_invalid=repair",
            "training.precision=mixed_bfloat16",
            "training.reduce_lr.patience=2",
            "training.pooling=per_ticker",
            "evaluation=walkforward",
            "evaluation.folds=3",
        ),
        "test",
    )
    assert job.data.tickers == ["^GSPC", "^IXIC"] and job.task.horizon == 10
    assert job.data.on_invalid == "repair" and job.data.max_daily_move == 0.4
    assert job.training.precision == "mixed_bfloat16" and job.training.reduce_lr is not None
    assert job.training.reduce_lr.patience == 2 and job.training.pooling == "per_ticker"
    assert job.evaluation.name == "walkforward" and job.evaluation.folds == 3
    assert job.model.builder["num_layers"] == 2 and job.embargo == 10


def test_a_model_builds_from_its_spec():
    import numpy as np

    from fincast.models.builders import fit_scaling

    job = job_spec(composed("model=mlp", "model.builder.units=[8]", "task.lookback=5"), "test")
    inputs = np.random.default_rng(0).normal(size=(32, 5, 3)).astype("float32")
    model = job.model.build_function()(
        lookback=5,
        num_features=3,
        horizon=job.task.horizon,
        scaling=fit_scaling(inputs, inputs[:, :5, 0]),
    )
    assert model.output_shape == (None, job.task.horizon)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.refresh=sometimes", "data.refresh must be one of never, missing, always"),
        ("data.on_invalid=fix", "data.on_invalid must be one of raise, warn, repair"),
        ("training.epochs=0", "training.epochs must be >= 1. Received: training.epochs=0"),
        ("training.pooling=global", "training.pooling must be one of pooled, per_ticker"),
        ("task.quantiles=[0.1,0.9]", "quantiles must include 0.5"),
        ("task.name=prices", "task.name must be one of returns, volatility"),
        ("evaluation.embargo=1", "evaluation.embargo must be at least the horizon (5)"),
        ("evaluation.window=sliding", "evaluation.window must be one of expanding, rolling"),
        ("evaluation.n_jobs=0", "evaluation.n_jobs must be >= 1, or -1"),
        ("evaluation.window=rolling", "evaluation.train_windows must be a positive number"),
        ("model.name=my-net", "model.name is part of registered model names"),
        ("data.max_daily_move=-1", "data.max_daily_move must be > 0 or null"),
    ],
)
def test_bad_values_end_with_one_line_naming_key_and_value(override, message, capsys):
    config = composed(override)
    with pytest.raises(SystemExit) as exited:
        job_spec(config, "test")
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1


def test_a_missing_mandatory_value_is_named():
    with pytest.raises(SystemExit):
        job_spec(composed("data=csv"), "test")


def test_wrong_type_is_refused_by_the_schema():
    with pytest.raises(ConfigCompositionException) as raised:
        composed("training.epochs=many")
    assert "training.epochs" in str(raised.value.__cause__)


def test_misspelt_key_lists_the_known_ones():
    expected = "Unknown config key 'training.epoch'; training has: epochs"
    with pytest.raises(ValueError, match=expected):
        check_override_keys(["training.epoch=3"])
    fine = ["experiment=sp500_lstm", "model=mlp", "model.builder.units=[8]"]
    check_override_keys([*fine, "+model.builder.new_option=1", "+data.options.sheet=2"])
    with pytest.raises(ValueError, match="Unknown config key 'training.epochz'; training has"):
        check_override_keys(["+training.epochz=3"])
    with pytest.raises(ValueError, match="Unknown config key 'extra'; the config has: data"):
        check_override_keys(["+extra=1"])


def test_hparams_search_is_a_multirun_with_optuna():
    config = composed("hparams_search=lstm_optuna")
    assert OmegaConf.select(config, "model.name") == "lstm"


GROUP_NAMES = ("data", "features", "task", "model", "training", "evaluation", "tracking", "paths")
QUOTED_KEY = re.compile(rf"(?<![\w./-])((?:{'|'.join(GROUP_NAMES)})\.[a-z_]+(?:\.[a-z_]+)*)")


def quoted_keys() -> set[str]:
    """Every ``group.key`` that a string in fincast's source quotes (messages, hints)."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            string = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if string and id(node) not in docstrings:
                found |= set(QUOTED_KEY.findall(node.value))
    return found


def test_every_key_an_error_message_quotes_exists():
    # "model.keras" (a file) and "model.predict_on_batch" (Keras' method) are not config keys
    keys = {
        key
        for key in quoted_keys()
        if not key.startswith("model.") or key.startswith(("model.builder", "model.name"))
    }
    assert {"data.on_invalid", "evaluation.embargo", "training.jit_compile"} <= keys
    missing = []
    for key in sorted(keys):
        try:
            check_override_keys([f"{key}=1"])
        except ValueError as error:
            missing.append(f"{key}: {error}")
    assert not missing, "\n".join(missing)
