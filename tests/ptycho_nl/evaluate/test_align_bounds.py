"""Registration is bounded: the scan positions are known, so only small shifts are plausible.

Seen in the study: a weak network reconstruction was 'registered' by -54 px (a circular wrap),
which put its worst rows into the scored region and made every metric meaningless.
"""

import numpy as np

from ptycho_nl.evaluate.align import align_to_truth, register_shift, shift_image


def _smooth_complex(shape, seed):
    rng = np.random.default_rng(seed)
    ky, kx = np.fft.fftfreq(shape[0])[:, None], np.fft.fftfreq(shape[1])[None, :]
    lowpass = np.exp(-((ky**2 + kx**2) * 400))
    field = np.fft.ifft2(np.fft.fft2(rng.standard_normal(shape)) * lowpass).real
    field = (field - field.min()) / np.ptp(field)
    return (0.5 + 0.5 * field) * np.exp(1j * (field - 0.5))


def test_unrelated_image_is_not_shifted_beyond_the_bound():
    truth = _smooth_complex((96, 64), seed=0)
    unrelated = _smooth_complex((96, 64), seed=1)
    for seed in range(5):
        unrelated = _smooth_complex((96, 64), seed=seed + 1)
        shift = align_to_truth(unrelated, truth, max_shift=4.0).shift
        assert max(abs(shift[0]), abs(shift[1])) <= 4.0, shift


def test_a_small_true_shift_is_still_recovered_to_a_tenth_of_a_pixel():
    truth = _smooth_complex((96, 64), seed=3)
    moved = shift_image(truth, (2.3, -1.7))
    shift = register_shift(truth, moved, max_shift=4.0)
    assert abs(shift[0] + 2.3) < 0.1 and abs(shift[1] - 1.7) < 0.1
    aligned = align_to_truth(moved, truth, max_shift=4.0)
    assert abs(aligned.shift[0] + 2.3) < 0.1 and abs(aligned.shift[1] - 1.7) < 0.1


def test_a_featureless_image_is_not_shifted_and_raises_no_warning():
    """The constant object's phase is all zeros: no shift to find, none reported, no warning
    (skimage warns that the image is empty). A pure phase object, of constant modulus, still
    registers."""
    import warnings

    truth = _smooth_complex((64, 64), seed=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bounded = register_shift(np.angle(truth), np.zeros((64, 64)), max_shift=4.0)
        unbounded = register_shift(np.angle(truth), np.zeros((64, 64)))
    assert [str(w.message) for w in caught] == []
    assert bounded == (0.0, 0.0) and unbounded == (0.0, 0.0)
    phase_only = np.exp(1j * np.angle(truth))
    moved = shift_image(phase_only, (1.5, -2.0))
    shift = register_shift(phase_only, moved, max_shift=4.0)
    assert abs(shift[0] + 1.5) < 0.1 and abs(shift[1] - 2.0) < 0.1, shift
