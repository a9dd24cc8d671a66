"""Decoder training: random crops of photos -> encoder tap -> decoder -> pixel (+ feature) loss, Adam.

With ``stylize`` > 0 the decoder also learns to decode *transferred* features, as it must in use: each crop's features
given another crop's statistics (OST at a random alpha), decoded, should encode back to those features, with the
statistics of the other crop at every level up to the tap (the decoder objective of Huang & Belongie's AdaIN, on the
transform the engine runs). The styles are the batch's own photos, so no painting is trained on.

Resumable exactly (model, optimiser, data RNG and log live in a checkpoint folder), seeded, CPU or CUDA.
Checkpoints and logs are safetensors + JSON: nothing here is ever pickled.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..decoder import Decoder, decoder_layers, deepened, extra_from_metadata, extra_metadata, parse_extra
from ..encoder import LEVELS, Encoder, parse_level
from ..errors import InputError
from ..files import atomic_write
from ..image import fit_multiple, resize_to
from ..metrics import psnr, ssim
from ..refine import statistics_loss
from ..transform import coloring_matrix, flat_features, mean_and_covariance, wct
from ..weights import ENCODER_ID, cache_dir, safetensors_metadata

__all__ = ["TrainConfig", "train_decoder", "split_images", "feature_scale", "evaluate", "export_decoder"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


@dataclass
class TrainConfig:
    level: str
    images: str
    out: str = ""
    crop: int = 128
    batch: int = 8
    lr: float = 1e-3
    lr_min: float = 5e-5
    warmup: int = 200
    steps: int = 4000
    feature_weight: float = 0.0
    stylize: float = 0.0  # weight of the stylization term (0 = reconstruction only)
    eval_every: float = 5.0  # minutes
    ckpt_every: float = 4.0  # minutes
    max_minutes: float = 0.0  # 0 = no limit for this run
    seed: int = 0
    threads: int = 0
    val_count: int = 16
    eval_size: int = 384
    init_from: str = ""
    lower: str = ""  # finished decoder one level down: its weights become this decoder's tail
    block_steps: int = 0  # first steps train only the new head, in the lower level's feature space
    ema: float = 0.0  # decay of an exponential moving average of the weights (0 = off); evaluated and saved instead
    deepen: str = ""  # "0,1": one more conv after each of these mirror convs (identity-initialised over --init-from)
    enlarge: float = 0.0  # fraction of crops cut from a smaller region and enlarged (1-1.6x), like small photos
    channels_last: bool = True
    bf16: bool = False  # forward and backward under bfloat16 autocast; weights, optimiser and evaluation stay float32
    device: str = "cpu"
    extra: dict = field(default_factory=dict)

    def folder(self) -> Path:
        return Path(self.out) if self.out else cache_dir() / "train" / self.level


def split_images(folder: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """(train, held-out) image paths; about 1 in 20 files is held out, decided by a hash of its name."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    held = [p for p in files if int(hashlib.sha1(p.name.encode()).hexdigest()[:8], 16) % 20 == 0]
    held_set = set(held)
    return [p for p in files if p not in held_set], held


def _load_rgb(path: Path) -> torch.Tensor:
    with Image.open(path) as im:
        arr = torch.frombuffer(bytearray(im.convert("RGB").tobytes()), dtype=torch.uint8)
        return arr.view(im.height, im.width, 3).permute(2, 0, 1).contiguous()


def _sized(img: torch.Tensor, long_side: int) -> torch.Tensor:
    """(3,H,W) uint8 -> (1,3,h,w) float in [0,1], long side ``long_side``, sides multiples of 16."""
    return fit_multiple(img[None].float() / 255.0, long_side)


def _crop_side(short: int, cfg: TrainConfig, gen: torch.Generator) -> int:
    """Side of the photo region a crop is cut from: 1-2x the crop (shrunk), or with probability
    ``cfg.enlarge`` 1/1.6-1x the crop (enlarged bicubically, as small photos are at a larger working size)."""
    c = cfg.crop
    if cfg.enlarge and bool(torch.rand((), generator=gen) < cfg.enlarge):
        return min(short, max(16, round(c / (1 + 0.6 * float(torch.rand((), generator=gen))))))
    hi = max(c, min(short, 2 * c))
    return min(short, c + int(torch.randint(hi - c + 1, (1,), generator=gen)))


