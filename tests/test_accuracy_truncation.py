"""`lgmpose accuracy --truncate`: people cut off by a picture border, made from whole ones."""
from __future__ import annotations

import numpy as np
import pytest

from lgmpose.evaluation.truncation import blank_beyond, truncate_people, truncate_person


def _standing_person(labelled: int = 17) -> dict:
    """A person standing upright: head at the top of the box, ankles at its bottom."""
    ys = np.linspace(110, 290, 17)
    k = np.stack([np.full(17, 150.0) + np.arange(17) % 3, ys, np.full(17, 2.0)], 1)
    k[labelled:] = 0
    return {"id": 7, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [120, 100, 60, 200],
            "area": 6000.0, "num_keypoints": labelled, "keypoints": k.ravel().tolist()}


def test_a_cut_person_loses_what_lies_beyond_the_line():
    person = _standing_person()
    cut_once = [truncate_person(person, np.random.default_rng(seed)) for seed in range(40)]
    sides = set()
    for cut_person, cut in cut_once:
        assert cut is not None
        axis, value, keep_below = cut
        sides.add((axis, keep_below))
        before = np.asarray(person["keypoints"]).reshape(17, 3)
        after = np.asarray(cut_person["keypoints"]).reshape(17, 3)
        inside = before[:, axis] <= value if keep_below else before[:, axis] >= value
        # what is left keeps its place; what is beyond is no longer labelled
        np.testing.assert_allclose(after[inside], before[inside], atol=0.01)
        assert (after[~inside] == 0).all() and cut_person["num_keypoints"] == inside.sum() >= 4
        x, y, w, h = cut_person["bbox"]
        box = np.array([x, y, x + w, y + h])
        assert (box[:2] >= [120, 100]).all() and (box[2:] <= [180.01, 300.01]).all()
        assert (box[2 + axis] == pytest.approx(value, abs=0.01) if keep_below
                else box[axis] == pytest.approx(value, abs=0.01))
        assert cut_person["area"] == pytest.approx(6000.0 * w * h / (60 * 200), rel=1e-3)
    assert (1, True) in sides and len(sides) >= 3   # the bottom, and other borders too
    assert person["num_keypoints"] == 17            # the original is not touched
    again = truncate_person(person, np.random.default_rng(3))
    assert again == cut_once[3]
    # with five labelled keypoints no cut leaves four and a margin: the person stays whole
    few = _standing_person(labelled=5)
    assert truncate_person(few, np.random.default_rng(0)) == (few, None)


def test_truncate_people_is_repeatable_per_position():
    people = [_standing_person(), _standing_person(), _standing_person(labelled=3)]
    first, cuts = truncate_people(people, seed=5)
    second, cuts_again = truncate_people(people, seed=5)
    assert first == second and cuts == cuts_again
    assert cuts[0] != cuts[1]                        # each person has their own stream
    assert cuts[2] is None and first[2] is people[2]
    assert truncate_people(people, seed=6)[1][:2] != cuts[:2]


def test_blank_beyond_blacks_the_pixels_past_the_line():
    image = np.full((6, 8, 3), 200, np.uint8)
    below = blank_beyond(image, (1, 2.5, True))      # rows 0-2 kept (centres <= 2.5)
    assert (below[:3] == 200).all() and (below[3:] == 0).all()
    right = blank_beyond(image, (0, 3.0, False))     # columns >= 3 kept
    assert (right[:, :3] == 0).all() and (right[:, 3:] == 200).all()
    assert (image == 200).all()                      # a copy; the original stays
    assert blank_beyond(image, None) is image
    assert (blank_beyond(image, (1, -4.0, True)) == 0).all()


def test_cut_away_scores_compare_the_keypoints_a_cut_removed_with_those_left():
    from lgmpose.evaluation.compare import _cut_away_scores

    full = {"keypoints": [10, 10, 2] * 17}
    cut = {"keypoints": [10, 10, 2] * 11 + [0, 0, 0] * 6}       # the legs are beyond the border
    untouched = {"keypoints": [10, 10, 2] * 17}
    scores = np.full((2, 17), 0.8, np.float32)
    scores[0, 11:] = [0.1, 0.2, 0.5, 0.05, 0.05, 0.1]
    got = _cut_away_scores(scores, [full, untouched], [cut, untouched], np.array([0, 1]))
    assert got["cut_score"] == pytest.approx(np.mean([0.1, 0.2, 0.5, 0.05, 0.05, 0.1]), abs=1e-4)
    assert got["cut_drawn"] == pytest.approx(1 / 6, abs=1e-4)     # only 0.5 reaches KPT_THR
    assert got["kept_score"] == pytest.approx(0.8, abs=1e-4)
    assert _cut_away_scores(scores[1:], [untouched], [untouched], np.array([0])) == {}
