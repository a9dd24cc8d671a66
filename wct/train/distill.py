"""Distilling VGG-16 into the light engine's student: the same layout and taps at a fraction of the width.

At every tap relu1_1..relu5_1 a learned 1x1 embedding maps the student's features onto the teacher's (FitNets; the
encoder half of Wang et al.'s Collaborative Distillation, CVPR 2020); the loss is the squared error of the embedded
features in units of each teacher channel's spread, i.e. the share of the teacher's variance left unexplained, summed
over the taps. The student starts pruned from the teacher (each layer keeps its filters of largest norm and their
inputs), which the probes in shared/TRAINING-NOTES.md found a few hundred steps ahead of a random start.

Resumable exactly (student, embedding, optimiser, data RNG and log in a checkpoint folder), seeded, CPU or CUDA.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..encoder import LEVELS, Encoder, TapEmbedding, vgg16_cfg
from ..weights import cache_dir
from .checkpoint import load_checkpoint, log_record, lr_at, save_checkpoint
from .data import random_batch, sized
from .options import RunConfig

__all__ = ["DistillConfig", "distill_encoder", "pruned_student", "channel_spread", "distill_loss", "explained"]

STUDENT_PREFIX = "student"


@dataclass(kw_only=True)
class DistillConfig(RunConfig):
    divisor: int = 4  # the student's width is VGG-16's divided by this
    init: str = "prune"  # or "random"
    lr_min: float = 2e-5
    warmup: int = 100
    steps: int = 20000
    eval_every: float = 10.0  # minutes
    eval_size: int = 256

    def folder(self) -> Path:
        return Path(self.out) if self.out else cache_dir() / "train" / f"student-{self.divisor}"


def _kept(weight: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of the ``n`` output filters of largest L2 norm, in their original order."""
    return weight.flatten(1).norm(dim=1).topk(n).indices.sort().values


@torch.no_grad()
def pruned_student(teacher: Encoder, divisor: int) -> tuple[Encoder, dict[str, torch.Tensor]]:
    """The student of width 1/``divisor`` holding the teacher's filters of largest norm (and their kept inputs), and
    for each tap the teacher channels it kept (to start the embedding as their selection)."""
    student = Encoder(load=False, cfg=vgg16_cfg(divisor), id=f"vgg16-distilled-1/{divisor}")
    kept_in = torch.arange(3)
    tap_kept: dict[str, torch.Tensor] = {}
    for name, conv in student.convs.items():
        src = teacher.convs[name]
        out = _kept(src.weight, conv.out_channels)
        conv.weight.copy_(src.weight[out][:, kept_in])
        conv.bias.copy_(src.bias[out])
        kept_in = out
        if name.endswith("_1"):
            tap_kept["relu" + name[4:]] = out
    return student, tap_kept


def selection_init(embed: TapEmbedding, tap_kept: dict[str, torch.Tensor]) -> None:
    """Each embedding starts as the identity onto the teacher channels its student channels were pruned from."""
    with torch.no_grad():
        for tap, conv in embed.maps.items():
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight[tap_kept[tap], torch.arange(len(tap_kept[tap])), 0, 0] = 1.0


