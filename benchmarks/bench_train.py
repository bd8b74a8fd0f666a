"""Training throughput of `pinn` on the `small` preset (N=64) and the share of step time spent
waiting for data, against a baseline measured in the same run.

Baseline: the same Poisson loss and batches through a conventional encoder (two 3x3
convolutions plus max-pooling per stage, upsampling decoder), trained from tensors already in
memory (no data loading at all). Our figure goes through the full `train()` loop, data loader
included. Prints medians over >= 3 runs; `torch.set_num_threads(2)`. A GPU row is added when
CUDA is available.

    python benchmarks/bench_train.py [--epochs 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from ptycho_nl import physics
from ptycho_nl.data.npz import load_npz
from ptycho_nl.models.pinn import poisson_deviance, predicted_rate
from ptycho_nl.simulate import PRESETS, simulate_dataset
from ptycho_nl.train import TrainConfig, train


class ConvPoolNet(nn.Module):
    """Baseline: two 3x3 convolutions + max-pool per stage, bilinear-upsampling decoder."""

    def __init__(self, widths=(32, 64, 128)):
        super().__init__()
        layers, c_in = [], 1
        for w in widths:
            layers += [
                nn.Conv2d(c_in, w, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(w, w, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            c_in = w
        self.encoder = nn.Sequential(*layers)
        dec = []
        for w in reversed(widths[:-1]):
            dec += [
                nn.Upsample(scale_factor=2),
                nn.Conv2d(c_in, w, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(w, w, 3, padding=1),
                nn.ReLU(),
            ]
            c_in = w
        dec += [nn.Upsample(scale_factor=2), nn.Conv2d(c_in, 2, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    def forward(self, x):
        out = self.decoder(self.encoder(x[:, None]))
        return torch.polar(torch.sigmoid(out[:, 0]) * 2, torch.pi * torch.tanh(out[:, 1]))


def baseline_samples_per_s(npz: Path, batch: int, steps: int, device: str) -> float:
    data = load_npz(npz)
    amp = torch.from_numpy(data.diffraction[: batch * steps].copy()).to(device)
    probe = torch.from_numpy(data.probe).to(device)
    s = float(data.intensity_scale)
    scale = float(amp.square().mean().sqrt())
    torch.manual_seed(0)
    net = ConvPoolNet().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    counts = physics.amplitude_to_counts(amp, s).float()

    def step(i):
        x, k = amp[i * batch : (i + 1) * batch], counts[i * batch : (i + 1) * batch]
        loss = poisson_deviance(predicted_rate(net(x / scale), probe, s), k)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(0)  # warm-up
    sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    sync(device)
    return batch * steps / (time.perf_counter() - t0)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def ours(
    npz: Path, epochs: int, batch: int, device: str, work: Path, k: int
) -> tuple[float, float]:
    """Median over epochs after the first (warm-up) of samples/s and data-wait share."""
    cfg = TrainConfig.model_validate(
        {"epochs": epochs, "batch_size": batch, "device": device, "checkpoint_every": 1000}
    )
    result = train(cfg, npz, work / f"run_{device}_{k}", progress=False)
    if result.status != "completed":
        raise SystemExit(f"benchmark run failed: {result.error}")
    later = result.epochs[1:] or result.epochs
    return (
        statistics.median(e["samples_per_s"] for e in later),
        statistics.median(e["data_wait_fraction"] for e in later),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(2)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        npz = simulate_dataset(PRESETS["small"], work / "small.npz")  # set-up, not timed
        print(
            f"preset small: N=64, {load_npz(npz).n_patterns} patterns, batch {args.batch}, "
            f"torch threads {torch.get_num_threads()}"
        )
        for device in devices:
            runs = [
                ours(npz, args.epochs, args.batch, device, work, k) for k in range(args.repeats)
            ]
            ours_sps = statistics.median(r[0] for r in runs)
            wait = statistics.median(r[1] for r in runs)
            base = statistics.median(
                baseline_samples_per_s(npz, args.batch, 8, device) for _ in range(args.repeats)
            )
            print(f"[{device}] pinn train(): {ours_sps:8.1f} samples/s (median of {args.repeats})")
            print(f"[{device}] baseline conv+pool, data in memory: {base:8.1f} samples/s")
            print(f"[{device}] ratio pinn / baseline: {ours_sps / base:5.2f}x")
            verdict = "ok" if wait < 0.10 else "DATA-BOUND"
            print(
                f"[{device}] share of step time waiting for data: {100 * wait:.1f}% "
                f"(target < 10%: {verdict})"
            )


if __name__ == "__main__":
    main()
