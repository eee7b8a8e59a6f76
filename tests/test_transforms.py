import cv2
import numpy as np
import pytest

from lgmpose.data import transforms as T
from lgmpose.data.metainfo import load_metainfo


def test_box_to_center_scale_fixes_aspect_and_pads():
    center, scale = T.box_to_center_scale([10, 20, 30, 100], aspect_ratio=0.75)
    np.testing.assert_allclose(center, [25, 70])
    np.testing.assert_allclose(scale, [75 * 1.25, 100 * 1.25])
    center, scale = T.box_to_center_scale([[0, 0, 150, 100]], aspect_ratio=0.75, padding=1.0)
    np.testing.assert_allclose(scale, [[150, 200]])


@pytest.mark.parametrize("udp", [False, True])
@pytest.mark.parametrize("rot", [0.0, 30.0, -75.0])
def test_affine_round_trip_under_a_hundredth_of_a_pixel(udp, rot):
    rng = np.random.default_rng(1)
    points = rng.uniform(0, 600, size=(100, 2))
    center, scale = np.array([300.5, 210.2]), np.array([180.0, 240.0])
    forward = T.get_affine_transform(center, scale, rot, (256, 192), udp=udp)
    inverse = T.get_affine_transform(center, scale, rot, (256, 192), inv=True, udp=udp)
    back = T.transform_points(T.transform_points(points, forward), inverse)
    assert np.abs(back - points).max() < 0.01


def test_affine_maps_box_to_crop():
    center, scale = np.array([100.0, 50.0]), np.array([48.0, 64.0])
    m = T.get_affine_transform(center, scale, 0, (256, 192))
    np.testing.assert_allclose(T.transform_points([[100, 50], [76, 18]], m), [[96, 128], [0, 0]],
                               atol=1e-4)
    m = T.get_affine_transform(center, scale, 0, (256, 192), udp=True)
    np.testing.assert_allclose(T.transform_points([[100, 50], [76, 18], [124, 82]], m),
                               [[95.5, 127.5], [0, 0], [191, 255]], atol=1e-4)


def test_rotation_turns_content_counter_clockwise():
    m = T.get_affine_transform([0, 0], [100, 100], 90, (100, 100))
    # A point right of the centre ends up above it.
    x, y = T.transform_points([[10, 0]], m)[0]
    assert abs(x - 50) < 1e-4 and y < 50


def test_warp_affine_crops_the_right_pixels():
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 90:110] = 255
    m = T.get_affine_transform([100, 50], [40, 40], 0, (40, 40), udp=True)
    crop = T.warp_affine(image, m, (40, 40))
    assert crop.shape == (40, 40, 3)
    assert crop[20, 20].min() == 255 and crop[0, 0].max() == 0


def test_flip_twice_is_identity():
    meta = load_metainfo("coco")
    rng = np.random.default_rng(0)
    kps, vis = rng.uniform(0, 100, (17, 2)).astype(np.float32), rng.integers(0, 3, 17)
    once = T.flip_keypoints(kps, vis, meta.flip_indices, 120)
    twice = T.flip_keypoints(*once, meta.flip_indices, 120)
    np.testing.assert_allclose(twice[0], kps, atol=1e-4)
    np.testing.assert_array_equal(twice[1], vis)
    # left shoulder of the flipped person is the mirrored right shoulder
    np.testing.assert_allclose(once[0][5], [119 - kps[6, 0], kps[6, 1]])


def test_flip_matrix_mirrors_the_crop():
    rng = np.random.default_rng(0)
    # A smooth picture: OpenCV interpolates on a 1/32-pixel grid, so on pixel noise a mirrored
    # warp can differ by more than rounding; on real images it does not.
    noise = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(noise, (0, 0), 2.0)
    m = T.get_affine_transform([80, 60], [90, 120], 10, (64, 48))
    crop = T.warp_affine(image, m, (64, 48))
    flipped = T.warp_affine(image, T.flip_matrix(m, 48), (64, 48))
    assert np.abs(flipped[:, ::-1].astype(int) - crop.astype(int)).max() <= 1
    np.testing.assert_allclose(T.flip_matrix(T.flip_matrix(m, 48), 48), m)
    p = T.transform_points([[70, 50]], m)[0]
    q = T.transform_points([[70, 50]], T.flip_matrix(m, 48))[0]
    np.testing.assert_allclose(q, [47 - p[0], p[1]], atol=1e-4)


def test_half_body_picks_the_right_joints():
    meta = load_metainfo("coco")
    visible = np.ones(17)
    picks = {tuple(T.select_half_body(visible, meta.upper_body_ids, meta.lower_body_ids,
                                      np.random.default_rng(s))) for s in range(20)}
    assert picks == {tuple(range(11)), tuple(range(11, 17))}
    # legs hidden: always the upper body; too few joints: nothing
    visible[11:] = 0
    assert T.select_half_body(visible, meta.upper_body_ids, meta.lower_body_ids,
                              np.random.default_rng(3), min_total=8).tolist() == list(range(11))
    visible[:] = 0
    visible[:5] = 1
    assert T.select_half_body(visible, meta.upper_body_ids, meta.lower_body_ids,
                              np.random.default_rng(3)) is None
    kps = np.zeros((17, 2))
    kps[11:] = [[10, 100], [30, 100], [10, 140], [30, 140], [10, 180], [30, 180]]
    center, scale = T.half_body_center_scale(kps, range(11, 17), aspect_ratio=0.75)
    np.testing.assert_allclose(center, [20, 140])
    np.testing.assert_allclose(scale, [60 * 1.5, 80 * 1.5])


