"""The deployment path (`backend="onnxruntime"`) never imports torch: detector, crops, model,
decoding, tracking, drawing and `lgmpose predict`, run in a subprocess where torch cannot load."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import cv2

from inference_fakes import bright_spot_pose_model, moving_spot_video, spot_image
from lgmpose.inference.detectors import litert_available

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
        from lgmpose import PoseEstimator
        from lgmpose.inference.draw import draw_poses
        for detector in {detectors!r}:
            est = PoseEstimator({str(model)!r}, backend="onnxruntime", detector=detector)
            people = est({str(image)!r})
            draw_poses(np.zeros((240, 320, 3), np.uint8), people, est.metainfo)
            est.configure_video(det_interval=2)
            for i in range(3):
                est.track(np.zeros((240, 320, 3), np.uint8), i / 30)
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
