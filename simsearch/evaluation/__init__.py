"""Evaluation of embeddings and pair scorers: pair metrics, one-shot trials, retrieval, plots.

Pure numpy over plain arrays; models come in as `encode(images) -> (n, dim) float32` callables.
Matplotlib is imported only when a plot is drawn, TensorFlow and scikit-learn never.

    metrics    roc_auc, average_precision, pair_metrics, calibrate_threshold, ...
    oneshot    n_way_k_shot_accuracy, draw_trials, lake_runs_accuracy, wilson_interval
    lake_runs  load_lake_runs (Lake et al.'s 400 official one-shot trials)
    retrieval  retrieval_metrics (leave-one-out recall@k, precision@1, map@k)
    linkage    linkage_scores (precision, recall, F1 of found links against true ones)
    linkage_tasks  linkage_tasks (dedup and match tasks from two tables and their matches:
               entity clusters, a split by cluster, training pair files), entity_clusters
    plots      plot_roc, plot_precision_recall, plot_distance_histogram, plot_history,
               plot_projection
    report     format_table
"""

from __future__ import annotations

from simsearch.evaluation.lake_runs import OneShotRun, load_lake_runs
from simsearch.evaluation.linkage import linkage_scores
from simsearch.evaluation.linkage_tasks import LinkageTasks, entity_clusters, linkage_tasks
from simsearch.evaluation.metrics import (
    Confusion,
    average_precision,
    calibrate_threshold,
    confusion_at,
    pair_metrics,
    precision_recall_curve,
    roc_auc,
    roc_curve,
)
from simsearch.evaluation.oneshot import (
    OneShotResult,
    Trials,
    draw_trials,
    lake_runs_accuracy,
    n_way_k_shot_accuracy,
    wilson_interval,
)
from simsearch.evaluation.plots import (
    plot_distance_histogram,
    plot_history,
    plot_precision_recall,
    plot_projection,
    plot_roc,
)
from simsearch.evaluation.report import format_table
from simsearch.evaluation.retrieval import retrieval_metrics

__all__ = [
    "Confusion",
    "LinkageTasks",
    "OneShotResult",
    "OneShotRun",
    "Trials",
    "average_precision",
    "calibrate_threshold",
    "confusion_at",
    "draw_trials",
    "entity_clusters",
    "format_table",
    "lake_runs_accuracy",
    "linkage_scores",
    "linkage_tasks",
    "load_lake_runs",
    "n_way_k_shot_accuracy",
    "pair_metrics",
    "plot_distance_histogram",
    "plot_history",
    "plot_precision_recall",
    "plot_projection",
    "plot_roc",
    "precision_recall_curve",
    "retrieval_metrics",
    "roc_auc",
    "roc_curve",
    "wilson_interval",
]