def test_random_draws_are_seeded_and_bounded():
    a = [T.random_scale_rotation(np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1]
    draws = np.array([T.random_scale_rotation(np.random.default_rng(s)) for s in range(300)])
    assert draws[:, 0].min() >= 0.65 and draws[:, 0].max() <= 1.35
    assert np.abs(draws[:, 1]).max() <= 90 and 0.3 < (draws[:, 1] == 0).mean() < 0.5


def test_normalize_image():
    crop = np.zeros((4, 3, 3), np.uint8)
    crop[..., 0] = 255  # blue
    out = T.normalize_image(crop)
    assert out.shape == (3, 4, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[2, 0, 0], (255 - 103.53) / 57.375, rtol=1e-5)
    np.testing.assert_allclose(out[0, 0, 0], -123.675 / 58.395, rtol=1e-5)


def _upright_person():
    """17 joints of a person standing in a 200 x 400 picture, head at the top."""
    ys = np.array([40, 35, 35, 38, 38, 80, 80, 150, 150, 210, 210, 220, 220, 300, 300, 380, 380])
    xs = np.array([100, 105, 95, 110, 90, 130, 70, 140, 60, 145, 55, 120, 80, 122, 78, 124, 76])
    return np.stack([xs, ys], 1).astype(np.float32)


def test_truncation_cuts_the_body_at_a_border_and_reframes_the_crop():
    keypoints, visible = _upright_person(), np.ones(17, np.float32)
    center, scale = T.box_to_center_scale([40, 20, 120, 370], 0.75)
    sides = set()
    for seed in range(60):
        rng = np.random.default_rng(seed)
        c, s, vis, cut = T.random_truncation(keypoints, visible, center, scale, 0.75, rng, 1.0)
        if cut is None:
            continue
        axis, value, keep_below = cut
        sides.add((axis, keep_below))
        beyond = keypoints[:, axis] > value if keep_below else keypoints[:, axis] < value
        assert beyond.any() and (vis[beyond] == 0).all() and (vis[~beyond] == 1).all()
        assert (vis > 0).sum() >= 4
        # the new crop frames what is left of the person's box: centred between the kept
        # edge and the cut, on the cut axis
        half_box = scale[axis] / 1.25 / 2
        kept_edge = center[axis] - half_box if keep_below else center[axis] + half_box
        assert c[axis] == pytest.approx((kept_edge + value) / 2, abs=1e-3)
        assert c[1 - axis] == pytest.approx(center[1 - axis], abs=1e-3)
        # the crop is black beyond the cut and untouched before it
        matrix = T.get_affine_transform(c, s, 0.0, (256, 192))
        crop = np.full((256, 192, 3), 200, np.uint8)
        blanked = T.blank_beyond_cut(crop, matrix, cut)
        inverse = cv2.invertAffineTransform(matrix)
        for (u, v) in [(10, 10), (96, 128), (180, 250), (5, 250), (180, 5)]:
            source = inverse[axis, 0] * u + inverse[axis, 1] * v + inverse[axis, 2]
            past = source > value if keep_below else source < value
            assert blanked[v, u, 0] == (0 if past else 200)
    assert (1, True) in sides and len(sides) >= 3        # bottom most often, the sides too
    # prob 0 draws nothing and changes nothing
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    out = T.random_truncation(keypoints, visible, center, scale, 0.75, rng, 0.0)
    assert out[3] is None and rng.bit_generator.state == state
    assert T.blank_beyond_cut(crop, matrix, None) is crop


def test_cut_occluder_is_a_square_around_a_visible_joint():
    image = np.zeros((500, 400, 3), np.uint8)       # room around the joint: nothing is clipped
    keypoints, visible = _upright_person(), np.zeros(17, np.float32)
    visible[9] = 1                                   # only the left wrist (145, 210)
    image[205:216, 140:151] = 255                    # a white mark on it
    for seed in range(20):
        patch = T.cut_occluder(image, keypoints, visible, [40, 20, 120, 370],
                               np.random.default_rng(seed))
        side = patch.shape[0]
        assert patch.shape[1] == side and 0.25 * 370 - 2 <= side <= 0.5 * 370 + 2
        # the joint's mark is in the middle of the patch
        ys, xs = np.nonzero(patch[..., 0])
        assert abs(ys.mean() - side / 2) < 2 and abs(xs.mean() - side / 2) < 2
    assert T.cut_occluder(image, keypoints, np.zeros(17), [40, 20, 120, 370],
                          np.random.default_rng(0)) is None
    # a joint at the picture's corner with a tiny box leaves too little to cut
    corner = np.zeros((17, 2), np.float32)
    assert T.cut_occluder(image, corner, np.ones(17), [0, 0, 4, 4], np.random.default_rng(0)) is None


def test_paste_occluder_covers_a_bounded_part_of_the_crop():
    crop = np.zeros((256, 192, 3), np.uint8)
    patch = np.full((30, 60, 3), 200, np.uint8)
    fractions = []
    for seed in range(40):
        out = T.paste_occluder(crop, patch, np.random.default_rng(seed), max_area=0.2)
        assert crop.max() == 0                        # the input is not modified
        covered = out[..., 0] > 0
        fractions.append(covered.mean())
        ys, xs = np.nonzero(covered)                  # one rectangle of the patch's aspect
        height, width = np.ptp(ys) + 1, np.ptp(xs) + 1
        assert covered.sum() == height * width
        assert width / height == pytest.approx(2.0, rel=0.1)
    assert 0.045 <= min(fractions) and max(fractions) <= 0.21
    assert max(fractions) - min(fractions) > 0.05     # the size is drawn, not fixed
    assert T.paste_occluder(crop, None, np.random.default_rng(0)) is crop
