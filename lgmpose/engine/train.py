"""The training loop: one process, or one per GPU/CPU worker under ``torchrun`` (DDP).

What a run leaves in its work dir: ``config.yaml`` (the resolved config), ``log.jsonl`` (one line
per epoch and per validation), ``last.pt`` (everything needed to continue exactly), ``best.pt``
(the best validation score so far) and ``tensorboard/`` when TensorBoard is installed.

Exact resume: the data order comes from ``(seed, epoch)``, each sample's augmentation from
``(seed, epoch, index)`` (see :mod:`lgmpose.engine.loading`), and ``last.pt`` holds model,
optimiser, lr scheduler, AMP scaler, RNG states and the position (epoch and iteration). A run
killed at any point continues from its last checkpoint and ends with the same weights as an
uninterrupted run (same hardware and thread count).
"""
from __future__ import annotations

import math
import random
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from lgmpose.engine import builders
from lgmpose.engine.config import save_config
from lgmpose.engine.config_datasets import has_val, source_file, source_kind
from lgmpose.engine.config_types import Config
from lgmpose.engine.distributed import (DistInfo, all_reduce_mean, barrier, broadcast_object,
                                        cleanup, init_distributed, sync_buffers)
from lgmpose.engine.ema import WeightEma, check_decay
from lgmpose.engine.loading import SKIPPED, EpochSampler, SkippingDataset, collate
from lgmpose.engine.logger import RunLogger
from lgmpose.engine.losses import build_loss, build_soft_loss
from lgmpose.engine.schedule import build_scheduler
from lgmpose.errors import LgmposeError

__all__ = ["train"]


# -- RNG state (kept to plain types so that checkpoints load with weights_only=True) ----------
def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# -- checkpoints -------------------------------------------------------------------------------
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 autocast pays."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