@torch.no_grad()
def channel_spread(teacher: Encoder, images: list[torch.Tensor], cfg: DistillConfig) -> dict[str, torch.Tensor]:
    """Per-channel standard deviation of each teacher tap over 64 crops (floored at 10 % of the tap's mean)."""
    gen = torch.Generator().manual_seed(12345)
    crops = torch.cat([random_batch(images, cfg.crop, cfg.batch, gen) for _ in range(max(1, 64 // cfg.batch))])
    taps = teacher(crops.to(cfg.device))
    spread = {}
    for tap, f in taps.items():
        std = f.double().transpose(0, 1).flatten(1).std(dim=1)
        spread[tap] = std.clamp_min(0.1 * std.mean()).float()
    return spread


def distill_loss(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor], embed: TapEmbedding,
                 spread: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum over taps of the mean squared error of the embedded student features in units of the teacher channels'
    spread; also each tap's term."""
    embedded = embed(student)
    terms = {}
    for tap, t in teacher.items():
        s = spread[tap].view(1, -1, 1, 1)
        terms[tap] = ((embedded[tap].float() - t.float()) / s).pow(2).mean()
    return sum(terms.values()), {k: float(v.detach()) for k, v in terms.items()}


@torch.no_grad()
def explained(student: Encoder, embed: TapEmbedding, teacher: Encoder, images: list[torch.Tensor], size: int,
              device: str) -> dict[str, float]:
    """Per tap, the share of the teacher's feature variance (around each channel's mean) that the embedded student
    explains, R^2 = 1 - SSE / SST pooled over the held-out ``images`` at ``size`` px."""
    sse = dict.fromkeys(LEVELS, 0.0)
    sst = dict.fromkeys(LEVELS, 0.0)
    for img in images:
        x = sized(img, size).to(device)
        t = teacher(x)
        e = embed(student(x))
        for tap in LEVELS:
            tf = t[tap].double()
            sse[tap] += float((e[tap].double() - tf).pow(2).sum())
            sst[tap] += float((tf - tf.mean(dim=(0, 2, 3), keepdim=True)).pow(2).sum())
    return {tap: round(1 - sse[tap] / sst[tap], 4) for tap in LEVELS}


def _networks(cfg: DistillConfig, teacher: Encoder, resumed: bool) -> tuple[Encoder, TapEmbedding]:
    if cfg.init == "prune" and not resumed:
        student, kept = pruned_student(teacher, cfg.divisor)
    else:
        student, kept = Encoder(load=False, cfg=vgg16_cfg(cfg.divisor), id=f"vgg16-distilled-1/{cfg.divisor}"), None
    embed = TapEmbedding(student.channels, teacher.channels)
    if kept is not None:
        selection_init(embed, kept)
    student.requires_grad_(True).train()
    return student, embed


def distill_encoder(cfg: DistillConfig) -> Path:
    """Train (or resume) the student; returns the checkpoint folder. Stops at cfg.steps or cfg.max_minutes."""
    folder = cfg.folder()
    train_imgs, held_imgs = cfg.start(folder)
    teacher = Encoder().to(cfg.device)
    resumed = (folder / "last.safetensors").is_file()
    student, embed = _networks(cfg, teacher, resumed)
    student, embed = student.to(cfg.device), embed.to(cfg.device)
    params = [*student.parameters(), *embed.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    modules = {STUDENT_PREFIX: student, "embed": embed}
    meta: dict = {"step": 0, "images_seen": 0}
    if resumed:
        meta.update(load_checkpoint(folder, modules, opt, gen))
        print(f"resumed at step {meta['step']}", flush=True)
    meta["config"] = asdict(cfg)
    spread = {k: v.to(cfg.device) for k, v in channel_spread(teacher, train_imgs, cfg).items()}
    _loop(cfg, folder, teacher, student, embed, opt, gen, meta, spread, train_imgs, held_imgs)
    return folder


def _loop(cfg: DistillConfig, folder: Path, teacher: Encoder, student: Encoder, embed: TapEmbedding,
          opt: torch.optim.Optimizer, gen: torch.Generator, meta: dict, spread: dict, images: list, held: list) -> None:
    modules = {STUDENT_PREFIX: student, "embed": embed}
    start = last_ckpt = last_eval = time.time()
    first_step = meta["step"]
    sums: dict[str, float] = {}
    count = 0
    dev = torch.device(cfg.device).type
    while meta["step"] < cfg.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(meta["step"], cfg.lr, cfg.lr_min, cfg.warmup, cfg.steps)
        x = random_batch(images, cfg.crop, cfg.batch, gen).to(cfg.device).contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=cfg.bf16):
            with torch.no_grad():
                target = teacher(x)
            loss, terms = distill_loss(student(x), target, embed, spread)
        if not math.isfinite(float(loss.detach())):
            raise FloatingPointError(f"the distillation loss became {float(loss.detach())} at step {meta['step']}; lower --lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        meta["step"] += 1
        meta["images_seen"] += cfg.batch
        count += 1
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v
        now = time.time()
        done = meta["step"] >= cfg.steps or (cfg.max_minutes and now - start > cfg.max_minutes * 60)
        if now - last_eval > cfg.eval_every * 60 or done:
            r2 = explained(student.eval(), embed, teacher, held, cfg.eval_size, cfg.device)
            student.train()
            per_step = round((now - start) / max(1, meta["step"] - first_step), 3)
            log_record(folder, {"step": meta["step"], "lr": opt.param_groups[0]["lr"], "sec_per_step": per_step,
                                "loss": {k: round(v / max(1, count), 4) for k, v in sums.items()}, "r2": r2})
            meta["r2"] = r2
            sums, count, last_eval = {}, 0, time.time()
        if now - last_ckpt > cfg.ckpt_every * 60 or done:
            save_checkpoint(folder, modules, opt, gen, meta)
            last_ckpt = time.time()
        if done:
            break


DISTILL_HELPS = {
    "images": "folder of training photos (its held-out split is measured, never trained on)",
    "out": "checkpoint folder (default: the user cache)",
    "divisor": "the student's width is VGG-16's divided by this (4: 16/32/64/128/128 channels at the taps)",
    "steps": "total optimiser steps (the LR schedule spans them)",
    "max_minutes": "stop this run after so many minutes (resume with the same command)",
    "init": "prune (the teacher's filters of largest norm) or random",
    "bf16": "forward and backward under bfloat16 autocast (fast on CPUs with AMX and on GPUs)",
}

