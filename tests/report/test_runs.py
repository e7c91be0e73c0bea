"""Reading run directories and grouping them into settings."""

from bnorder_tf.training.config import TrainConfig


def test_runs_differing_in_seed_and_histogram_bins_are_one_setting():
    from bnorder_tf.report.runs import Run, group_runs

    def run(**settings):
        base = dict(
            dataset="cifar10", model="vgg16_11", order="swap", learning_rate=0.1
        )
        config = TrainConfig(**{**base, **settings})
        return Run(
            path=str(settings),
            config=config,
            summary={},
            history={},
            last_stats=None,
        )

    groups = group_runs(
        [
            run(seed=0, histogram_bins=50),
            run(seed=1, histogram_bins=0),
            run(seed=0, learning_rate=0.01),
        ]
    )
    assert sorted(len(g.runs) for g in groups) == [1, 2]
