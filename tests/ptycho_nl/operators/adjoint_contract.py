"""The adjoint identity every operator pair inherits: <A x, y> = <x, A^H y>."""

import torch

N, SHAPE = 32, (72, 72)  # frame side and object shape of `recon_scans.make_scan()`


def dot(a: torch.Tensor, b: torch.Tensor) -> complex:
    """<a, b> = sum conj(a) b in complex128."""
    return complex(torch.vdot(a.flatten().to(torch.complex128), b.flatten().to(torch.complex128)))


def random_complex(shape, seed: int, dtype=torch.complex64) -> torch.Tensor:
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


class AdjointContract:
    """Subclasses (named Test...) give `forward`, `adjoint`, `domain_shape`, `range_shape`."""

    rel = 1e-4
    domain_shape: tuple[int, ...]
    range_shape: tuple[int, ...]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def test_adjoint_identity(self):
        x = random_complex(self.domain_shape, 11)
        y = random_complex(self.range_shape, 12)
        ax, aty = self.forward(x), self.adjoint(y)
        assert tuple(ax.shape) == tuple(self.range_shape)
        assert tuple(aty.shape) == tuple(self.domain_shape)
        lhs, rhs = dot(ax, y), dot(x, aty)
        assert abs(lhs - rhs) <= self.rel * max(abs(lhs), abs(rhs))

    def test_linear(self):
        x1, x2 = random_complex(self.domain_shape, 13), random_complex(self.domain_shape, 14)
        a = 0.7 - 0.2j
        torch.testing.assert_close(
            self.forward(x1 + a * x2),
            self.forward(x1) + a * self.forward(x2),
            rtol=1e-4,
            atol=1e-4,
        )
