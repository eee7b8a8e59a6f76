"""The teacher's own heatmaps, kept beside a label file as soft training targets.

MoveNet computes one heatmap per keypoint before it picks a single point for each: in the ONNX
graph converted from its TF.js release the tensor ``StatefulPartitionedCall/Sigmoid:0``, shape
``[1, 17, S/4, S/4]`` (64x64 for Thunder's 256x256 input), cell ``(u, v)`` at crop pixel
``(4u, 4v)``. A hard pseudo-label keeps the point and its score; the heatmap also keeps where else
the teacher thought the keypoint might be, and how spread out its belief was (a keypoint outside
the picture gets a faint, diffuse map).

:func:`write_teacher_heatmaps` runs the teacher on every person of a label file, on the square crop
around the person's stored box, and writes a folder:

* ``heatmaps.npy``: ``uint8 [N, 17, 64, 64]``, the sigmoid maps times 255 (memory-mapped on read);
* ``index.npz``: ``ann_id [N]`` and ``matrix [N, 2, 3]``, the affine map from image pixels to
  heatmap cells, so that the training pipeline can resample each map into its own crop.

:class:`lgmpose.data.soft_targets.TeacherHeatmaps` reads such a folder. About 70 kB per person.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from lgmpose.errors import LgmposeError

__all__ = ["HEATMAP_TENSOR", "HeatmapTeacher", "write_teacher_heatmaps"]

HEATMAP_TENSOR = "StatefulPartitionedCall/Sigmoid:0"
TEACHER_STRIDE = 4


class HeatmapTeacher:
    """``HeatmapTeacher(onnx_path)(image_bgr, box_xywh) -> (heatmaps uint8 [17, s, s],
    matrix [2, 3] image pixels -> heatmap cells)``: MoveNet's heatmaps on its square crop."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        import onnx
        import onnxruntime as ort

        from lgmpose.runtimes.onnx_runtime import providers_for, session_options

        self.path = Path(path)
        if self.path.suffix.lower() != ".onnx" or not self.path.is_file():
            raise LgmposeError(f"teacher '{self.path}': an existing .onnx MoveNet file is needed "
                               "(the heatmaps are read from inside its graph)")
        try:
            model = onnx.load(str(self.path))
        except Exception as error:  # onnx raises several types for a bad file
            raise LgmposeError(f"teacher '{self.path}': cannot read it ({error})") from None
        produced = {name for node in model.graph.node for name in node.output}
        if HEATMAP_TENSOR not in produced:
            raise LgmposeError(f"teacher '{self.path}': no tensor {HEATMAP_TENSOR!r}; expected "
                               "MoveNet SinglePose converted by `lgmpose convert-tfjs`")
        model.graph.output.append(onnx.helper.make_tensor_value_info(
            HEATMAP_TENSOR, onnx.TensorProto.FLOAT, None))
        self.session = ort.InferenceSession(model.SerializeToString(),
                                            sess_options=session_options(threads),
                                            providers=providers_for("cpu"))
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.size = int(inp.shape[1])
        self.dtype = np.int32 if "int32" in inp.type else np.uint8 if "uint8" in inp.type \
            else np.float32

    def __call__(self, image: np.ndarray, box_xywh) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        from lgmpose.data.crops import crop_image
        from lgmpose.inference.movenet import square_crop_matrix

        matrix = square_crop_matrix(box_xywh, self.size)
        crop = crop_image(image, matrix, (self.size, self.size))
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)[None].astype(self.dtype)
        heatmaps = self.session.run([HEATMAP_TENSOR], {self.input_name: rgb})[0][0]
        quantised = np.clip(np.rint(heatmaps * 255.0), 0, 255).astype(np.uint8)
        return quantised, (matrix / TEACHER_STRIDE).astype(np.float32)


def _people(labels_file: str | os.PathLike,
            img_dir: str | os.PathLike) -> list[tuple[Path, list[tuple[int, list[float]]]]]:
    """[(picture, [(ann_id, box), ...]), ...] of a COCO label file, in image-id order."""
    from lgmpose.data.coco import load_coco_json

    data = load_coco_json(labels_file)
    try:
        names = {int(im["id"]): im["file_name"] for im in data["images"]}
        by_image: dict[int, list[tuple[int, list[float]]]] = {}
        for ann in data["annotations"]:
            by_image.setdefault(int(ann["image_id"]), []).append(
                (int(ann["id"]), [float(v) for v in ann["bbox"]]))
        return [(Path(img_dir) / names[i], by_image[i]) for i in sorted(by_image)]
    except (KeyError, TypeError, ValueError) as error:
        raise LgmposeError(f"label file '{labels_file}': cannot read it ({error})") from None


def write_teacher_heatmaps(labels_file: str | os.PathLike, img_dir: str | os.PathLike,
                           teacher: HeatmapTeacher, out_dir: str | os.PathLike,
                           progress: bool = True) -> dict[str, int]:
    """Write ``out_dir`` (see the module docstring) for every person of ``labels_file``; pictures
    that cannot be read are skipped and counted. The folder appears complete or not at all."""
    from lgmpose.data.image_io import read_image

    pictures = _people(labels_file, img_dir)
    total = sum(len(people) for _, people in pictures)
    out = Path(out_dir)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    side = teacher.size // TEACHER_STRIDE
    maps = np.lib.format.open_memmap(staging / "heatmaps.npy", mode="w+", dtype=np.uint8,
                                     shape=(total, 17, side, side))
    ann_ids = np.zeros(total, np.int64)
    matrices = np.zeros((total, 2, 3), np.float32)
    row, skipped = 0, []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="teacher heatmaps", unit="person", dynamic_ncols=True)
    for picture, people in pictures:
        try:
            image = read_image(picture)
        except LgmposeError as error:
            skipped.append(str(error))
            continue
        for ann_id, box in people:
            maps[row], matrices[row] = teacher(image, box)
            ann_ids[row] = ann_id
            row += 1
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    maps.flush()
    del maps
    if row < total:    # rows of skipped pictures: cut the file to the rows written
        full = np.load(staging / "heatmaps.npy", mmap_mode="r")
        np.save(staging / "heatmaps_cut.npy", full[:row])
        del full
        os.replace(staging / "heatmaps_cut.npy", staging / "heatmaps.npy")
    np.savez(staging / "index.npz", ann_id=ann_ids[:row], matrix=matrices[:row])
    (staging / "source.json").write_text(json.dumps(
        {"labels": os.fspath(labels_file), "teacher": teacher.path.name, "people": row,
         "skipped_pictures": len(skipped)}))
    if out.exists():
        shutil.rmtree(out)
    os.replace(staging, out)
    return {"people": row, "skipped_pictures": len(skipped)}
