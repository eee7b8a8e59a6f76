"""`predict` / `pseudo-label --engine ray`: the inputs and work plan, the sharded resumable output,
and (with Ray installed) the same answers as the one-process commands, on a local Ray of 2 CPUs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lgmpose.cli import main
from lgmpose.distributed_inference.inputs import list_inputs, plan_items
from lgmpose.distributed_inference.shards import ShardStore
from lgmpose.errors import LgmposeError
from lgmpose.video.predict import PredictOptions, run_predict
from test_layering import imports, modules

OBJECT_STORE = 100 * 1024 ** 2


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# -- without Ray --------------------------------------------------------------------------------
def test_ray_is_imported_only_by_this_package_and_only_inside_functions():
    users = {m: top for m in modules() for name, top in imports(m) if name == "ray"}
    assert "lgmpose.distributed_inference.ray_runner" in users
    assert all(m.startswith("lgmpose.distributed_inference.") for m in users)
    assert not any(users.values())


def test_sources_folder_recursive_glob_and_list(tmp_path):
    a = _touch(tmp_path / "pics/a.jpg")
    b = _touch(tmp_path / "pics/sub/b.png")
    _touch(tmp_path / "pics/notes.txt")
    v = _touch(tmp_path / "cams/c1.mp4")
    found = list_inputs([str(tmp_path / "pics")])
    assert [(f.name, f.kind) for f in found] == [("a.jpg", "image"), ("sub/b.png", "image")]
    assert [f.path for f in list_inputs([str(tmp_path / "pics/**/*.png")])] == [b]
    listing = tmp_path / "inputs.txt"
    listing.write_text(f"# my inputs\npics/a.jpg\n{v}\npics/a.jpg\n")
    found = list_inputs([str(listing)])                      # relative to the list; once each
    assert [(f.path.resolve(), f.kind) for f in found] == [(a.resolve(), "image"),
                                                          (v.resolve(), "video")]
    with pytest.raises(LgmposeError, match="no such file"):
        list_inputs([str(tmp_path / "nothing")])
    listing.write_text("notes.doc\n")
    with pytest.raises(LgmposeError, match="not a picture or a video"):
        list_inputs([str(listing)])


def test_plan_groups_pictures_chunks_videos_and_skips_done(tmp_path, shared_data):
    pics = [_touch(tmp_path / f"{i:012d}.jpg") for i in range(5)]
    inputs = list_inputs([str(tmp_path), str(shared_data / "media/vtest.avi")])
    items, keys = plan_items(inputs, done={str(pics[1].resolve())}, pictures_per_item=2,
                             chunk_frames=300)
    assert len(keys) == 5 + 3                                # 795 frames: 0, 300, 600
    groups = [[p["index"] for p in i["pictures"]] for i in items if i["kind"] == "pictures"]
    assert groups == [[0, 2], [3, 4]]                        # picture 1 is done
    chunks = [(i["start"], i["stop"]) for i in items if i["kind"] == "video"]
    assert chunks == [(0, 300), (300, 600), (600, None)]     # the last reads to the end
    items, keys = plan_items(inputs, set(), 8, 300, max_frames=3)
    assert [len(i["pictures"]) for i in items[:1]] == [3] and len(keys) == 3 + 1


def test_shards_are_the_truth_and_other_settings_are_refused(tmp_path):
    store = ShardStore(tmp_path / "out", "predict", {"kpt_thr": 0.3}, shard_units=2)
    for key in "abc":
        store.add(key, {"people": []})
    store.add("a", {"people": [1]})                          # a retried answer: dropped
    store.flush()
    assert len(store.shard_files()) == 2 and store.repeated == 1
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    assert manifest["done"] == 3 and [s["units"] for s in manifest["shards"]] == [2, 1]
    (tmp_path / "out/manifest.json").unlink()                # lost: the shards still say it all
    again = ShardStore(tmp_path / "out", "predict", {"kpt_thr": 0.3})
    assert set(again.done) == {"a", "b", "c"} and again.records()["a"] == {"people": []}
    with pytest.raises(LgmposeError, match="other settings.*kpt_thr"):
        ShardStore(tmp_path / "out", "predict", {"kpt_thr": 0.5})
    fresh = ShardStore(tmp_path / "out", "predict", {"kpt_thr": 0.5}, fresh=True)
    assert not fresh.done


def test_ray_options_need_the_ray_engine(capsys):
    assert main(["predict", "x.jpg", "--num-workers", "2"]) == 2
    assert "--num-workers: only applies with --engine ray" in capsys.readouterr().err


def test_without_ray_the_command_says_which_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)            # as if it were not installed
    picture = _touch(tmp_path / "pics/a.jpg")
    assert main(["predict", str(picture.parent), "--engine", "ray", "--out",
                 str(tmp_path / "out"), "--no-progress"]) == 2
    assert 'pip install "lgmpose[ray]"' in capsys.readouterr().err


# -- on a local Ray -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    from lgmpose.distributed_inference.ray_runner import start_local_ray

    start_local_ray(num_cpus=2, object_store_memory=OBJECT_STORE)
    yield ray
    ray.shutdown()


def _ray_predict(sources, out, workers=2, **kwargs):
    from lgmpose.distributed_inference.predict import predict_distributed
    from lgmpose.distributed_inference.ray_runner import RayOptions

    options = PredictOptions(out_dir=out, threads=1, max_frames=kwargs.pop("max_frames", None))
    return predict_distributed([str(s) for s in sources], options,
                               RayOptions(num_workers=workers, progress=False), **kwargs)


@pytest.fixture(scope="module")
def pictures(shared_data, tmp_path_factory):
    """Eight COCO pictures (in two folders) and an unreadable one."""
    root = tmp_path_factory.mktemp("pictures")
    for i, src in enumerate(sorted((shared_data / "coco-mini/val2017").glob("*.jpg"))[:8]):
        (root / ("a" if i < 4 else "b") / src.name).parent.mkdir(exist_ok=True)
        (root / ("a" if i < 4 else "b") / src.name).write_bytes(src.read_bytes())
    (root / "b" / "broken.jpg").write_bytes(b"not a jpeg")
    return root


def _one_process(folder: Path, out: Path) -> list[dict]:
    results = []
    for sub in sorted(folder.iterdir()):
        (out / sub.name).mkdir(parents=True)
        for picture in sorted(sub.glob("*.jpg")):
            if picture.name == "broken.jpg":
                continue
            report = run_predict(str(picture), PredictOptions(out_dir=out / sub.name, threads=1,
                                                              progress=False))
            for entry in report.results:
                results.append({**entry, "file_name": f"{sub.name}/{picture.name}"})
    return results


def test_pictures_same_answers_as_one_process_and_a_rerun_resumes(local_ray, pictures,
                                                                   tmp_path):
    report = _ray_predict([pictures], tmp_path / "ray", pictures_per_item=3, shard_units=3)
    assert report.processed == 9 and report.unreadable == 1
    expected = _one_process(pictures, tmp_path / "one")
    assert len(expected) >= 8
    # the same people, keypoints and scores, in the same order (COCO ids: the file names)
    assert report.results == expected
    assert json.loads((tmp_path / "ray/results.json").read_text()) == expected
    manifest = json.loads((tmp_path / "ray/manifest.json").read_text())
    assert manifest["complete"] and manifest["done"] == 9 and manifest["unreadable"] == 1
    again = _ray_predict([pictures], tmp_path / "ray", pictures_per_item=3)
    assert (again.processed, again.done_before, again.workers) == (0, 9, 0)
    assert again.results == expected
    lost = sorted((tmp_path / "ray/shards").glob("shard-*.jsonl"))[0]
    lost_keys = [json.loads(line)["key"] for line in lost.read_text().splitlines()]
    lost.unlink()                                            # as if the run had died before it
    redo = _ray_predict([pictures], tmp_path / "ray", pictures_per_item=3)
    assert (redo.processed, redo.done_before) == (len(lost_keys), 9 - len(lost_keys))
    assert redo.results == expected


def test_video_chunks_tracked_over_the_whole_video_as_in_one_process(local_ray, shared_data,
                                                                     tmp_path):
    video = shared_data / "media/vtest.avi"
    report = _ray_predict([video], tmp_path / "ray", chunk_frames=24, max_frames=72)
    assert report.units == 3
    one = run_predict(str(video), PredictOptions(out_dir=tmp_path / "one", threads=1,
                                                 max_frames=72, progress=False))
    assert report.results == one.results                     # track ids and smoothing included
    assert len({r["track_id"] for r in one.results}) >= 3


@pytest.mark.slow
def test_a_killed_worker_loses_nothing(local_ray, pictures, tmp_path):
    """An actor killed in the middle of the run is restarted and its work redone: every picture
    is answered exactly once, with the one-process answers."""
    from ray._private.state import actors   # the GCS's actor table (no dashboard needed)

    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(report=_ray_predict(
        [pictures], tmp_path / "ray", pictures_per_item=1, shard_units=1)))
    thread.start()
    victim = None
    for _ in range(600):
        alive = [a["Pid"] for a in actors().values()
                 if "PredictWorker" in a["ActorClassName"] and a["State"] == "ALIVE"]
        if len(alive) == 2 and list((tmp_path / "ray/shards").glob("shard-*.jsonl")):
            victim = alive[0]
            os.kill(victim, signal.SIGKILL)
            break
        time.sleep(0.05)
    thread.join(timeout=600)
    assert victim is not None, "no worker was running to be killed"
    report = outcome["report"]
    keys = [json.loads(line)["key"]
            for shard in (tmp_path / "ray/shards").glob("shard-*.jsonl")
            for line in shard.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 9                  # every picture once
    assert report.results == _one_process(pictures, tmp_path / "one")


def test_pseudo_label_on_ray_writes_the_one_process_file(local_ray, shared_data, tmp_path):
    pytest.importorskip("ai_edge_litert")
    teacher = shared_data / "peers/movenet_singlepose_lightning_int8.tflite"
    src = json.loads((shared_data / "coco-mini/annotations/person_keypoints_train2017.json")
                     .read_text())
    keep = sorted({a["image_id"] for a in src["annotations"] if a["num_keypoints"] >= 10})[:4]
    src["images"] = [im for im in src["images"] if im["id"] in keep]
    src["images"].append({"id": 999, "file_name": "missing.jpg", "width": 9, "height": 9})
    src["annotations"] = [a for a in src["annotations"] if a["image_id"] in keep]
    src["annotations"].append({**src["annotations"][0], "id": 999999, "image_id": 999})
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(src))
    common = ["pseudo-label", "--teacher", str(teacher), "--coco", str(ann), "--images",
              str(shared_data / "coco-mini/train2017"), "--no-progress", "--threads", "1"]
    assert main([*common, "--out", str(tmp_path / "one.json")]) == 0
    from lgmpose.distributed_inference import ray_runner

    assert main([*common, "--out", str(tmp_path / "ray.json"), "--engine", "ray",
                 "--num-workers", "2"]) == 0
    one, ray = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "ray"))
    assert ray == one and one["info"]["skipped_images"] == 1 and one["info"]["persons"] >= 4
    assert (tmp_path / "ray.json.ray/manifest.json").is_file()