def _random_batch(images: list[torch.Tensor], cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Random crops with scale jitter and horizontal flips, (B,3,crop,crop)."""
    out = []
    c = cfg.crop
    for _ in range(cfg.batch):
        img = images[int(torch.randint(len(images), (1,), generator=gen))]
        h, w = img.shape[1:]
        side = _crop_side(min(h, w), cfg, gen)
        y = int(torch.randint(h - side + 1, (1,), generator=gen))
        x = int(torch.randint(w - side + 1, (1,), generator=gen))
        patch = img[None, :, y : y + side, x : x + side].float() / 255.0
        patch = resize_to(patch, (c, c))  # as the engine resizes: antialiased shrinking, bicubic enlarging
        if bool(torch.rand((), generator=gen) < 0.5):
            patch = patch.flip(-1)
        out.append(patch)
    return torch.cat(out).clamp(0, 1)


@torch.no_grad()
def feature_scale(encoder: Encoder, images: list[torch.Tensor], level: str, cfg: TrainConfig) -> torch.Tensor:
    """Per-channel RMS of the tap over 64 crops, floored at 10% of the level's mean RMS."""
    gen = torch.Generator().manual_seed(12345)
    sq = None
    n = 0
    for _ in range(max(1, 64 // cfg.batch)):
        feats = encoder(_random_batch(images, cfg, gen).to(cfg.device), upto=level)[level]
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
        x = _sized(img, size).to(device)
        y = decoder(encoder(x, upto=decoder.level)[decoder.level]).clamp(0, 1)
        y = (y * 255).round() / 255  # as an 8-bit image
        ps.append(float(psnr(y, x)))
        ss.append(float(ssim(y, x)))
    decoder.train()
    return sum(ps) / len(ps), sum(ss) / len(ss)


def _lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * t))


def graft_lower(decoder: Decoder, lower_weights: str, *, copy: bool = True) -> int:
    """Copy a finished lower-level decoder into ``decoder``'s tail; returns the number of head modules.

    The mirror architecture makes decoder(relu_k) = head(relu_k) -> tail, where the tail is exactly the
    decoder of relu_(k-1) and the head must output that level's normalised features.
    """
    state = {k: v.float() for k, v in load_file(lower_weights).items()}
    lower_level = LEVELS[LEVELS.index(decoder.level) - 1]
    lower = Decoder(lower_level, extra_from_metadata(safetensors_metadata(Path(lower_weights))))
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


def _save_checkpoint(folder: Path, decoder: Decoder, opt: torch.optim.Optimizer, gen: torch.Generator, meta: dict,
                     avg: AveragedModel | None = None) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in decoder.state_dict().items()}
    if avg is not None:
        tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in avg.state_dict().items()})
    state = opt.state_dict()
    for idx, st in state["state"].items():
        for k, v in st.items():
            tensors[f"opt.{idx}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    tensors["rng"] = gen.get_state()
    meta = dict(meta, param_groups=state["param_groups"])
    metadata = {"meta": json.dumps(meta), **extra_metadata(decoder)}
    atomic_write(folder / "last.safetensors", lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def _load_checkpoint(folder: Path, decoder: Decoder, opt: torch.optim.Optimizer, gen: torch.Generator) -> dict:
    path = folder / "last.safetensors"
    tensors = load_file(str(path))
    meta = json.loads(safetensors_metadata(path)["meta"])
    decoder.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    opt_state: dict = {"state": {}, "param_groups": meta.pop("param_groups")}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, idx, name = k.split(".", 2)
            opt_state["state"].setdefault(int(idx), {})[name] = v
    opt.load_state_dict(opt_state)
    gen.set_state(tensors["rng"])
    return meta


def _save_weights(decoder: Decoder, path: Path, meta: dict, dtype: torch.dtype = torch.float32) -> None:
    tensors = {k: v.detach().cpu().to(dtype).contiguous() for k, v in decoder.state_dict().items()}
    metadata = {**{k: str(v) for k, v in meta.items()}, **extra_metadata(decoder)}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def _deepen(cfg: TrainConfig) -> tuple[int, ...]:
    """The mirror convs --deepen names, checked against the level's architecture."""
    try:
        extra = parse_extra(cfg.deepen)
        decoder_layers(cfg.level, extra)
    except ValueError as exc:
        raise InputError(f"--deepen {cfg.deepen!r}: {exc}; fix: give mirror conv numbers such as 0,1") from None
    return extra


def _initial_decoder(cfg: TrainConfig, encoder: Encoder, images: list[torch.Tensor]) -> Decoder:
    """The checkpoint's architecture when resuming; else --init-from's weights (deepened if asked); else a fresh one."""
    last = cfg.folder() / "last.safetensors"
    deepen = _deepen(cfg)
    if last.is_file():
        return Decoder(cfg.level, extra_from_metadata(safetensors_metadata(last)))
    if cfg.init_from:
        decoder = Decoder(cfg.level, extra_from_metadata(safetensors_metadata(Path(cfg.init_from))))
        decoder.load_state_dict({k: v.float() for k, v in load_file(cfg.init_from).items()}, strict=True)
        return deepened(decoder, deepen) if deepen else decoder
    decoder = Decoder(cfg.level, deepen)
    decoder.scale.copy_(feature_scale(encoder, images, cfg.level, cfg))
    return decoder


def _log(folder: Path, record: dict) -> None:
    with open(folder / "log.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)


def _loss(encoder: Encoder, decoder: Decoder, x: torch.Tensor, cfg: TrainConfig, n_head: int, lower_level: str,
          head_phase: bool, alpha: float = 1.0) -> torch.Tensor:
    """The batch's loss: in the head phase the grafted head against the lower level's features, else pixels (+ features)."""
    with torch.no_grad():
        taps = encoder(x, upto=cfg.level)
    feats = taps[cfg.level]
    if head_phase and n_head:
        target = taps[lower_level] / decoder.lower_scale.view(1, -1, 1, 1)
        return F.mse_loss(decoder.layers[:n_head](feats / decoder.scale.view(1, -1, 1, 1)).float(), target.float())
    y = decoder(feats)
    loss = F.mse_loss(y.float(), x)
    if cfg.feature_weight > 0 and not head_phase:
        s = decoder.scale.view(1, -1, 1, 1)
        loss = loss + cfg.feature_weight * F.mse_loss((encoder(y, upto=cfg.level)[cfg.level] / s).float(), (feats / s).float())
    if cfg.stylize > 0 and not head_phase:
        loss = loss + cfg.stylize * _stylized_loss(encoder, decoder, taps, cfg, alpha)
    return loss


STYLIZE_ALPHA = (0.5, 1.0)  # the range the stylization term's alpha is drawn from (the engine's default is 0.65)


def _stylize_alpha(gen: torch.Generator) -> float:
    lo, hi = STYLIZE_ALPHA
    return lo + (hi - lo) * float(torch.rand((), generator=gen))


def transferred(taps: dict[str, torch.Tensor], level: str, alpha: float) -> torch.Tensor:
    """Each crop's features at ``level`` given the next crop's mean and covariance (OST mixed by ``alpha``), float32."""
    f = taps[level].float()
    with torch.autocast(f.device.type, enabled=False):
        flat = flat_features(f)
        mean, cov = mean_and_covariance(flat_features(f.roll(1, dims=0)))
        return wct(flat, mean[..., 0], coloring_matrix(cov), alpha, kind="ost").float().view(f.shape)


def _stylized_loss(encoder: Encoder, decoder: Decoder, taps: dict[str, torch.Tensor], cfg: TrainConfig,
                   alpha: float) -> torch.Tensor:
    """Decode ``transferred`` features: their relative feature error plus the mean statistics distance of the
    output from the style crop's at each level up to the tap (refine.statistics_loss)."""
    with torch.no_grad():
        target = transferred(taps, cfg.level, alpha)
        stats = {lv: mean_and_covariance(flat_features(taps[lv].float().roll(1, dims=0))) for lv in _stat_levels(cfg)}
    out = encoder(decoder(target), upto=cfg.level)
    s = decoder.scale.view(1, -1, 1, 1)
    loss = F.mse_loss((out[cfg.level] / s).float(), target / s)
    for lv, (mean, cov) in stats.items():
        f = flat_features(out[lv].float())
        per = [statistics_loss(f[b], mean[b, :, 0].float(), cov[b].float()) for b in range(f.shape[0])]
        loss = loss + torch.stack(per).mean() / len(stats)
    return loss


def _stat_levels(cfg: TrainConfig) -> list[str]:
    return list(LEVELS[: LEVELS.index(cfg.level) + 1])


def train_decoder(cfg: TrainConfig) -> Path:
    """Train (or resume) one level's decoder; returns the checkpoint folder. Stops at cfg.steps or cfg.max_minutes."""
    cfg.level = parse_level(cfg.level)
    for name in ("feature_weight", "stylize"):
        if not getattr(cfg, name) >= 0:  # also NaN
            flag = "--" + name.replace("_", "-")
            raise InputError(f"{flag} {getattr(cfg, name)}: a loss weight must be 0 or more; fix: give e.g. {flag} 0.02")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    folder = cfg.folder()
    folder.mkdir(parents=True, exist_ok=True)
    train_paths, held_paths = split_images(cfg.images)
    t0 = time.time()
    train_imgs = [_load_rgb(p) for p in train_paths]
    held_imgs = [_load_rgb(p) for p in held_paths[: cfg.val_count]]
    print(f"{len(train_imgs)} training images, {len(held_paths)} held out ({len(held_imgs)} used), "
          f"loaded in {time.time() - t0:.0f}s", flush=True)  # fmt: skip

    encoder = Encoder().to(cfg.device)
    decoder = _initial_decoder(cfg, encoder, train_imgs).to(cfg.device)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
    meta = {"step": 0, "images_seen": 0, "best_psnr": -1.0, "best_ssim": 0.0, "config": asdict(cfg)}
    if (folder / "last.safetensors").is_file():
        meta.update(_load_checkpoint(folder, decoder, opt, gen))
        print(f"resumed at step {meta['step']} ({meta['images_seen']} images)", flush=True)
    elif cfg.init_from:
        meta["init_sha256"] = _sha256(Path(cfg.init_from))  # export adds that file's training to the totals
    meta["config"] = asdict(cfg)
    resumed = meta["step"] > 0
    n_head = graft_lower(decoder, cfg.lower, copy=not resumed) if cfg.lower else 0
    lower_level = LEVELS[LEVELS.index(cfg.level) - 1] if cfg.lower else ""
    if cfg.channels_last:
        encoder = encoder.to(memory_format=torch.channels_last)
        decoder = decoder.to(memory_format=torch.channels_last)
    avg = _averaged(decoder, cfg.ema, folder)
    judged = decoder if avg is None else avg.module  # the weights that are evaluated and saved

    start = time.time()
    last_ckpt = last_eval = start
    first_step = meta["step"]
    losses: list[float] = []
    decoder.train()
    while meta["step"] < cfg.steps:
        lr = _lr_at(meta["step"], cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        x = _random_batch(train_imgs, cfg, gen).to(cfg.device)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        alpha = _stylize_alpha(gen) if cfg.stylize > 0 else 1.0
        with torch.autocast(torch.device(cfg.device).type, dtype=torch.bfloat16, enabled=cfg.bf16):
            loss = _loss(encoder, decoder, x, cfg, n_head, lower_level, meta["step"] < cfg.block_steps, alpha)
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
            p, s = evaluate(encoder, judged, held_imgs, cfg.eval_size, cfg.device)
            per_step = round((now - start) / max(1, meta["step"] - first_step), 3)
            rec = {"step": meta["step"], "images": meta["images_seen"], "loss": sum(losses) / len(losses), "lr": lr,
                   "val_psnr": round(p, 3), "val_ssim": round(s, 4), "sec_per_step": per_step}
            _log(folder, rec)
            if p > meta["best_psnr"] or cfg.stylize > 0:  # stylization is judged by benchmarks/quality.py, not PSNR
                meta.update(best_psnr=p, best_ssim=s, best_step=meta["step"], best_images=meta["images_seen"])
                _save_weights(judged, folder / "best.safetensors",
                              {"level": cfg.level, "encoder": ENCODER_ID, "step": meta["step"],
                               "images_seen": meta["images_seen"], "init_sha256": meta.get("init_sha256", "")})
            losses.clear()
            last_eval = time.time()
        if now - last_ckpt > cfg.ckpt_every * 60 or done:
            _save_checkpoint(folder, decoder, opt, gen, meta, avg)
            last_ckpt = time.time()
        if done:
            break
    return folder


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _init_sha256(folder: Path, info: dict[str, str]) -> str:
    """SHA-256 of the weights a run in ``folder`` started from ('' if it started from scratch or is unknown)."""
    if info.get("init_sha256"):
        return info["init_sha256"]
    last = folder / "last.safetensors"  # checkpoints from before init_sha256 was recorded: ask the run's config
    if not last.is_file():
        return ""
    meta = json.loads(safetensors_metadata(last).get("meta", "{}"))
    init = meta.get("init_sha256") or meta.get("config", {}).get("init_from", "")
    if init and len(init) != 64:
        init = _sha256(Path(init)) if Path(init).is_file() else ""
    return init


def _prior_training(init_sha: str, shipped: dict | None) -> tuple[int, int]:
    """(images, steps) already in the weights a run started from, when those are ``shipped`` (a manifest entry)."""
    if not shipped or not init_sha or init_sha != shipped.get("sha256"):
        return 0, 0
    return int(shipped.get("images_seen", 0)), int(shipped.get("steps", 0))


def export_decoder(folder: Path, level: str, dest: Path, images: str, *, eval_count: int = 32, eval_size: int = 512) -> dict:
    """Write ``folder``/best.safetensors as float16 ``dest``/LEVEL.safetensors and record it in the manifest.

    The held-out PSNR/SSIM in the manifest are measured on the float16 weights as shipped.
    """
    level = parse_level(level)
    src = folder / "best.safetensors"
    info = safetensors_metadata(src)
    state = load_file(str(src))
    decoder = Decoder(level, extra_from_metadata(info))
    decoder.load_state_dict({k: v.half().float() for k, v in state.items()}, strict=True)
    _, held = split_images(images)
    p, s = evaluate(Encoder(), decoder, [_load_rgb(x) for x in held[:eval_count]], eval_size, "cpu")
    dest.mkdir(parents=True, exist_ok=True)
    manifest_path = dest / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"decoders": []}
    shipped = next((e for e in manifest["decoders"] if e["level"] == level), None)
    prior_images, prior_steps = _prior_training(_init_sha256(folder, info), shipped)
    out = dest / f"{level}.safetensors"
    _save_weights(decoder, out, {"level": level, "encoder": ENCODER_ID, "format": "wct-decoder-1"}, torch.float16)
    entry = {
        "level": level,
        "file": out.name,
        "encoder": ENCODER_ID,
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "parameters": sum(p.numel() for p in decoder.parameters()),
        "images_seen": prior_images + int(info.get("images_seen", 0)),
        "steps": prior_steps + int(info.get("step", 0)),
        "heldout_psnr": round(p, 2),
        "heldout_ssim": round(s, 4),
        "heldout_protocol": f"{min(eval_count, len(held))} held-out photos, {eval_size} px long side, 8-bit output",
    }
    others = [e for e in manifest["decoders"] if e["level"] != level]
    manifest["decoders"] = sorted([*others, entry], key=lambda e: LEVELS.index(e["level"]))
    atomic_write(manifest_path, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2) + "\n"))
    return entry


def add_arguments(parser) -> None:
    """Add one --option per TrainConfig field to an argparse parser."""
    helps = {
        "level": "level to train (relu1_1..relu5_1)", "images": "folder of training photos",
        "out": "checkpoint folder (default: the user cache)", "steps": "total optimiser steps (the LR schedule spans them)",
        "max_minutes": "stop this run after so many minutes (resume with the same command)",
        "lower": "weights of the finished decoder one level down, grafted as this one's tail",
        "block_steps": "first steps train only the new head against the lower level's features",
        "feature_weight": "weight of the feature reconstruction loss at the same tap",
        "stylize": "weight of the stylization term: decode other crops' statistics transferred onto each crop (OST, "
                   "alpha 0.5-1) back to those features and statistics; best.safetensors is then the latest evaluation",
        "ema": "keep an exponential moving average of the weights with this decay (e.g. 0.998) and evaluate/save it",
        "enlarge": "fraction of crops cut from a smaller region and enlarged bicubically by 1-1.6x (e.g. 0.5)",
        "bf16": "train under bfloat16 autocast (several times faster on CPUs with AMX or AVX512-BF16 and on recent GPUs; "
                "no faster elsewhere); weights, optimiser and evaluation stay float32",
        "deepen": "add a conv after each of these mirror convs (e.g. 0,1), identity-initialised when starting from --init-from",
    }
    for f in TrainConfig.__dataclass_fields__.values():
        if f.name == "extra":
            continue
        flag = "--" + f.name.replace("_", "-")
        required = f.name in ("level", "images")
        if f.type in ("bool", bool):
            parser.add_argument(flag, type=lambda v: v.lower() in ("1", "true", "yes"), default=f.default, help=helps.get(f.name))
        else:
            typ = {"int": int, "float": float, "str": str}.get(str(f.type), str)
            default = None if required else f.default
            parser.add_argument(flag, type=typ, required=required, default=default, help=helps.get(f.name))


def config_from_args(args) -> TrainConfig:
    return TrainConfig(**{k: getattr(args, k) for k in TrainConfig.__dataclass_fields__ if k != "extra"})


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="train one WCT decoder level")
    add_arguments(ap)
    ap.add_argument("--export-to", default="", help="after training, export best weights to this decoders folder")
    a = ap.parse_args()
    c = config_from_args(a)
    out = train_decoder(c)
    if a.export_to:
        print(json.dumps(export_decoder(out, c.level, Path(a.export_to), c.images)))