class _Run:
    """State of one training run (kept together so the loop reads top to bottom)."""

    def __init__(self, cfg: Config, work_dir: Path, data_root: str | None,
                 info: DistInfo, progress: bool) -> None:
        self.cfg = cfg
        self.work_dir = work_dir
        self.data_root = data_root
        self.info = info
        self.progress = progress and info.is_main
        self.seed = cfg.train.seed
        self.cuda = info.device.type == "cuda"
        self.amp = cfg.train.amp and self.cuda
        self.cpu_bf16 = cfg.train.cpu_bf16 and not self.cuda
        # channels_last also pays on the CPU: ~85 instead of ~62 samples/s for lgm_pose
        self.channels_last = cfg.train.channels_last
        self.log = RunLogger(work_dir, enabled=info.is_main, tensorboard=cfg.train.tensorboard)
        if self.cpu_bf16 and not cpu_has_native_bf16():
            self.log.info("warning: train.cpu_bf16 is set but this CPU has no native bf16 "
                          "(AVX512-BF16 or AMX): training will be slower, not faster")
        self.reported_files: set[str] = set()
        self.epoch = 0           # next epoch to run (0-based)
        self.iter_in_epoch = 0   # iterations of `epoch` already done (resume mid-epoch)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.ema: WeightEma | None = None

    # ---- building ---------------------------------------------------------------------------
    def build(self) -> None:
        cfg, info = self.cfg, self.info
        seed_everything(self.seed)
        self.metainfo = builders.build_metainfo(cfg)
        self.codec = builders.build_codec(cfg)
        base = builders.build_train_dataset(cfg, self.data_root, self.codec, self.metainfo)
        if len(base) == 0:
            raise LgmposeError("the training set has no person with labelled keypoints")
        self.dataset = SkippingDataset(builders.sample_getter(base), len(base), self.seed)
        self.num_samples = len(base)
        sources = cfg.data.train
        sources = sources if isinstance(sources, list) else [sources]
        weights = [float(s.get("weight", 1.0)) for s in sources]
        sizes = [len(p) for p in getattr(base, "parts", [base])]
        self.sampler = EpochSampler(len(base), shuffle=True, seed=self.seed, rank=info.rank,
                                    world_size=info.world_size, source_sizes=sizes,
                                    source_weights=weights)
        if self.sampler.weighted:
            self.num_samples = len(self.sampler.inner)
        self.source_lines = [
            f"  {source_file(s, source_kind(cfg, s))}"
            + (f" (facing {s['facing']})" if s.get("facing") else "")
            + f": {n} persons x {w:g}" for s, n, w in zip(sources, sizes, weights)
        ] if len(sources) > 1 else []
        workers = cfg.data.workers
        self.batch_size = cfg.train.batch_size
        self.loader = DataLoader(
            self.dataset, batch_size=self.batch_size, sampler=self.sampler, num_workers=workers,
            collate_fn=collate, pin_memory=self.cuda, drop_last=False,
            persistent_workers=workers > 0, prefetch_factor=2 if workers > 0 else None)
        self.iters_per_epoch = math.ceil(len(self.sampler.inner) / self.batch_size)
        if cfg.train.max_iters_per_epoch:
            self.iters_per_epoch = min(self.iters_per_epoch, cfg.train.max_iters_per_epoch)

        model = builders.build_model(cfg, self.metainfo).to(info.device)
        if cfg.train.init_from:
            from lgmpose.models.checkpoint import resolve_checkpoint

            self._load_initial_weights(model, resolve_checkpoint(cfg.train.init_from))
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        tcfg = cfg.train
        if str(tcfg.optimizer).lower() == "adam":
            self.optimizer = torch.optim.Adam(model.parameters(), lr=tcfg.lr,
                                              weight_decay=tcfg.weight_decay)
        elif str(tcfg.optimizer).lower() == "adamw":
            self.optimizer = torch.optim.AdamW(model.parameters(), lr=tcfg.lr,
                                               weight_decay=tcfg.weight_decay)
        else:
            raise LgmposeError(f"train.optimizer {tcfg.optimizer!r}: choose adam or adamw")
        self.scheduler = build_scheduler(self.optimizer, self.iters_per_epoch,
                                         tcfg.warmup_iters, tcfg.warmup_ratio,
                                         tcfg.lr_steps, tcfg.lr_gamma, policy=str(tcfg.lr_policy),
                                         total_iters=self.iters_per_epoch * tcfg.epochs,
                                         min_ratio=tcfg.min_lr_ratio)
        self.loss_fn = build_loss(tcfg.loss)
        loss_name = tcfg.loss if isinstance(tcfg.loss, str) else tcfg.loss.get("name")
        norm = model.model_config.get("heatmap_norm", "none")
        if (loss_name == "softmax_ce") != (norm == "softmax"):
            raise LgmposeError(f"train.loss {loss_name!r} and model.heatmap_norm {norm!r} do not "
                               "go together: softmax_ce needs heatmap_norm: softmax, and a "
                               "softmax model needs softmax_ce")
        self.soft_loss_fn = None
        if tcfg.soft_targets:
            if loss_name != "softmax_ce":
                raise LgmposeError("train.soft_targets needs train.loss: softmax_ce (the teacher's "
                                   "maps are targets for a spatial softmax)")
            self.soft_loss_fn = build_soft_loss(tcfg.soft_targets)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        decay = check_decay(tcfg.ema_decay)
        self.ema = WeightEma(model, decay) if decay > 0 else None

    def _load_initial_weights(self, model: nn.Module, path: Path) -> None:
        """``train.init_from``: start from a checkpoint's weights (a new schedule and optimiser:
        fine-tuning, or continuing a finished run for more epochs)."""
        from lgmpose.models.checkpoint import load_checkpoint

        if not path.is_file():
            raise LgmposeError(f"train.init_from '{path}': file not found")
        state = load_checkpoint(path)
        saved = state.get("model_config", {})
        current = model.model_config
        if saved and any(saved.get(k) != current.get(k) for k in ("name", "input_size")):
            raise LgmposeError(f"train.init_from '{path}': it holds {saved.get('name')!r} at "
                               f"{saved.get('input_size')}, the config builds "
                               f"{current.get('name')!r} at {current.get('input_size')}")
        if self.cfg.train.init_grow:
            from lgmpose.models.grow import grow_lgm_pose

            grow_lgm_pose(model, state["state_dict"], saved, self.cfg.train.init_grow_scale)
            self.log.info(f"initial weights from {path}, grown to {current}")
            return
        try:
            model.load_state_dict(state["state_dict"])
        except (RuntimeError, KeyError) as error:
            first = str(error).splitlines()[0]
            hint = ("; to start a larger lgm_pose from a smaller one, set train.init_grow: true"
                    if current.get("name") == "lgm_pose" else "")
            raise LgmposeError(f"train.init_from '{path}': weights do not fit the model "
                               f"({first}){hint}") from None
        self.log.info(f"initial weights from {path}")

    def wrap_ddp(self) -> None:
        if self.info.enabled:
            ids = [self.info.device.index] if self.cuda else None
            self.ddp = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        else:
            self.ddp = self.model

    # ---- checkpoints ------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        return builders.checkpoint_meta(self.cfg, self.metainfo, self.codec)

    def save(self, name: str, extra: Mapping[str, Any] | None = None,
             keep_previous: bool = False) -> Path:
        from lgmpose.models.checkpoint import save_checkpoint

        path = self.work_dir / name
        if self.info.is_main:
            # With an average, it is the checkpoint's model (what export, evaluation and
            # init_from read); the trained weights ride along for --resume.
            averaged = {} if self.ema is None else {
                "raw_state_dict": _unwrap(self.model).state_dict(), "ema": self.ema.state_dict()}
            save_checkpoint(
                path, self.validated_model(), meta=self.meta(), **averaged,
                optimizer=self.optimizer.state_dict(), scheduler=self.scheduler.state_dict(),
                scaler=self.scaler.state_dict(), epoch=self.epoch,
                iter_in_epoch=self.iter_in_epoch, rng=_rng_state(), best=self.best,
                best_epoch=self.best_epoch, config=self.cfg.to_dict(), keep_previous=keep_previous,
                **dict(extra or {}))
        barrier()
        return path

    def resume(self) -> bool:
        from lgmpose.models.checkpoint import load_latest

        path = self.work_dir / "last.pt"
        found = load_latest(path, log=self.log.info)  # a corrupt last.pt falls back to the one before
        if found is None:
            self.log.info(f"--resume: no {path} yet, starting from scratch")
            return False
        state, path = found
        for key in ("optimizer", "scheduler", "epoch", "rng"):
            if key not in state:
                raise LgmposeError(f"cannot resume from {path}: it has no {key!r} (not a "
                                   "checkpoint written by `lgmpose train`)")
        saved = state.get("model_config", {})
        current = _unwrap(self.model).model_config
        if saved and saved.get("name") != current.get("name"):
            raise LgmposeError(f"cannot resume from {path}: it holds {saved.get('name')!r} but the "
                               f"config builds {current.get('name')!r}")
        # A run with train.ema_decay saved the average as state_dict, the trained weights beside.
        _unwrap(self.model).load_state_dict(state.get("raw_state_dict", state["state_dict"]))
        if self.ema is not None:
            self.ema.load(state["state_dict"], state.get("ema", {}))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if "scaler" in state and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"])
        self.iter_in_epoch = int(state.get("iter_in_epoch", 0))
        self.best = state.get("best")
        self.best_epoch = state.get("best_epoch")
        _set_rng_state(state["rng"])
        self.log.info(f"resumed from {path}: epoch {self.epoch + 1}, iteration "
                      f"{self.iter_in_epoch} of {self.iters_per_epoch}")
        return True

    # ---- one epoch --------------------------------------------------------------------------
    def report_skipped(self, messages: list[str]) -> None:
        for message in messages:
            if message not in self.reported_files:
                self.reported_files.add(message)
                self.log.info(f"warning: skipping a sample: {message}")

    def train_epoch(self) -> dict[str, Any]:
        epochs = self.cfg.train.epochs
        self.ddp.train()
        start_iter = self.iter_in_epoch
        self.sampler.set_epoch(self.epoch, skip=start_iter * self.batch_size)
        ckpt_every = self.cfg.train.checkpoint_interval
        grad_clip = self.cfg.train.grad_clip
        total = self.iters_per_epoch - start_iter
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=total, desc=f"epoch {self.epoch + 1}/{epochs}", leave=False,
                       dynamic_ncols=True)
        loss_sum, seen, t0 = 0.0, 0, time.perf_counter()
        iterator = iter(self.loader)
        for it in range(start_iter, self.iters_per_epoch):
            try:
                batch = next(iterator)
            except StopIteration:
                break
            self.report_skipped(batch.get(SKIPPED, []))
            images = batch["image"].to(self.info.device, non_blocking=True)
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            target = batch["heatmaps"].to(self.info.device, non_blocking=True)
            weight = batch["target_weight"].to(self.info.device, non_blocking=True)
            with self.autocast():
                heatmaps = self.ddp(images)
            if self.soft_loss_fn is not None:
                soft = batch["soft_heatmaps"].to(self.info.device, non_blocking=True)
                soft_weight = batch["soft_weight"].to(self.info.device, non_blocking=True)
                loss = self.soft_loss_fn(heatmaps.float(), target, weight, soft, soft_weight)
            else:
                loss = self.loss_fn(heatmaps.float(), target, weight)
            mean_loss = float(all_reduce_mean(loss.detach()).item())
            if not math.isfinite(mean_loss):
                raise LgmposeError(
                    f"the loss became {mean_loss} at epoch {self.epoch + 1}, iteration {it + 1}; "
                    f"training stopped. The last good checkpoint is {self.work_dir / 'last.pt'} "
                    "(lower train.lr, or set train.grad_clip, and --resume)")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if grad_clip > 0:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.ddp.parameters(), grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            if self.ema is not None:
                self.ema.update(_unwrap(self.model))
            n = images.shape[0] * self.info.world_size
            loss_sum += mean_loss * n
            seen += n
            self.iter_in_epoch = it + 1
            if bar is not None:
                rate = seen / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(loss=f"{mean_loss:.3e}", lr=f"{self.current_lr():.2e}",
                                samples_s=f"{rate:.1f}", refresh=False)
                bar.update(1)
            if ckpt_every and self.iter_in_epoch % ckpt_every == 0 \
                    and self.iter_in_epoch < self.iters_per_epoch:
                self.save("last.pt", keep_previous=True)
        if bar is not None:
            bar.close()
        elapsed = time.perf_counter() - t0
        return {"loss": loss_sum / max(seen, 1), "lr": self.current_lr(), "epoch_time_s": elapsed,
                "samples_per_s": seen / max(elapsed, 1e-9), "iters": self.iter_in_epoch - start_iter}

    def validated_model(self) -> nn.Module:
        """The weights a run validates and saves: the average if there is one."""
        return _unwrap(self.model) if self.ema is None else self.ema.model

    def autocast(self) -> torch.autocast:
        """fp16 on CUDA (``train.amp``), bf16 on the CPU (``train.cpu_bf16``), else a no-op."""
        if self.cpu_bf16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return torch.autocast("cuda", dtype=torch.float16, enabled=self.amp)

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # ---- validation -------------------------------------------------------------------------
    def validate(self) -> dict[str, Any] | None:
        from lgmpose.engine.evaluate import evaluate_model

        if not has_val(self.cfg):
            return None
        metrics = evaluate_model(self.validated_model(), self.cfg, data_root=self.data_root,
                                 device=self.info.device, progress=self.progress,
                                 channels_last=self.channels_last)
        return broadcast_object(metrics)


