"""The real config, composed as Hydra composes it: defaults, overrides, schema checks."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from fincast.cli.schema import check_choices, check_override_keys, register_schemas
from fincast.paths import config_dir


def composed(*overrides: str):
    register_schemas()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def test_defaults_compose_and_pass_the_checks():
    config = composed()
    assert config.backend == "auto" and config.model.name == "lstm"
    assert config.data.source == "sample"
    assert list(config.data.tickers) == ["^GSPC"]
    check_choices(config)


@pytest.mark.parametrize("model", ["lstm", "mlp", "cnn", "t2v_attention"])
def test_every_model_group_composes(model):
    config = composed(f"model={model}", "training.epochs=2", "backend=jax")
    assert config.model.name == model and config.model.builder._target_.startswith("fincast.models")
    assert config.training.epochs == 2


def test_experiment_recipe_overrides_globals():
    config = composed("experiment=sp500_lstm")
    assert list(config.data.tickers) == ["^GSPC", "^IXIC"] and config.task.horizon == 10


def test_wrong_type_is_refused_by_the_schema():
    with pytest.raises(ConfigCompositionException) as raised:
        composed("training.epochs=many")
    assert "training.epochs" in str(raised.value.__cause__)


def test_bad_choice_names_key_value_and_allowed():
    config = composed("data.refresh=sometimes")
    with pytest.raises(ValueError, match="data.refresh must be one of never, missing, always"):
        check_choices(config)


def test_misspelt_key_lists_the_known_ones():
    expected = "Unknown config key 'training.epoch'; training has: epochs"
    with pytest.raises(ValueError, match=expected):
        check_override_keys(["training.epoch=3"])
    fine = ["experiment=sp500_lstm", "model=mlp", "+extra=1", "model.builder.units=[8]"]
    check_override_keys(fine)


def test_hparams_search_is_a_multirun_with_optuna():
    config = composed("hparams_search=lstm_optuna")
    assert OmegaConf.select(config, "model.name") == "lstm"
