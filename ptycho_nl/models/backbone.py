"""The shared encoder-decoder: diffraction amplitudes -> complex object patch.

Axis legend:  B  patterns in a batch   C  patterns per group (gridsize**2)   N  patch side

Stride-2 convolutions (32-64-128) and a transposed-convolution decoder, chosen because on CPU
it trains faster than stacked 3x3 convolutions with pooling (`benchmarks/bench_train.py`; see
docs/performance.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LossContext:
    """Per-dataset quantities a loss needs besides the batch.

    probe           : (N, N) complex64 illumination
    intensity_scale : s, so that counts k = (s A)^2 from stored amplitudes A
    overlap_weight  : weight of the gridsize > 1 overlap-consistency term (0 disables it)
    loss            : "poisson" (Poisson NLL on counts) or "amplitude_mae"
    mask            : (N, N) bool valid detector pixels, centred layout (None = all valid)
    background      : b in A^2 units, () or (N, N): the model intensity is |Psi|^2 + b
    """

    probe: torch.Tensor
    intensity_scale: float
    overlap_weight: float = 0.0
    loss: str = "poisson"
    mask: torch.Tensor | None = None
    background: torch.Tensor | float = 0.0


class PatchNet(nn.Module):
    """Encoder-decoder with an amplitude head and a phase head.

    Parameters
    ----------
    n : patch side N (multiple of 8)
    channels : encoder widths of the three stride-2 stages
    amp_max : the amplitude head is amp_max * sigmoid(.), bounded so the Poisson loss cannot
        chase unphysical transmissions
    input_scale : one global constant the input amplitudes are divided by (kept as a buffer so
        a reloaded model normalises its input itself; never per pattern, which would discard the
        transmission the Poisson loss depends on)
    global_features : width of a dense layer pair at the bottleneck, added to the encoder's
        features (0: none). Every object pixel depends on every diffraction pixel (a Fourier
        transform), while the three stride-2 stages see only a local window of the pattern;
        the dense pair gives each bottleneck feature the whole pattern (finding NET-003).
    input_transform : "linear" (A / input_scale) or "log1p" (log(1 + A / input_scale)): the
        log compresses the central peak against the speckle that carries the fine detail. Both
        are one fixed pointwise map, never per pattern, so the transmission stays in the input.
    """

    model_name = "patchnet"
    requires_ground_truth = False  # True: every batch must carry `patches` (the file's `Y`)

    def __init__(
        self,
        *,
        n: int = 64,
        channels: tuple[int, int, int] | list[int] = (32, 64, 128),
        amp_max: float = 2.0,
        input_scale: float = 1.0,
        global_features: int = 0,
        input_transform: str = "linear",
    ):
        super().__init__()
        if n % 8 != 0 or n < 8:
            raise ValueError(f"patch size n must be a positive multiple of 8, got {n}")
        if len(channels) != 3:
            raise ValueError(f"channels must list 3 encoder widths, got {list(channels)}")
        c1, c2, c3 = (int(c) for c in channels)
        self.patch_size = int(n)
        self.amp_max = float(amp_max)
        self.model_kwargs = {"n": int(n), "channels": [c1, c2, c3], "amp_max": float(amp_max)}
        if input_transform not in ("linear", "log1p"):
            raise ValueError(f"input_transform must be linear or log1p, got {input_transform!r}")
        self.input_transform = input_transform
        # Left out at their defaults, so bundles written before them rebuild unchanged.
        if global_features:
            self.model_kwargs["global_features"] = int(global_features)
        if input_transform != "linear":
            self.model_kwargs["input_transform"] = input_transform
        self.register_buffer("input_scale", torch.tensor(float(input_scale)))
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c2, c3, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
        )
        cells = c3 * (n // 8) ** 2
        self.mixer = (
            nn.Sequential(
                nn.Flatten(),
                nn.Linear(cells, int(global_features)),
                nn.ReLU(inplace=True),
                nn.Linear(int(global_features), cells),
                nn.Unflatten(1, (c3, n // 8, n // 8)),
            )
            if global_features
            else None
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(c3, c2, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
        )
        self.amplitude_head = nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1)
        self.phase_head = nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1)
        # Channels-last convolution weights: oneDNN's small convolutions on CPU run 10-20% faster
        # forward and backward (benchmarks/bench_train_step.py; docs/performance.md, "Hybrid
        # warm starts and the demo's time"), with outputs equal to float32 rounding.
        self.to(memory_format=torch.channels_last)

    def set_input_scale(self, value: float) -> None:
        """Fix the global input normalisation (computed once from the training data)."""
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"input scale must be a positive finite number, got {value}")
        self.input_scale.fill_(float(value))

    def forward(self, diffraction: torch.Tensor) -> torch.Tensor:
        """diffraction : (B, N, N) float32 amplitudes -> object patches (B, N, N) complex64."""
        if diffraction.dim() != 3 or diffraction.shape[-1] != self.patch_size:
            raise ValueError(
                f"expected diffraction of shape (B, {self.patch_size}, {self.patch_size}), "
                f"found {tuple(diffraction.shape)}"
            )
        x = (diffraction / self.input_scale).unsqueeze(1)  # (B, 1, N, N)
        if self.input_transform == "log1p":
            x = torch.log1p(x)
        encoded = self.encoder(x)  # (B, c3, N/8, N/8)
        if self.mixer is not None:
            encoded = torch.relu(encoded + self.mixer(encoded))
        features = self.decoder(encoded)  # (B, c1, N/2, N/2)
        amplitude = self.amp_max * torch.sigmoid(self.amplitude_head(features)[:, 0])
        phase = math.pi * torch.tanh(self.phase_head(features)[:, 0])
        return torch.polar(amplitude.float(), phase.float())  # (B, N, N) complex64

    def predict_groups(
        self, diffraction: torch.Tensor, index: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, C, N, N) amplitudes -> (B, C, N, N) complex patches (each pattern independently).

        index : (B, C) int64 pattern numbers (the batch's `index`), or None. A pattern that
        appears in several groups of the batch is then predicted once: the network has no
        batch statistics, so the result and its gradients are those of predicting every copy.
        """
        b, c, n, _ = diffraction.shape
        flat = diffraction.reshape(b * c, n, n)
        if index is None:
            return self(flat).reshape(b, c, n, n)
        unique, inverse = torch.unique(index.reshape(-1), return_inverse=True)
        if len(unique) == b * c:
            return self(flat).reshape(b, c, n, n)
        rows = torch.arange(b * c, device=inverse.device)
        first = torch.full((len(unique),), b * c, dtype=rows.dtype, device=rows.device)
        first = first.scatter_reduce(0, inverse, rows, reduce="amin")
        return self(flat[first])[inverse].reshape(b, c, n, n)

    def training_loss(
        self, batch: dict[str, torch.Tensor], context: LossContext
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Scalar loss for a batch of groups plus its named parts (subclasses define it)."""
        raise NotImplementedError
