"""Where a walk-forward's units run: this process, joblib workers, or a Ray cluster.

A walk-forward fits one model per *model group* (every ticker for a pooled job, one
ticker each for a per-ticker job) over the same folds. Within a group, the folds
between two refits share one fit, so a *unit* of work is those folds of one group:
a fold (or a run of folds without refit) for a global model, a fold x ticker for
per-ticker models. ``evaluation.executor`` picks where the units run:

- ``local``: one after another in this process;
- ``joblib``: in ``evaluation.n_jobs`` local worker processes (one: this process);
- ``ray``: as Ray tasks on an existing cluster (:mod:`fincast.evaluation.ray_executor`).

Every executor returns the same :class:`~fincast.evaluation.runner.FoldResult` per
fold, and calls ``progress`` in this process as each fold completes, so whatever the
caller records (printing, MLflow) happens once per fold, on the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fincast.evaluation.runner import (
    FoldResult,
    Loss,
    ModelGroup,
    Progress,
    historical_forecasts,
)
from fincast.specs import EvaluationSpec


def run_groups(
    groups: Sequence[ModelGroup],
    loss: Loss,
    evaluation: EvaluationSpec,
    progress: Progress | None = None,
) -> list[list[FoldResult]]:
    """Every group's fold results (sorted by fold), run where ``evaluation.executor`` says.

    Args:
        groups: the model groups of one walk-forward.
        loss: ``loss(actual, point_forecast)`` for the progress line.
        evaluation: ``executor``, ``n_jobs`` and the ``ray`` settings.
        progress: called in this process with each fold's result as it completes.

    Raises:
        ClusterUnreachable: ``executor=ray`` and no cluster answers at
            ``evaluation.ray.address`` (before any unit runs).
    """
    if evaluation.executor == "ray":
        from fincast.evaluation.ray_executor import run_on_ray

        return run_on_ray(groups, loss, evaluation.ray, progress)
    n_jobs = 1 if evaluation.executor == "local" else evaluation.n_jobs
    return [
        historical_forecasts(
            group.folds,
            group.candidates,
            loss,
            n_jobs=n_jobs,
            progress=None if progress is None else _labelled(progress, group),
        )
        for group in groups
    ]


def _labelled(progress: Progress, group: ModelGroup) -> Callable[[FoldResult], None]:
    def show(result: FoldResult) -> None:
        progress(group.label, result, len(group.folds))

    return show
