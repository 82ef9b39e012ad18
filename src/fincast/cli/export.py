"""``fincast-export``: a saved or registered model in another format, its card beside it.

``fincast-export model_uri=models/lstm/<stamp>.keras format=onnx`` writes
``models/lstm/onnx/<stamp>.onnx`` and its ``<stamp>.json`` card, checked to forecast as the
Keras model does; ``fincast-forecast model_uri=models/lstm/onnx/<stamp>.onnx`` serves it with
onnxruntime. The export runs on TensorFlow (tf2onnx), whatever ``KERAS_BACKEND`` says.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from fincast.cli.common import fail, quiet_by_default, report_config_errors, with_job_name
from fincast.paths import config_dir

COMMAND = "fincast-export"
FORMATS = ("onnx",)


@dataclass
class ExportSpec:
    """What ``fincast-export`` takes (``conf/export.yaml``)."""

    # a .keras file (card beside it) or an MLflow model URI (models:/..., runs:/...)
    model_uri: str = MISSING
    format: str = "onnx"
    # the file to write; null: beside a .keras source, with the format's suffix
    output: str | None = None
    # the MLflow tracking URI of a registered model (null: fincast's default)
    tracking_uri: str | None = None


def export(config: DictConfig) -> None:
    """The Hydra task of ``fincast-export``."""
    spec = export_spec(config)
    os.environ["KERAS_BACKEND"] = "tensorflow"  # tf2onnx: the export's one converter
    from fincast.backend import BackendError, describe_backend

    try:
        describe_backend("tensorflow")
    except BackendError as error:
        fail(COMMAND, error)
    from fincast.serving.onnx_export import export_model

    try:
        result = export_model(spec.model_uri, spec.output, spec.tracking_uri)
    except (ValueError, OSError) as error:
        fail(COMMAND, error)
    print(
        f"Exported {spec.model_uri} as ONNX to {result.path} (card: {result.card_path}); "
        f"forecasts equal the Keras model's within {result.max_difference:.1e}"
    )


def export_spec(config: DictConfig) -> ExportSpec:
    """The composed config as an :class:`ExportSpec`; a bad value ends with one line."""
    try:
        spec = OmegaConf.to_object(config)
    except MissingMandatoryValue as error:
        key = error.full_key or "a key"
        fail(COMMAND, f"{key} must be set (it has no default). Received: {key}=???")
    except OmegaConfBaseException as error:
        fail(COMMAND, " ".join(str(error).split("\n")[0].split()))
    assert isinstance(spec, ExportSpec)
    if spec.format not in FORMATS:
        fail(
            COMMAND, f"format must be one of {', '.join(FORMATS)}. Received: format={spec.format!r}"
        )
    return spec


def main() -> None:
    """Console entry point."""
    import hydra
    from hydra.core.config_store import ConfigStore

    quiet_by_default(sys.argv[1:])
    ConfigStore.instance().store(name="fincast_export_schema", node=ExportSpec)
    sys.argv[1:] = with_job_name(sys.argv[1:], COMMAND)
    app = hydra.main(config_path=str(config_dir()), config_name="export", version_base="1.3")
    report_config_errors(lambda: app(export)(), COMMAND, export.__code__)


if __name__ == "__main__":
    main()
