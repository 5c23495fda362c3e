"""The cnn_suite workloads in PyTorch eager (NCHW), built to match the Keras models layer for
layer (BatchNorm with Keras's epsilon and momentum, Adam with Keras's epsilon)."""

import statistics
import time

import numpy as np


def model(workload):
    from torch import nn

    if workload == "resnet":
        from workloads import torch_resnet

        return torch_resnet(channels=3)
    if workload == "mobile":

        def bn_relu(channels):
            return [nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01), nn.ReLU()]

        parts = [nn.Conv2d(3, 16, 3, 2, padding=1, bias=False), *bn_relu(16)]
        channels = 16
        for filters, stride in ((32, 1), (64, 2), (64, 1), (128, 2)):
            parts += [nn.Conv2d(channels, channels, 3, stride, 1, groups=channels, bias=False)]
            parts += [*bn_relu(channels), nn.Conv2d(channels, filters, 1, bias=False)]
            parts += bn_relu(filters)
            channels = filters
        parts += [
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
            nn.Conv2d(channels, 128, 1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(128, 10),
        ]
        return nn.Sequential(*parts)
    parts, channels = [], 3
    for filters in (32, 64, 128):
        parts += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        channels = filters
    return nn.Sequential(*parts, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


def measure_torch(workload, steps, threads, batch, shape):
    import torch

    torch.manual_seed(0)
    net = model("vgg64" if workload in ("latency", "throughput") else workload)
    rng = np.random.default_rng(0)
    nchw = (shape[2], shape[0], shape[1])
    if workload in ("latency", "throughput"):
        count = 1 if workload == "latency" else 256
        x = torch.from_numpy(rng.random((count,) + nchw, dtype=np.float32))
        net.eval()
        times = []
        with torch.no_grad():
            torch.softmax(net(x), dim=1).numpy()  # warm up
            for _ in range(50 if workload == "latency" else 5):
                start = time.perf_counter()
                torch.softmax(net(x), dim=1).numpy()
                times.append(time.perf_counter() - start)
        return statistics.median(times)
    x = torch.from_numpy(rng.random((batch,) + nchw, dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, batch))
    optimizer = torch.optim.Adam(net.parameters(), eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()
    times = []
    for step in range(steps + 2):
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        optimizer.step()
        loss.item()
        if step >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)
