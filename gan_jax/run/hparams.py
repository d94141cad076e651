"""A run's config in TensorBoard's HPARAMS tab.

`summaries` turns the config into the hparams plugin's two records: the experiment (which
columns the tab has: every scalar config field, and the metrics ``d_loss``, ``g_loss`` and
the ``eval/...`` results) and the session start (this run's values). The tab then shows the
latest value of each metric's scalar series in the same run, so comparing the runs of one
``--logdir`` side by side needs nothing else.
"""

import json

import ml_collections
from tensorboardX.proto import api_pb2, plugin_hparams_pb2, summary_pb2, tensor_pb2
from tensorboardX.proto import tensor_shape_pb2, types_pb2

TRAIN_METRICS = ("d_loss", "g_loss")
_PLUGIN = "hparams"


def flat_hparams(config: ml_collections.ConfigDict) -> dict[str, bool | float | str]:
    """Dotted field name → value of every set leaf field; tuples and lists as JSON text."""
    out = {}

    def visit(d: dict, prefix: str) -> None:
        for key, value in sorted(d.items()):
            if isinstance(value, dict):
                visit(value, f"{prefix}{key}.")
            elif isinstance(value, (list, tuple)):
                out[prefix + key] = json.dumps(list(value), default=str)
            elif isinstance(value, (bool, int, float, str)):
                out[prefix + key] = value
            elif value is not None:
                out[prefix + key] = str(value)

    visit(config.to_dict(), "")
    return out


def metric_tags(config: ml_collections.ConfigDict) -> list[str]:
    """The scalar tags shown as metrics: the losses, then each result of ``eval.metrics``."""
    tags = list(TRAIN_METRICS)
    if config.eval_every and config.eval.metrics:
        from gan_jax.metrics import evaluator  # the metric registry; heavy imports only here

        for name in evaluator.parse_metrics(config.eval.metrics, config.model.num_classes):
            tags += [f"eval/{name}{suffix}" for suffix in evaluator.METRICS[name].higher_is_better]
    return tags


def summaries(config: ml_collections.ConfigDict) -> list[summary_pb2.Summary]:
    """The experiment and session-start records of ``config``, to write once per run."""
    infos, start = [], plugin_hparams_pb2.SessionStartInfo()
    for name, value in flat_hparams(config).items():
        if isinstance(value, bool):
            start.hparams[name].bool_value = value
            kind = api_pb2.DATA_TYPE_BOOL
        elif isinstance(value, (int, float)):
            start.hparams[name].number_value = float(value)
            kind = api_pb2.DATA_TYPE_FLOAT64
        else:
            start.hparams[name].string_value = value
            kind = api_pb2.DATA_TYPE_STRING
        infos.append(api_pb2.HParamInfo(name=name, type=kind))
    experiment = api_pb2.Experiment(
        hparam_infos=infos,
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=t)) for t in metric_tags(config)],
    )
    return [
        _summary("_hparams_/experiment", plugin_hparams_pb2.HParamsPluginData(experiment=experiment)),
        _summary(
            "_hparams_/session_start_info", plugin_hparams_pb2.HParamsPluginData(session_start_info=start)
        ),
    ]


def _summary(tag: str, data: plugin_hparams_pb2.HParamsPluginData) -> summary_pb2.Summary:
    """One plugin record, with the empty tensor value that TensorBoard's own hparams writer
    gives it (loaders that skip values without data keep it)."""
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=_PLUGIN, content=data.SerializeToString()
        )
    )
    empty = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=0)]),
    )
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=empty)])