# What a run leaves in its work dir (config.yaml is rewritten by every run and not counted).
RUN_FILES = ("last.pt", "best.pt", "log.jsonl")


def _check_work_dir(work_dir: Path, resume: bool, overwrite: bool) -> list[Path]:
    """The earlier run's files in ``work_dir``; refused unless ``resume`` or ``overwrite``."""
    if resume and overwrite:
        raise LgmposeError("resume and overwrite exclude each other: --resume continues the run "
                           f"in {work_dir}, --overwrite replaces it")
    if work_dir.exists() and not work_dir.is_dir():
        raise LgmposeError(f"work dir '{work_dir}' is a file, not a folder; choose another "
                           "--work-dir")
    earlier = [work_dir / name for name in RUN_FILES if (work_dir / name).exists()]
    if earlier and not (resume or overwrite):
        raise LgmposeError(f"work dir '{work_dir}' holds an earlier run "
                           f"({', '.join(p.name for p in earlier)}); continue it with --resume, "
                           "replace it with --overwrite, or choose another --work-dir")
    return earlier


def train(cfg: Config, work_dir: str | Path, data_root: str | None = None,
          resume: bool = False, device: str = "auto", progress: bool = True,
          overwrite: bool = False) -> dict[str, Any]:
    """Train as ``cfg`` says; returns a summary (epochs done, best metric, paths) whose ``model``
    is the trained network (unwrapped from DDP).

    A ``work_dir`` that holds an earlier run (``last.pt``, ``best.pt`` or ``log.jsonl``) is
    refused unless ``resume`` (continue it) or ``overwrite`` (delete those files and
    ``tensorboard/`` first). Every input file is checked before the first step.
    """
    work_dir = Path(work_dir)
    earlier = _check_work_dir(work_dir, resume, overwrite)
    builders.check_inputs(cfg, data_root, validation=cfg.train.val_interval > 0)
    info = init_distributed(device)
    # Flush float32 denormals to zero: a spatial softmax drives far pixels' probabilities and
    # gradients below 1e-38, and denormal arithmetic made CPU steps several times slower.
    torch.set_flush_denormal(True)
    try:
        if overwrite and info.is_main:
            for path in earlier:
                path.unlink()
            if (work_dir / "tensorboard").is_dir():
                shutil.rmtree(work_dir / "tensorboard")
        barrier()
        run = _Run(cfg, work_dir, data_root, info, progress)
        if info.is_main:
            work_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, work_dir / "config.yaml")
        run.build()
        if resume:
            run.resume()
        run.wrap_ddp()
        return _loop(run)
    finally:
        cleanup()


