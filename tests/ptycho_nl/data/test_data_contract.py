"""Contract validation: one clear message per problem; legacy input converted with a warning."""

import json

import numpy as np
import pytest

from ptycho_nl.data.contract import normalise_legacy, validate_arrays

SRC = "data.npz"


def test_simulated_file_is_valid(tiny_arrays):
    assert validate_arrays(tiny_arrays, SRC) == []


def test_length_mismatch_message_names_file_key_expected_found_and_section(tiny_arrays):
    n = tiny_arrays["diffraction"].shape[0]
    tiny_arrays["xcoords"] = tiny_arrays["xcoords"][:-1]
    assert validate_arrays(tiny_arrays, SRC) == [
        f"{SRC}: key 'xcoords': expected shape (n,) float64 with n = {n} (diffraction), "
        f"found ({n - 1},) float64 [specs/data_contracts.md §2]"
    ]


def test_every_problem_is_reported_at_once(tiny_arrays):
    del tiny_arrays["probeGuess"]
    tiny_arrays["ycoords"] = tiny_arrays["ycoords"].astype(np.float32)
    tiny_arrays["Y"] = tiny_arrays["Y"][0]  # wrong rank
    problems = validate_arrays(tiny_arrays, SRC)
    assert len(problems) == 3, problems
    assert any("key 'probeGuess'" in p and "found missing" in p for p in problems)
    assert any("key 'ycoords'" in p and "float32" in p for p in problems)
    assert any("key 'Y'" in p and "(n, N, N)" in p for p in problems)
    assert all(p.startswith(f"{SRC}: ") and "[specs/data_contracts.md §" in p for p in problems)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_rejected(tiny_arrays, bad):
    tiny_arrays["diffraction"][3, 4, 5] = bad
    (problem,) = validate_arrays(tiny_arrays, SRC)
    assert "key 'diffraction': expected finite values, found 1 NaN/Inf" in problem
    assert problem.endswith("[specs/data_contracts.md §3]")


def test_non_finite_coordinates_rejected(tiny_arrays):
    tiny_arrays["xcoords"][0] = np.nan
    problems = validate_arrays(tiny_arrays, SRC)
    assert any("key 'xcoords': expected finite values" in p for p in problems)


def test_negative_amplitudes_rejected(tiny_arrays):
    tiny_arrays["diffraction"][0, 0, :3] = -0.5
    (problem,) = validate_arrays(tiny_arrays, SRC)
    assert "expected amplitudes >= 0, found 3 negative values" in problem


def test_non_square_patterns_and_wrong_rank_rejected(tiny_arrays):
    d = tiny_arrays["diffraction"]
    bad = dict(tiny_arrays, diffraction=d[:, :, :-1])
    assert any("expected square patterns" in p for p in validate_arrays(bad, SRC))
    flat = dict(tiny_arrays, diffraction=d.reshape(d.shape[0], -1))
    assert any(
        "key 'diffraction': expected shape (n, N, N) float32, found" in p
        for p in validate_arrays(flat, SRC)
    )


def test_probe_size_must_match_patterns(tiny_arrays):
    tiny_arrays["probeGuess"] = np.ones((16, 16), np.complex64)
    (problem,) = validate_arrays(tiny_arrays, SRC)
    assert "key 'probeGuess': expected shape (N, N) complex64 with N = 32" in problem
    assert "found (16, 16) complex64" in problem


def test_patch_outside_object_rejected(tiny_arrays):
    tiny_arrays["xcoords"][5] = tiny_arrays["objectGuess"].shape[1] - 2.0
    (problem,) = validate_arrays(tiny_arrays, SRC)
    assert "expected every 32x32 patch inside" in problem and "pattern 5" in problem


def test_bad_scalars_and_metadata_rejected(tiny_arrays):
    tiny_arrays["dose"] = np.float64(-1.0)
    tiny_arrays["metadata"] = np.array("[1, 2]")
    problems = validate_arrays(tiny_arrays, SRC)
    assert any("key 'dose': expected a positive scalar, found -1" in p for p in problems)
    assert any(
        "key 'metadata': expected a JSON object string, found JSON list" in p for p in problems
    )


def test_y_requires_object(tiny_arrays):
    del tiny_arrays["objectGuess"]
    (problem,) = validate_arrays(tiny_arrays, SRC)
    assert "key 'objectGuess': expected with 'Y'" in problem


def test_legacy_diff3d_counts_converted_exactly(tiny_arrays):
    scale = float(tiny_arrays["intensity_scale"])
    counts = np.round((tiny_arrays["diffraction"].astype(np.float64) * scale) ** 2)
    legacy = {k: v for k, v in tiny_arrays.items() if k != "diffraction"}
    legacy["diff3d"] = counts.astype(np.int32)
    arrays, warnings = normalise_legacy(legacy, SRC)
    assert validate_arrays(arrays, SRC) == []
    assert "diff3d" not in arrays and len(warnings) == 2
    assert "legacy alias" in warnings[0] and "counts converted" in warnings[1]
    recovered = (arrays["diffraction"].astype(np.float64) * scale) ** 2
    np.testing.assert_allclose(recovered, counts, rtol=1e-5, atol=1e-3)


def test_intensity_declared_in_metadata_converted_to_amplitude(tiny_arrays):
    amplitude = tiny_arrays["diffraction"]
    tiny_arrays["diffraction"] = (amplitude.astype(np.float64) ** 2).astype(np.float32)
    meta = json.loads(str(tiny_arrays["metadata"]))
    tiny_arrays["metadata"] = np.array(json.dumps({**meta, "diffraction_kind": "intensity"}))
    arrays, warnings = normalise_legacy(tiny_arrays, SRC)
    assert any("intensity converted" in w for w in warnings)
    np.testing.assert_allclose(arrays["diffraction"], amplitude, rtol=1e-6, atol=1e-6)
    assert json.loads(str(arrays["metadata"]))["diffraction_kind"] == "amplitude"
    assert normalise_legacy(arrays, SRC)[1] == []  # converting twice is impossible


def test_legacy_with_nan_is_not_converted_but_reported(tiny_arrays):
    counts = np.zeros(tiny_arrays["diffraction"].shape)
    counts[0, 0, 0] = np.nan
    legacy = {k: v for k, v in tiny_arrays.items() if k != "diffraction"}
    legacy["diff3d"] = counts
    arrays, _ = normalise_legacy(legacy, SRC)
    problems = validate_arrays(arrays, SRC)
    assert any("key 'diffraction'" in p and "float64" in p for p in problems)


def test_unnormalised_legacy_key_is_a_problem(tiny_arrays):
    tiny_arrays["diff3d"] = tiny_arrays.pop("diffraction")
    problems = validate_arrays(tiny_arrays, SRC)
    assert any("key 'diff3d'" in p and "§4" in p for p in problems)
