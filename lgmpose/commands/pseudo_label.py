"""`lgmpose pseudo-label`: a teacher pose model fills the keypoints a dataset lacks."""
from __future__ import annotations

import argparse
import json

from lgmpose.commands._ray_options import add_engine_options, ray_options
from lgmpose.defaults import KPT_THR, LABEL_DET_THR
from lgmpose.utils.cli_options import fraction, positive_int, score

HELP = "label people with a teacher pose model (MoveNet .onnx/.tflite), keeping ground truth"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", metavar="MODEL",
                        help="COCO-17 MoveNet single-pose model: an .onnx built by "
                             "`lgmpose convert-tfjs` (Thunder recommended) or a .tflite")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--coco", metavar="ANN", help="COCO keypoint json: GT boxes and keypoints")
    source.add_argument("--lsp", metavar="MAT", help="LSP/LSPET joints.mat (12 COCO joints each)")
    source.add_argument("--mpii", metavar="ANN", help="MPII person records "
                        "(mpii_annotations.json[.gz]; 12 COCO joints each) of the pictures in "
                        "--images")
    source.add_argument("--folder", action="store_true",
                        help="label every picture in --images (boxes from --detector)")
    source.add_argument("--video", metavar="FILE",
                        help="label every --every-th frame of a video (boxes from --detector); "
                             "the frames are written to --images as JPEG, to train on")
    source.add_argument("--others-of", metavar="LABELS",
                        help="label the people a COCO keypoint file (plain or .gz) does not hold "
                             "yet in its own pictures (boxes from --detector; detections "
                             "overlapping a labelled person are skipped)")
    source.add_argument("--boxes-of", metavar="BOXES",
                        help="label the people boxed in a COCO file (plain or .gz; boxes are "
                             "enough) in --images, and the people --detector finds besides them "
                             "(--detector none: the boxes only)")
    source.add_argument("--heatmaps-of", metavar="LABELS",
                        help="write the teacher's own heatmaps of every person of a label file "
                             "(plain or .gz) to the folder --out, as soft training targets "
                             "(a source's teacher_heatmaps); needs an .onnx teacher")
    source.add_argument("--remerge", metavar="LABELS",
                        help="apply the current merge rules to a label file this command wrote "
                             "earlier (plain or .gz), from the ground truth and teacher answers "
                             "it stores; needs neither --teacher nor --images")
    parser.add_argument("--images", metavar="DIR",
                        help="folder of the pictures (--video: where its frames are written)")
    parser.add_argument("--out", required=True, metavar="JSON",
                        help="output COCO keypoint file (--heatmaps-of: output folder)")
    parser.add_argument("--split", choices=["train", "val"], help="LSP, MPII: only this split")
    parser.add_argument("--every", type=int, default=1,
                        help="--video: label every N-th frame (default: %(default)s)")
    parser.epilog = ("On detector boxes, a teacher-only label with under 80% of its keypoints on "
                     "its box (grown 10% per side) is about a neighbour and is dropped.")
    parser.add_argument("--detector", default=None,
                        help="--folder/--video/--others-of/--boxes-of: person detector name or "
                             "file, or whole_image (default: whole_image for --folder, auto "
                             "otherwise); with --boxes-of, none labels the file's boxes only")
    parser.add_argument("--det-thr", type=score, default=LABEL_DET_THR,
                        help="detector score threshold (default: %(default)s)")
    parser.add_argument("--min-height", type=fraction, default=0.2,
                        help="smallest detected box height, as a fraction of the picture's "
                             "(default: %(default)s)")
    parser.add_argument("--kpt-thr", type=score, default=KPT_THR,
                        help="teacher keypoints scoring below this get weight 0 "
                             "(default: %(default)s)")
    parser.add_argument("--min-keypoints", type=int, default=6,
                        help="drop people with fewer labelled keypoints (default: %(default)s)")
    parser.add_argument("--fix-pairs", action="store_true",
                        help="also give single left/right pairs that cross a confident teacher "
                             "(both joints >= 0.4) the teacher's assignment; for crowd-sourced "
                             "labels such as LSPET's")
    parser.add_argument("--box-rescale", type=float, nargs=3, metavar=("W", "H", "DOWN"),
                        help="--remerge: redraw every box at W x its width and H x its height, "
                             "its centre moved down by DOWN x its height (LSP boxes to COCO's "
                             "convention: 0.945 0.908 0.039)")
    parser.add_argument("--threads", type=positive_int, default=None, help="teacher threads")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--no-progress", action="store_true")
    add_engine_options(parser)


