"""Judging reports: the expected calibration error against answers worked out by hand."""

import numpy as np
import pytest

from trainer.evaluation import classification_report, expected_calibration_error


def _rows(conf, n):
    return [[conf, 1 - conf]] * n


def test_ece_of_one_bin_is_its_gap_between_confidence_and_accuracy():
    # 10 rows at confidence 0.9, 8 of them right: |0.8 - 0.9| = 0.1
    assert expected_calibration_error(_rows(0.9, 10), [True] * 8 + [False] * 2) == pytest.approx(0.1)


def test_ece_weighs_each_bin_by_its_share_of_rows():
    # 4 rows at 0.6, all right (gap 0.4); 6 rows at 0.95, 3 right (gap 0.45):
    # 0.4 * 0.4 + 0.6 * 0.45 = 0.43
    proba = _rows(0.6, 4) + _rows(0.95, 6)
    correct = [True] * 4 + [True] * 3 + [False] * 3
    assert expected_calibration_error(proba, correct) == pytest.approx(0.43)


def test_ece_gaps_of_opposite_sign_in_different_bins_do_not_cancel():
    # 0.6 with all right (+0.4) and 0.95 with none right (-0.95): 0.5 * 0.4 + 0.5 * 0.95
    proba = _rows(0.6, 5) + _rows(0.95, 5)
    correct = [True] * 5 + [False] * 5
    assert expected_calibration_error(proba, correct) == pytest.approx(0.675)


def test_ece_bins_are_fifteen_equal_widths_closed_on_the_right():
    # 0.6 = 9/15 closes the 9th bin; 0.61 opens the 10th. In one bin the two would average
    # to confidence 0.605 against accuracy 0.5 (0.105); in two bins they cost 0.5 * (0.6 + 0.39).
    proba = [[0.6, 0.4], [0.61, 0.39]]
    assert expected_calibration_error(proba, [False, True]) == pytest.approx(0.5 * 0.6 + 0.5 * 0.39)
    # 0.59 and 0.6 share the 9th bin: |0.5 - 0.595|
    assert expected_calibration_error([[0.59, 0.41], [0.6, 0.4]], [False, True]) == pytest.approx(0.095)
    # with 2 bins instead, 0.6 and 0.61 share the upper one
    assert expected_calibration_error(proba, [False, True], bins=2) == pytest.approx(0.105)


def test_ece_takes_the_top_class_of_any_number_of_classes():
    proba = [[0.1, 0.7, 0.2], [0.2, 0.1, 0.7]]  # confidence 0.7 twice, one right
    assert expected_calibration_error(proba, [True, False]) == pytest.approx(0.2)


def test_certain_and_right_is_perfectly_calibrated():
    assert expected_calibration_error(_rows(1.0, 3), [True] * 3) == 0.0
    assert expected_calibration_error(np.empty((0, 2)), []) == 0.0


def test_classification_report_gives_ece_from_probabilities():
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    labels = ("a", "b")
    pred = np.array(labels, dtype=object)[proba.argmax(axis=1)]
    rep = classification_report(labels, ["a", "b", "b", "a"], pred, proba)
    assert rep["accuracy"] == 0.5
    # bins: 0.6 (wrong), 0.7 (right), 0.8 (wrong), 0.9 (right), one row each
    assert rep["ece"] == pytest.approx((0.6 + 0.3 + 0.8 + 0.1) / 4)
    assert "ece" not in classification_report(labels, ["a"], ["a"])
