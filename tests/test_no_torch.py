"""The deployment path (`backend="onnxruntime"`) never imports torch: detector, crops, model,
decoding, tracking, drawing and `lgmpose predict`, run in a subprocess where torch cannot load."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import cv2

from inference_fakes import bright_spot_pose_model, moving_spot_video, spot_image
from lgmpose.detectors.factory import litert_available

GUARD = textwrap.dedent("""
    import sys, importlib.abc

    attempts = []

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch.") or name == "torchvision":
                import traceback
                attempts.append("".join(traceback.format_stack(limit=8)))
                raise ImportError(f"torch is blocked in this test ({name})")
            return None

    sys.meta_path.insert(0, NoTorch())
    for name in list(sys.modules):
        if name == "torch" or name.startswith("torch."):
            del sys.modules[name]
""")


def test_onnxruntime_pipeline_imports_no_torch(tmp_path):
    model = bright_spot_pose_model(tmp_path / "spot.onnx")
    image = tmp_path / "spot.png"
    cv2.imwrite(str(image), spot_image())
    video = moving_spot_video(tmp_path / "clip.avi", frames=6)
    detectors = ["whole_image", "motion", "nanodet"] + (["blazepose"] if litert_available()
                                                        else [])
    body = textwrap.dedent(f"""
        import numpy as np
        from lgmpose import PoseEstimator, VideoPipeline
        from lgmpose.inference.draw import draw_poses
        for detector in {detectors!r}:
            est = PoseEstimator({str(model)!r}, backend="onnxruntime", detector=detector)
            people = est({str(image)!r})
            draw_poses(np.zeros((240, 320, 3), np.uint8), people, est.metainfo)
            video = VideoPipeline(est, det_interval=2)
            for i in range(3):
                video(np.zeros((240, 320, 3), np.uint8), i / 30)
        from lgmpose.cli import main
        assert main(["predict", {str(image)!r}, "--weights", {str(model)!r}, "--out",
                     {str(tmp_path / "o1")!r}, "--detector", "whole_image"]) == 0
        assert main(["predict", {str(video)!r}, "--weights", {str(model)!r}, "--out",
                     {str(tmp_path / "o2")!r}, "--detector", "whole_image"]) == 0
        from lgmpose.inference.estimator import bundled_weights
        if bundled_weights().is_file():
            PoseEstimator(detector="whole_image")({str(image)!r})
        loaded = [m for m in sys.modules if m == "torch" or m.startswith("torch.")]
        if attempts or loaded:
            print("TORCH IMPORTED:", loaded, *attempts, sep="\\n")
            sys.exit(3)
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", GUARD + body], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")


# The core install has none of the `torch` extra: torch, onnx, pycocotools, scipy.
MISSING_EXTRA = textwrap.dedent("""
    import sys, importlib.abc

    class CoreInstall(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "onnx", "pycocotools", "scipy"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, CoreInstall())
    for name in list(sys.modules):
        if name.split(".")[0] in ("torch", "onnx", "pycocotools", "scipy"):
            del sys.modules[name]
""")


def test_commands_needing_the_torch_extra_say_how_to_install_it(tmp_path):
    from synthetic_coco import write_config, write_dataset

    data = write_dataset(tmp_path / "data", num_images=1, persons_per_image=1)
    config = write_config(tmp_path / "cfg.yaml", data)
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"never read")
    commands = {
        "complexity": ["complexity", "lgm_pose"],
        "export": ["export", "lgm_pose", "--random-weights", "-o", str(tmp_path / "m.onnx")],
        "export-ckpt": ["export", "--weights", str(ckpt), "-o", str(tmp_path / "m.onnx")],
        "train": ["train", str(config), "--work-dir", str(tmp_path / "run"), "--no-progress"],
        "eval": ["eval", str(config), "--weights", str(ckpt)],
        "codec-check": ["codec-check", "--ann", str(data / "annotations" / "val.json")],
    }
    body = textwrap.dedent(f"""
        import contextlib, io, json
        from lgmpose.cli import main
        report = {{}}
        for key, argv in {commands!r}.items():
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                try:
                    code = main(argv)
                except BaseException as error:  # a traceback in real life
                    code = f"raised {{type(error).__name__}}: {{error}}"
            report[key] = [code, err.getvalue()]
        print(json.dumps(report))
    """)
    proc = subprocess.run([sys.executable, "-c", MISSING_EXTRA + body], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for key, (code, err) in report.items():
        assert code == 2, (key, code, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (key, err)
        assert 'pip install "lgmpose[torch]"' in err, (key, err)
    assert "'pycocotools'" in report["codec-check"][1]
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "run").exists()