def run(args: argparse.Namespace) -> int:
    from lgmpose.errors import LgmposeError

    ray = ray_options(args, progress=not args.no_progress)
    if ray is not None and (args.remerge or args.heatmaps_of):
        raise LgmposeError("--engine ray: labels pictures; --remerge and --heatmaps-of run here")
    if args.remerge:
        from lgmpose.labels.pseudo_label import remerge

        try:
            summary = remerge(args.remerge, args.out, kpt_thr=args.kpt_thr,
                              min_keypoints=args.min_keypoints, fix_pairs=args.fix_pairs,
                              box_rescale=args.box_rescale)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
            # A damaged or hand-edited label file: one line naming it (found by fuzzing).
            raise LgmposeError(f"--remerge '{args.remerge}': malformed label file "
                               f"({type(error).__name__}: {str(error)[:120]})") from None
        print(json.dumps({"out": args.out, **summary}, indent=1))
        return 0
    if args.heatmaps_of:
        if not args.teacher or not args.images:
            raise LgmposeError("pseudo-label --heatmaps-of: --teacher and --images are needed")
        from lgmpose.labels.teacher_heatmaps import HeatmapTeacher, write_teacher_heatmaps

        summary = write_teacher_heatmaps(args.heatmaps_of, args.images,
                                         HeatmapTeacher(args.teacher, threads=args.threads),
                                         args.out, progress=not args.no_progress)
        print(json.dumps({"out": args.out, **summary}, indent=1))
        return 0
    if args.box_rescale:
        raise LgmposeError("pseudo-label: --box-rescale only applies with --remerge")
    if not args.teacher or not args.images:
        raise LgmposeError("pseudo-label: --teacher and --images are needed (except with "
                           "--remerge)")
    from lgmpose.inference.movenet import MoveNet
    from lgmpose.labels import entries as label_entries
    from pathlib import Path

    from lgmpose.labels.pseudo_label import pseudo_label

    teacher = MoveNet(args.teacher, threads=args.threads)
    detector = None
    if args.coco:
        entries = label_entries.coco_entries(args.coco, args.images)
        what = f"COCO {Path(args.coco).name}"
    elif args.lsp:
        entries = label_entries.lsp_entries(args.lsp, args.images, args.split)
        what = f"LSP {Path(args.lsp).name}" + (f" ({args.split} split)" if args.split else "")
    elif args.mpii:
        entries = label_entries.mpii_entries(args.mpii, args.images, args.split)
        what = f"MPII {Path(args.mpii).name}" + (f" ({args.split} split)" if args.split else "")
    elif args.others_of:
        entries = label_entries.other_people_entries(args.others_of, args.images)
        what = f"people not in {Path(args.others_of).name}"
    elif args.boxes_of:
        entries = label_entries.boxed_people_entries(args.boxes_of, args.images)
        what = f"people boxed in {Path(args.boxes_of).name}"
    elif args.video:
        entries = label_entries.video_entries(args.video, args.images, args.every)
        what = f"frames of {Path(args.video).name} (every {args.every})"
    else:
        entries = label_entries.folder_entries(args.images)
        what = f"pictures in {Path(args.images).name}/"
    if not (args.coco or args.lsp or args.mpii):
        name = args.detector or ("whole_image" if args.folder else "auto")
        if name == "none" and not args.boxes_of:
            raise LgmposeError("pseudo-label: --detector none only applies with --boxes-of")
        what += f" (detector {name})"
        if name not in ("none", "whole_image"):
            from lgmpose.detectors import build_detector

            detector = build_detector(name, det_thr=0.0)
    entries = list(entries)
    if ray is not None:
        return _run_on_ray(args, entries, f"{what}; teacher {teacher.path.name}", ray)
    summary = pseudo_label(entries, teacher, args.out, kpt_thr=args.kpt_thr,
                           min_keypoints=args.min_keypoints, detector=detector,
                           det_thr=args.det_thr, min_height=args.min_height, resume=args.resume,
                           progress=not args.no_progress, total=len(entries),
                           description=f"{what}; teacher {teacher.path.name}",
                           fix_pairs=args.fix_pairs)
    print(json.dumps({"out": args.out, **summary}, indent=1))
    return 0


def _run_on_ray(args: argparse.Namespace, entries: list, what: str, ray) -> int:
    from lgmpose.distributed_inference.pseudo_label import pseudo_label_distributed
    from pathlib import Path

    detector = None if (args.coco or args.lsp or args.mpii) else (
        args.detector or ("whole_image" if args.folder else "auto"))
    settings = {"teacher": str(Path(args.teacher).resolve()), "threads": args.threads or 1,
                "detector": detector, "det_thr": args.det_thr, "min_height": args.min_height,
                "kpt_thr": args.kpt_thr, "min_keypoints": args.min_keypoints,
                "fix_pairs": args.fix_pairs, "source": what}
    summary = pseudo_label_distributed(entries, args.out, settings, ray, resume=args.resume,
                                       description=what)
    print(json.dumps({"out": args.out, **summary}, indent=1))
    return 0
