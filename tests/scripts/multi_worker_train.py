"""One worker of the two-process multi-worker test.

Run by the test with TF_CONFIG set: trains a tiny model and saves its
final weights.
"""

import os
import sys

import numpy as np

from bnorder_tf.training.config import TrainConfig
from bnorder_tf.training.runner import run_training

model_dir, export_dir, weights_path = sys.argv[1:4]
config = TrainConfig(
    dataset="synthetic",
    model="vgg16_11",
    width=0.0625,
    epochs=2,
    batch_size=16,
    learning_rate=0.05,
    lr_milestones=(1,),
    seed=5,
    strategy="multi_worker",
    model_dir=model_dir,
    export_dir=export_dir,
    run_name="mw",
    steps_per_epoch=3,
    eval_steps=2,
)
result = run_training(config, verbose=0)
model, summary = result.model, result.summary
np.savez(weights_path, *[v.numpy() for v in model.weights])
print("final_test_accuracy", summary["final_test_accuracy"], flush=True)
os._exit(0)  # skip collective teardown races at interpreter exit
