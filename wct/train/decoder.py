"""Decoder training: random crops of photos -> encoder tap -> decoder -> pixel (+ feature, + stylization) loss, Adam.

For either model: ``model="vgg16"`` trains a VGG-16 decoder, ``model="light"`` one of the light model's, on its
distilled student encoder (``encoder``: an exported student file or a distillation checkpoint folder; default: the
shipped one). With ``stylize`` > 0 the decoder also learns to decode transferred features (``losses.stylized_loss``),
their styles the batch's other photos, or crops of the paintings in ``styles`` (of which ``data.split_styles`` holds
about a third out, never trained on).

Resumable exactly (model, optimiser, data RNG and log live in a checkpoint folder), seeded, CPU or CUDA.
Checkpoints and logs are safetensors + JSON: nothing here is ever pickled.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..checks import parse_model
from ..decoder import Decoder, decoder_from_metadata, decoder_layers, deepened, extra_metadata, parse_extra
from ..encoder import LEVELS, Encoder, parse_level
from ..errors import InputError
from ..metrics import psnr, ssim
from ..weights import cache_dir, safetensors_metadata
from .checkpoint import load_checkpoint, log_record, lr_at, save_checkpoint, save_weights
from .data import load_rgb, random_batch, sized, split_styles
from .encoders import training_encoder
from .losses import reconstruction_loss, stylize_alpha, stylized_loss
from .options import RunConfig

__all__ = ["TrainConfig", "train_decoder", "feature_scale", "evaluate", "graft_lower"]


@dataclass(kw_only=True)
class TrainConfig(RunConfig):
    level: str
    model: str = "vgg16"  # or "light": a decoder for the distilled student encoder
    encoder: str = ""  # light: the student (an exported file or a distillation checkpoint folder); default: shipped
    styles: str = ""  # folder of paintings: the stylization term's styles (default: the batch's other photos)
    feature_weight: float = 0.0
    stylize: float = 0.0  # weight of the stylization term (0 = reconstruction only)
    init_from: str = ""
    lower: str = ""  # finished decoder one level down: its weights become this decoder's tail
    block_steps: int = 0  # first steps train only the new head, in the lower level's feature space
    ema: float = 0.0  # decay of an exponential moving average of the weights (0 = off); evaluated and saved instead
    deepen: str = ""  # "0,1": one more conv after each of these mirror convs (identity-initialised over --init-from)
    enlarge: float = 0.0  # fraction of crops cut from a smaller region and enlarged (1-1.6x), like small photos
    channels_last: bool = True
    extra: dict = field(default_factory=dict)

    def folder(self) -> Path:
        name = self.level if self.model == "vgg16" else f"{self.model}-{self.level}"
        return Path(self.out) if self.out else cache_dir() / "train" / name


@torch.no_grad()
def feature_scale(encoder: Encoder, images: list[torch.Tensor], level: str, cfg: TrainConfig) -> torch.Tensor:
    """Per-channel RMS of the tap over 64 crops, floored at 10% of the level's mean RMS."""
    gen = torch.Generator().manual_seed(12345)
    sq = None
    n = 0
    for _ in range(max(1, 64 // cfg.batch)):
        feats = encoder(random_batch(images, cfg.crop, cfg.batch, gen, enlarge=cfg.enlarge).to(cfg.device), upto=level)[level]
        s = feats.double().pow(2).mean(dim=(0, 2, 3))
        sq = s if sq is None else sq + s
        n += 1
    rms = (sq / n).sqrt()
    return rms.clamp_min(0.1 * rms.mean()).float().cpu()


@torch.no_grad()
def evaluate(encoder: Encoder, decoder: Decoder, images: list[torch.Tensor], size: int, device: str) -> tuple[float, float]:
    """Mean held-out PSNR and SSIM of clamp(decode(encode(x))) at ``size`` px on the long side."""
    decoder.eval()
    ps, ss = [], []
    for img in images:
        x = sized(img, size).to(device)
        y = decoder(encoder(x, upto=decoder.level)[decoder.level]).clamp(0, 1)
        y = (y * 255).round() / 255  # as an 8-bit image
        ps.append(float(psnr(y, x)))
        ss.append(float(ssim(y, x)))
    decoder.train()
    return sum(ps) / len(ps), sum(ss) / len(ss)


def graft_lower(decoder: Decoder, lower_weights: str, *, copy: bool = True) -> int:
    """Copy a finished lower-level decoder into ``decoder``'s tail; returns the number of head modules.

    The mirror architecture makes decoder(relu_k) = head(relu_k) -> tail, where the tail is exactly the
    decoder of relu_(k-1) and the head must output that level's normalised features.
    """
    state = {k: v.float() for k, v in load_file(lower_weights).items()}
    lower_level = LEVELS[LEVELS.index(decoder.level) - 1]
    lower = decoder_from_metadata(lower_level, safetensors_metadata(Path(lower_weights)))
    if lower.extra or decoder.extra:
        raise InputError("grafting needs plain mirror decoders; fix: graft the plain ones, then deepen in a later run (--deepen)")
    lower.load_state_dict(state, strict=True)
    n_head = len(decoder.layers) - len(lower.layers)
    if copy:
        for i, module in enumerate(lower.layers):
            decoder.layers[n_head + i].load_state_dict(module.state_dict(), strict=True)
    decoder.register_buffer("lower_scale", lower.scale.clone(), persistent=False)
    return n_head


def _averaged(decoder: Decoder, decay: float, folder: Path) -> AveragedModel | None:
    """An exponential moving average of ``decoder``'s weights, resumed from the checkpoint when it holds one."""
    if not decay:
        return None
    avg = AveragedModel(decoder, multi_avg_fn=get_ema_multi_avg_fn(decay))
    path = folder / "last.safetensors"
    saved = {k[4:]: v for k, v in load_file(str(path)).items() if k.startswith("ema.")} if path.is_file() else {}
    if saved:
        avg.load_state_dict(saved, strict=True)
    else:  # start from the current weights, not from the first update
        avg.update_parameters(decoder)
    return avg


def _deepen(cfg: TrainConfig) -> tuple[int, ...]:
    """The mirror convs --deepen names, checked against the level's architecture."""
    try:
        extra = parse_extra(cfg.deepen)
        decoder_layers(cfg.level, extra)
    except ValueError as exc:
        raise InputError(f"--deepen {cfg.deepen!r}: {exc}; fix: give mirror conv numbers such as 0,1") from None
    return extra


def _initial_decoder(cfg: TrainConfig, encoder: Encoder, images: list[torch.Tensor]) -> Decoder:
    """The checkpoint's architecture when resuming; else --init-from's weights (deepened if asked); else a fresh one
    of the encoder's widths."""
    last = cfg.folder() / "last.safetensors"
    deepen = _deepen(cfg)
    if last.is_file():
        return decoder_from_metadata(cfg.level, safetensors_metadata(last))
    if cfg.init_from:
        decoder = decoder_from_metadata(cfg.level, safetensors_metadata(Path(cfg.init_from)))
        decoder.load_state_dict({k: v.float() for k, v in load_file(cfg.init_from).items()}, strict=True)
        return deepened(decoder, deepen) if deepen else decoder
    decoder = Decoder(cfg.level, deepen, tuple(encoder.channels.values()))
    decoder.scale.copy_(feature_scale(encoder, images, cfg.level, cfg))
    return decoder


def _loss(encoder: Encoder, decoder: Decoder, x: torch.Tensor, cfg: TrainConfig, head: tuple[int, str, bool],
          alpha: float, paintings: torch.Tensor | None) -> torch.Tensor:  # fmt: skip
    """The batch's loss: in the head phase the grafted head against the lower level's features, else pixels (+ features,
    + the stylization term after the next photo or the ``paintings`` crops)."""
    n_head, lower_level, head_phase = head
    with torch.no_grad():
        taps = encoder(x, upto=cfg.level)
        styles = None if paintings is None else encoder(paintings, upto=cfg.level)
    feats = taps[cfg.level]
    if head_phase and n_head:
        target = taps[lower_level] / decoder.lower_scale.view(1, -1, 1, 1)
        return F.mse_loss(decoder.layers[:n_head](feats / decoder.scale.view(1, -1, 1, 1)).float(), target.float())
    loss = reconstruction_loss(encoder, decoder, x, feats, cfg.feature_weight)
    if cfg.stylize > 0:
        loss = loss + cfg.stylize * stylized_loss(encoder, decoder, taps, alpha, styles)
    return loss


def _check(cfg: TrainConfig) -> None:
    cfg.level = parse_level(cfg.level)
    cfg.model = parse_model(cfg.model)
    for name in ("feature_weight", "stylize"):
        if not getattr(cfg, name) >= 0:  # also NaN
            flag = "--" + name.replace("_", "-")
            raise InputError(f"{flag} {getattr(cfg, name)}: a loss weight must be 0 or more; fix: give e.g. {flag} 0.02")


def train_decoder(cfg: TrainConfig) -> Path:
    """Train (or resume) one level's decoder; returns the checkpoint folder. Stops at cfg.steps or cfg.max_minutes."""
    _check(cfg)
    folder = cfg.folder()
    train_imgs, held_imgs = cfg.start(folder)
    paintings = [load_rgb(p) for p in split_styles(cfg.styles)[0]] if cfg.styles else None
    encoder = training_encoder(cfg.model, cfg.encoder).to(cfg.device)
    decoder = _initial_decoder(cfg, encoder, train_imgs).to(cfg.device)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
    meta = {"step": 0, "images_seen": 0, "best_psnr": -1.0, "best_ssim": 0.0, "config": asdict(cfg)}
    if (folder / "last.safetensors").is_file():
        meta.update(load_checkpoint(folder, {"model": decoder}, opt, gen))
        print(f"resumed at step {meta['step']} ({meta['images_seen']} images)", flush=True)
    elif cfg.init_from:
        meta["init_sha256"] = _sha256(Path(cfg.init_from))  # export adds that file's training to the totals
    meta["config"] = asdict(cfg)
    n_head = graft_lower(decoder, cfg.lower, copy=meta["step"] == 0) if cfg.lower else 0
    lower_level = LEVELS[LEVELS.index(cfg.level) - 1] if cfg.lower else ""
    if cfg.channels_last:
        encoder = encoder.to(memory_format=torch.channels_last)
        decoder = decoder.to(memory_format=torch.channels_last)
    avg = _averaged(decoder, cfg.ema, folder)
    _loop(cfg, folder, encoder, decoder, opt, gen, meta, avg, (n_head, lower_level), train_imgs, held_imgs, paintings)
    return folder


def _loop(cfg: TrainConfig, folder: Path, encoder: Encoder, decoder: Decoder, opt: torch.optim.Optimizer,
          gen: torch.Generator, meta: dict, avg: AveragedModel | None, graft: tuple[int, str], images: list,
          held: list, paintings: list | None) -> None:  # fmt: skip
    judged = decoder if avg is None else avg.module  # the weights that are evaluated and saved
    start = last_ckpt = last_eval = time.time()
    first_step = meta["step"]
    losses: list[float] = []
    decoder.train()
    while meta["step"] < cfg.steps:
        lr = lr_at(meta["step"], cfg.lr, cfg.lr_min, cfg.warmup, cfg.steps)
        for g in opt.param_groups:
            g["lr"] = lr
        x, art = _batch(cfg, gen, images, paintings)
        alpha = stylize_alpha(gen) if cfg.stylize > 0 else 1.0
        with torch.autocast(torch.device(cfg.device).type, dtype=torch.bfloat16, enabled=cfg.bf16):
            loss = _loss(encoder, decoder, x, cfg, (*graft, meta["step"] < cfg.block_steps), alpha, art)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if avg is not None:
            avg.update_parameters(decoder)
        meta["step"] += 1
        meta["images_seen"] += cfg.batch
        losses.append(float(loss.detach()))
        now = time.time()
        done = meta["step"] >= cfg.steps or (cfg.max_minutes and now - start > cfg.max_minutes * 60)
        if now - last_eval > cfg.eval_every * 60 or done:
            p, s = evaluate(encoder, judged, held, cfg.eval_size, cfg.device)
            per_step = round((now - start) / max(1, meta["step"] - first_step), 3)
            log_record(folder, {"step": meta["step"], "images": meta["images_seen"], "loss": sum(losses) / len(losses),
                                "lr": lr, "val_psnr": round(p, 3), "val_ssim": round(s, 4), "sec_per_step": per_step})
            if p > meta["best_psnr"] or cfg.stylize > 0:  # stylization is judged by benchmarks/quality.py, not PSNR
                meta.update(best_psnr=p, best_ssim=s, best_step=meta["step"], best_images=meta["images_seen"])
                info = {"level": cfg.level, "encoder": encoder.id, "step": meta["step"], "images_seen": meta["images_seen"],
                        "init_sha256": meta.get("init_sha256", ""), **extra_metadata(judged)}  # fmt: skip
                save_weights(judged, folder / "best.safetensors", info)
            losses.clear()
            last_eval = time.time()
        if now - last_ckpt > cfg.ckpt_every * 60 or done:
            modules = {"model": decoder, **({"ema": avg} if avg is not None else {})}
            save_checkpoint(folder, modules, opt, gen, meta, extra_metadata(decoder))
            last_ckpt = time.time()
        if done:
            break


def _batch(cfg: TrainConfig, gen: torch.Generator, images: list, paintings: list | None) -> tuple:
    """(photo crops, painting crops or None) for one step, on the device, in the training layout."""
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    x = random_batch(images, cfg.crop, cfg.batch, gen, enlarge=cfg.enlarge).to(cfg.device).contiguous(memory_format=layout)
    if paintings is None or cfg.stylize <= 0:
        return x, None
    art = random_batch(paintings, cfg.crop, cfg.batch, gen, max_scale=4.0).to(cfg.device).contiguous(memory_format=layout)
    return x, art


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
