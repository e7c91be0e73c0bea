"""The PyTorch side of `bench_torch.py`, timed in a process of its own.

The same VGG16_11 Swap-tanh network in PyTorch's conventional layers.

Run by `bench_torch.py` with the PyTorch environment's Python
(`make torch-env`); it imports only PyTorch and NumPy, never bnorder_tf.
It prints one JSON line: `{"images_per_second": ..., "parameters": ...}`.

    .venv-torch/bin/python benchmarks/torch_vgg.py step --memory_format \
        channels_last
    .venv-torch/bin/python benchmarks/torch_vgg.py epoch --data_dir \
        /usr/share/datasets/fashion-mnist --workers 1
"""

import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
from torch import nn

#: VGG16_11 (the first 11 weight layers of VGG16) at width 0.25.
CONV_WIDTHS = [16, 16, "M", 32, 32, "M", 64, 64, 64, "M", 128, "M"]
FC_UNITS = 128
CLASSES = 10
BATCH = 128
#: Fashion-MNIST's pixel mean and standard deviation (bnorder_tf's).
MEAN, STD = 0.2860, 0.3530


def swap_vgg(channels=1, side=32):
    """Weight -> tanh -> BN in every block (Swap), then the classifier."""
    layers, features = [], channels
    for item in CONV_WIDTHS:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            side //= 2
            continue
        layers += [
            nn.Conv2d(features, item, 3, padding=1),
            nn.Tanh(),
            nn.BatchNorm2d(item, eps=1e-5, momentum=0.1),
        ]
        features = item
    layers.append(nn.Flatten())
    features *= side * side
    for _ in range(2):
        layers += [
            nn.Linear(features, FC_UNITS),
            nn.Tanh(),
            nn.BatchNorm1d(FC_UNITS, eps=1e-5, momentum=0.1),
        ]
        features = FC_UNITS
    layers.append(nn.Linear(features, CLASSES))
    return nn.Sequential(*layers)


def read_idx(path):
    with gzip.open(path) as f:
        content = f.read()
    dims = content[3]
    shape = np.frombuffer(content[4 : 4 + 4 * dims], ">u4").astype(int)
    return np.frombuffer(content, np.uint8, offset=4 + 4 * dims).reshape(shape)


class AugmentedFashionMNIST(torch.utils.data.Dataset):
    """Fashion-MNIST padded to 32x32, normalised, cropped and flipped.

    Randomly cropped after 4-pixel zero padding and flipped, one image at
    a time (torchvision's RandomCrop(32, padding=4) and
    RandomHorizontalFlip, in plain torch).
    """

    def __init__(self, directory):
        images = read_idx(os.path.join(directory, "train-images-idx3-ubyte.gz"))
        labels = read_idx(os.path.join(directory, "train-labels-idx1-ubyte.gz"))
        x = torch.from_numpy(images.astype(np.float32) / 255.0)
        x = nn.functional.pad(x, (2, 2, 2, 2))  # 28 -> 32, as bnorder_tf
        self.images = ((x - MEAN) / STD)[:, None]  # [N, 1, 32, 32]
        self.labels = torch.from_numpy(labels.astype(np.int64))

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        padded = nn.functional.pad(self.images[i], (4, 4, 4, 4))
        top, left = torch.randint(0, 9, (2,)).tolist()
        image = padded[:, top : top + 32, left : left + 32]
        if torch.rand(()) < 0.5:
            image = image.flip(-1)
        return image, self.labels[i]


def make_training(memory_format, autocast):
    torch.manual_seed(0)
    model = swap_vgg().to(memory_format=memory_format)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4
    )
    loss_fn = nn.CrossEntropyLoss()

    def step(images, labels):
        images = images.contiguous(memory_format=memory_format)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = loss_fn(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    parameters = sum(p.numel() for p in model.parameters())
    return step, parameters


def bare_step(args, step):
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(BATCH, 1, 32, 32, generator=generator)
    labels = torch.randint(0, CLASSES, (BATCH,), generator=generator)
    for _ in range(3):
        step(images, labels)
    start = time.perf_counter()
    for _ in range(args.steps):
        step(images, labels)
    return args.steps * BATCH / (time.perf_counter() - start)


def epoch(args, step):
    """The second of two epochs (the first warms up), all full batches."""
    loader = torch.utils.data.DataLoader(
        AugmentedFashionMNIST(args.data_dir),
        batch_size=BATCH,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
    )
    for _ in range(2):
        start = time.perf_counter()
        images_seen = 0
        for i, (images, labels) in enumerate(loader):
            if args.epoch_steps and i == args.epoch_steps:
                break
            step(images, labels)
            images_seen += len(labels)
    return images_seen / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["step", "epoch"])
    parser.add_argument(
        "--memory_format",
        default="channels_last",
        choices=["channels_last", "contiguous_format"],
    )
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument(
        "--data_dir", default="/usr/share/datasets/fashion-mnist"
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--epoch_steps", type=int, default=0, help="0: the whole epoch"
    )
    args = parser.parse_args()
    memory_format = getattr(torch, args.memory_format)
    step, parameters = make_training(memory_format, args.bf16)
    rate = (bare_step if args.what == "step" else epoch)(args, step)
    print(
        json.dumps(
            {
                "images_per_second": rate,
                "parameters": parameters,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "isa": torch.backends.cpu.get_cpu_capability(),
            }
        )
    )


if __name__ == "__main__":
    main()
