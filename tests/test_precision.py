"""Round-off errors are printed by their order of magnitude only, which a re-run on another machine keeps."""

import pytest

from gengen_lib.precision import round_off_bound


@pytest.mark.parametrize(("error", "shown"), [(1.8e-06, "1e-05"), (7e-16, "1e-15"), (1e-05, "1e-05"), (0.3, "1e+00"),
                                              (0.0, "0")])  # fmt: skip
def test_a_round_off_error_is_shown_as_the_power_of_ten_above_it(error, shown):
    assert round_off_bound(error) == shown


def test_noise_in_the_digits_of_a_round_off_error_does_not_change_the_text():
    assert round_off_bound(1.8e-06) == round_off_bound(1.8e-06 * (1 + 1e-3)) == round_off_bound(4.2e-06)


@pytest.mark.parametrize("bad", [-1e-7, float("nan"), float("inf")])
def test_a_negative_or_non_finite_error_is_refused_with_the_fix(bad):
    with pytest.raises(ValueError, match="fix: pass abs"):
        round_off_bound(bad)