def _loop(run: _Run) -> dict[str, Any]:
    cfg = run.cfg
    epochs = cfg.train.epochs
    val_every = cfg.train.val_interval
    key = builders.main_metric(cfg)
    boxes = builders.boxes_label(cfg)
    if run.epoch == 0 and run.iter_in_epoch == 0:
        run.log.info(f"training {cfg.model.name} on {run.num_samples} persons for {epochs} "
                     f"epochs ({run.iters_per_epoch} iterations of {run.batch_size} per process, "
                     f"{run.info.world_size} process(es) on {run.info.device.type}) -> {run.work_dir}")
        for line in run.source_lines:
            run.log.info(line)
    metrics: dict[str, Any] | None = None
    while run.epoch < epochs:
        stats = run.train_epoch()
        finished = run.epoch + 1
        sync_buffers(_unwrap(run.model))
        record: dict[str, Any] = {"epoch": finished, **stats}
        metrics = None
        if val_every and (finished % val_every == 0 or finished == epochs):
            metrics = run.validate()
        # The epoch is complete: the checkpoint points at the next one.
        run.epoch, run.iter_in_epoch = finished, 0
        if metrics:
            record.update({f"val/{k}": v for k, v in metrics.items()})
            score = metrics.get(key)
            if score is not None and (run.best is None or score > run.best):
                run.best, run.best_epoch = float(score), finished
                run.save("best.pt", {"metrics": metrics})
        run.save("last.pt", keep_previous=True)
        run.log.log(record, step=finished)
        line = (f"epoch {finished}/{epochs}: loss {stats['loss']:.4e}, lr {stats['lr']:.2e}, "
                f"{stats['samples_per_s']:.1f} samples/s, {stats['epoch_time_s']:.1f} s")
        if metrics:
            line += (f"; val ({boxes}): {key} {metrics.get(key, float('nan')):.4f}"
                     f" (best {run.best:.4f} at epoch {run.best_epoch})")
        run.log.info(line)
    run.log.close()
    return {"epochs": run.epoch, "best": run.best, "best_epoch": run.best_epoch,
            "metric": key, "boxes": boxes, "last_metrics": metrics,
            "last": str(run.work_dir / "last.pt"), "work_dir": str(run.work_dir),
            "model": run.validated_model()}
