"""A repeatable mutation run over the core modules: do the tests catch realistic bugs?

Each mutant is one small, realistic change to one module (an off-by-one, a swapped axis, a wrong
constant, a dropped term, a wrong default). The runner copies ``src/`` and ``tests/`` to a
scratch folder once, applies one mutant at a time there (the working tree is never touched), and
runs only the tests that cover that module, first failure stops. A mutant is *killed* when the
tests fail, *survives* when they pass; mutants marked equivalent (no test can tell them apart from
the original) are reported but left out of the score.

    python benchmarks/mutation_run.py [--only pooling,metrics] [--list] [--jobs 1]

It is a benchmark, not part of `make test` (about 20-40 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    area: str
    module: str  # path under src/segnet
    before: str  # must occur exactly once in the module
    after: str
    tests: tuple[str, ...]  # test files (under tests/) that cover the module
    what: str
    equivalent: bool = False  # no test can see it: reported, not scored


POOL = ("models/test_pooling.py", "export/test_export_pooling.py")
CONF = ("metrics/test_metrics_confusion.py",)
BF = ("metrics/test_metrics_boundary.py",)
BAL = ("data/test_data_balancing.py",)
TRANS = ("data/test_data_transforms.py", "data/test_data_crop_exact.py", "engine/test_recipe.py")
# Fast, targeted files first: -x stops at the first failure, so a killed mutant costs little.
SCHED = ("engine/test_schedule_applied.py", "engine/test_recipe.py", "engine/test_train_cli.py")
RESUME = ("engine/test_schedule_applied.py", "engine/test_resume_robust.py", "engine/test_train_cli.py")
CKPT = ("engine/test_checkpoint.py",)
OPT = ("inference/test_optimize.py", "quantize/test_quantize_model.py")
TTA = ("inference/test_tta.py",)
QUANT = ("quantize/test_quantize_model.py", "quantize/test_quantize_cli.py")
FEED = ("data/test_data_device_augment.py", "engine/test_device_feed.py")
BNR = ("engine/test_batchnorm_refresh.py",)
EMA = ("engine/test_weight_ema.py",)
LOSS = ("engine/test_loss.py",)
STOP = ("engine/test_stop_signal.py",)
SCORE = ("engine/test_evaluate_predictions.py", "engine/test_reports.py")
PRIOR = ("engine/test_prior_shift.py",)
SOUP = ("engine/test_soup.py",)
SOURCES = ("predict/test_predict_images.py",)
REFINE = ("inference/test_refine.py", "engine/test_evaluate_refine.py")
STARTUP = ("cli/test_cli_startup.py",)

MUTANTS = [
    # --- pooling -------------------------------------------------------------------------------
    Mutant("pooling", "models/pooling.py", "right_wins = torch.gt(top_right, top_left)",
           "right_wins = torch.ge(top_right, top_left)", POOL, "ties go to the later cell (top row)"),
    Mutant("pooling", "models/pooling.py", "right_wins_bottom = torch.gt(bottom_right, bottom_left)",
           "right_wins_bottom = torch.ge(bottom_right, bottom_left)", POOL, "ties go to the later cell (bottom row)"),
    Mutant("pooling", "models/pooling.py", "bottom_wins = torch.gt(bottom, top)",
           "bottom_wins = torch.ge(bottom, top)", POOL, "ties go to the bottom row"),
    Mutant("pooling", "models/pooling.py", "positions.bitwise_or_(bottom_bit.bitwise_left_shift_(1))",
           "positions.bitwise_or_(bottom_bit)", POOL, "row bit weighted 1 not 2"),
    Mutant("pooling", "models/pooling.py", "positions = right_bottom.bitwise_xor_(right).bitwise_and_(bottom_bit).bitwise_xor_(right)",
           "positions = right_bottom.bitwise_xor_(right).bitwise_xor_(right)", POOL, "column bit always the bottom row's"),
    Mutant("pooling", "models/pooling.py", "mask = (positions ^ (3 - code)).add_(1).bitwise_right_shift_(2)",
           "mask = (positions ^ code).add_(1).bitwise_right_shift_(2)", POOL, "window masks in reverse order"),
    Mutant("pooling", "models/pooling.py", "shifted, background = source - fill, values.new_full((), fill)",
           "shifted, background = source, values.new_full((), fill)", POOL, "uint8 unpooling adds fill to the values"),
    Mutant("models", "models/layers.py", ".mul_(self.alpha / self.size)", ".mul_(self.alpha)",
           ("models/test_models.py",), "LRN shortcut forgets to average over the window"),
    Mutant("pooling", "models/pooling.py", "_OFFSETS = ((0, 0), (0, 1), (1, 0), (1, 1))",
           "_OFFSETS = ((0, 0), (1, 0), (0, 1), (1, 1))", POOL, "window offsets transposed"),
    Mutant("pooling", "models/pooling.py", "padded = F.pad(x, (0, width % 2, 0, height % 2), value=value)",
           "padded = F.pad(x, (0, height % 2, 0, width % 2), value=value)", POOL, "odd padding on the wrong axes"),
    Mutant("pooling", "models/pooling.py", "packed = planes[3] << 6", "packed = planes[3] << 4", POOL,
           "pack: last code in the wrong bits"),
    Mutant("pooling", "models/pooling.py", "torch.bitwise_and(packed >> (2 * slot) if slot else packed, 3, out=planes[slot])",
           "torch.bitwise_and(packed >> slot if slot else packed, 3, out=planes[slot])", POOL, "unpack shift off"),
    Mutant("pooling", "models/pooling.py", "return compact_max_unpool2d(grad_pooled, PoolIndices(packed, *ctx.meta))",
           "return compact_max_unpool2d(grad_pooled, PoolIndices(packed, ctx.meta[0], ctx.meta[1], False))", POOL,
           "pool backward forgets channels-last"),
    Mutant("pooling", "models/pooling.py", "    return full[..., :height, :width]", "    return full[..., :height, :height]",
           POOL, "unpool crops width to height"),
    Mutant("pooling", "models/pooling.py", "col = torch.arange(cols, device=positions.device).view(1, -1) * 2 + positions % 2",
           "col = torch.arange(cols, device=positions.device).view(1, -1) * 2 + positions // 2", POOL,
           "flat index column from the row bit"),
    Mutant("pooling", "models/pooling.py", "lowest = float(\"-inf\") if x.is_floating_point() else torch.iinfo(x.dtype).min",
           "lowest = 0.0 if x.is_floating_point() else torch.iinfo(x.dtype).min", POOL, "odd padding 0 instead of -inf"),
    # --- confusion matrix metrics ----------------------------------------------------------------
    Mutant("metrics", "metrics/confusion.py", "union = gt + pred - tp", "union = gt + pred", CONF, "IoU union double-counts tp"),
    Mutant("metrics", "metrics/confusion.py", "gt = m.sum(axis=1)", "gt = m.sum(axis=0)", CONF, "ground truth from columns"),
    Mutant("metrics", "metrics/confusion.py", "\"class_accuracy\": float(recall[gt > 0].mean()) if (gt > 0).any() else float(\"nan\"),",
           "\"class_accuracy\": float(np.nan_to_num(recall).mean()),", CONF, "C averages over absent classes too"),
    Mutant("metrics", "metrics/confusion.py", "\"miou\": float(iou[union > 0].mean()) if (union > 0).any() else float(\"nan\"),",
           "\"miou\": float(iou[gt > 0].mean()) if (gt > 0).any() else float(\"nan\"),", CONF,
           "mIoU ignores false-positive classes"),
    Mutant("metrics", "metrics/confusion.py", "keep = (target >= 0) & (target < n)", "keep = (target >= 0) & (target <= n)",
           CONF, "off-by-one in the valid range"),
    Mutant("metrics", "metrics/confusion.py", "            keep &= target != self.ignore_index\n",
           "            pass\n", CONF, "ignore_index never applied"),
    # --- boundary F1 -----------------------------------------------------------------------------
    Mutant("metrics", "metrics/boundary.py", "DEFAULT_TOLERANCE_RATIO = 0.0075", "DEFAULT_TOLERANCE_RATIO = 0.01", BF,
           "tolerance 1% of the diagonal"),
    Mutant("metrics", "metrics/boundary.py", "DEFAULT_TOLERANCE_RATIO = 0.0075", "DEFAULT_TOLERANCE_RATIO = 0.075", BF,
           "tolerance 7.5% of the diagonal"),
    Mutant("metrics", "metrics/boundary.py", "    return f1, (pred_count + gt_count) > 0",
           "    return f1, (pred_count > 0) & (gt_count > 0)", BF, "classes in one map only are skipped"),
    Mutant("metrics", "metrics/boundary.py", "inside = dy**2 + dx**2 <= tolerance**2", "inside = dy**2 + dx**2 < tolerance**2",
           BF, "strict distance test"),
    Mutant("metrics", "metrics/boundary.py", "tolerance = tolerance_ratio * math.hypot(*target.shape)",
           "tolerance = tolerance_ratio * max(target.shape)", BF, "tolerance from the longer side"),
    Mutant("metrics", "metrics/boundary.py", "        step = (labels[lo_t] != labels[hi_t]) & valid[lo_t] & valid[hi_t]",
           "        step = (labels[lo_t] != labels[hi_t]) & valid[lo_t]", BF, "void edges count as boundaries"),
    Mutant("metrics", "metrics/boundary.py", "f1 = _ratio(2.0 * precision * recall, precision + recall)",
           "f1 = _ratio(precision * recall, precision + recall)", BF, "F1 without the factor 2"),
    # --- class balancing -------------------------------------------------------------------------
    Mutant("balancing", "data/balancing.py", "weights[present] = np.median(freq) / freq",
           "weights[present] = np.sort(freq)[len(freq) // 2] / freq", BAL, "upper median"),
    Mutant("balancing", "data/balancing.py", "weights[present] = np.median(freq) / freq",
           "weights[present] = np.mean(freq) / freq", BAL, "mean instead of median"),
    Mutant("balancing", "data/balancing.py", "h.update(f\"\\n{Path(label_path).resolve()}|{st.st_size}|{st.st_mtime_ns}\".encode())",
           "h.update(f\"\\n{Path(label_path).resolve()}|{st.st_size}\".encode())", BAL, "cache key without mtime"),
    Mutant("balancing", "data/balancing.py", "h.update(f\"\\n{Path(label_path).resolve()}|{st.st_size}|{st.st_mtime_ns}\".encode())",
           "h.update(f\"\\n{Path(label_path).resolve()}|{st.st_mtime_ns}\".encode())", BAL, "cache key without size"),
    # --- transforms ------------------------------------------------------------------------------
    Mutant("transforms", "data/transforms.py", "        box = (x, y, x + cw, y + ch)", "        box = (x, y, x + ch, y + cw)",
           TRANS, "crop box with height and width swapped"),
    Mutant("transforms", "data/transforms.py", "        x = int(rng.integers(0, pw - cw + 1))", "        x = int(rng.integers(0, pw - cw))",
           TRANS, "last horizontal offset never reached"),
    Mutant("transforms", "data/transforms.py", "sample = _resize(sample, max(1, round(w * s)), max(1, round(h * s)))",
           "sample = _resize(sample, max(1, int(w * s)), max(1, int(h * s)))", TRANS, "int() for round()"),
    Mutant("transforms", "data/transforms.py", "scale: tuple[float, float] = (0.5, 2.0), ignore_index: int = 255",
           "scale: tuple[float, float] = (0.75, 1.25), ignore_index: int = 255", TRANS, "default scale range changed"),
    Mutant("transforms", "data/transforms.py", "    steps += [RandomHorizontalFlip(0.5), ToTensor(), Normalize(mean, std)]",
           "    steps += [ToTensor(), Normalize(mean, std)]", TRANS, "train_transform never flips"),
    Mutant("transforms", "data/transforms.py", "        label = None if sample.label is None else _pad(sample.label, cw, ch, self.ignore_index)",
           "        label = None if sample.label is None else _pad(sample.label, cw, ch, 0)", TRANS,
           "crop padding labelled class 0"),
    # --- trainer: schedule and resume ------------------------------------------------------------
    Mutant("trainer", "engine/trainer.py", "    return cfg.lr * (1 - progress) ** 0.9", "    return cfg.lr * (1 - progress) ** 1.0",
           SCHED, "poly power 1.0"),
    Mutant("trainer", "engine/trainer.py", "            lr = learning_rate(cfg, state.global_step, total_steps, steps_per_epoch)",
           "            lr = learning_rate(cfg, state.global_step + 1, total_steps, steps_per_epoch)", SCHED,
           "rate of the next step"),
    Mutant("trainer", "engine/trainer.py", "                group[\"lr\"] = lr", "                group[\"lr\"] = cfg.lr", SCHED,
           "schedule ignored (always the base rate)"),
    Mutant("trainer", "engine/trainer.py", "        return cfg.lr * (0.01 + 0.99 * step / warmup)",
           "        return cfg.lr * step / warmup", SCHED, "warm-up from zero"),
    Mutant("trainer", "engine/trainer.py", "        return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))",
           "        return cfg.lr * math.cos(0.5 * math.pi * progress)", SCHED, "quarter-cosine"),
    Mutant("trainer", "engine/trainer.py", "    _set_rng_state(data[\"rng\"])\n", "    pass\n", RESUME,
           "resume skips the RNG restore"),
    Mutant("trainer", "engine/trainer.py", "skip=state.step_in_epoch * cfg.accum_steps * cfg.batch_size)",
           "skip=state.step_in_epoch * cfg.batch_size)", RESUME, "resume skip ignores accumulation"),
    Mutant("trainer", "engine/trainer.py", "generator=torch.Generator().manual_seed(cfg.seed * 100_003))",
           "generator=None)", RESUME, "loader draws from the global generator"),
    # --- checkpoint ------------------------------------------------------------------------------
    Mutant("checkpoint", "checkpoint.py", "            os.fsync(handle.fileno())\n        os.chmod(tmp, _default_mode())\n",
           "            os.fsync(handle.fileno())\n", CKPT, "checkpoints written 0600"),
    Mutant("checkpoint", "checkpoint.py", "            os.fsync(handle.fileno())\n", "            pass\n", CKPT,
           "fsync dropped (only a power cut can tell)", equivalent=True),
    # --- optimize --------------------------------------------------------------------------------
    Mutant("optimize", "optimize.py", "    fast = copy.deepcopy(model).eval()\n    if fold_bn:\n        fold_batchnorm(fast)\n    dtype = torch.bfloat16 if precision == \"bf16\" else torch.float32\n",
           "    fast = copy.deepcopy(model).eval()\n    dtype = torch.bfloat16 if precision == \"bf16\" else torch.float32\n    fast.to(dtype=dtype)\n    if fold_bn:\n        fold_batchnorm(fast)\n",
           OPT, "BatchNorm folded after the bf16 cast"),
    Mutant("optimize", "optimize.py", "    fold_bn: bool = True,\n    device: str | torch.device = \"cpu\",\n) -> nn.Module:\n    \"\"\"A float32 or bf16",
           "    fold_bn: bool = False,\n    device: str | torch.device = \"cpu\",\n) -> nn.Module:\n    \"\"\"A float32 or bf16",
           OPT, "fold_bn defaults to False"),
    Mutant("optimize", "optimize.py", "            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:",
           "            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and not bn.track_running_stats:",
           OPT, "folding never happens"),
    # --- quantize --------------------------------------------------------------------------------
    Mutant("quantize", "quantize.py", "        scale = max(high - low, 1e-8) / 255.0", "        scale = max(high - low, 1e-8) / 256.0",
           QUANT, "grid step for 256 levels"),
    Mutant("quantize", "quantize.py", "        return cls(scale, int(round(-low / scale)))", "        return cls(scale, int(-low / scale))",
           QUANT, "zero point truncated"),
    Mutant("quantize", "quantize.py", "        low, high = min(low, 0.0), max(high, 0.0)", "        low, high = low, high",
           QUANT, "zero not kept on the grid"),
    Mutant("quantize", "quantize.py", "        low = 0.0 if relu else float(x.min())", "        low = float(x.min())",
           QUANT, "ReLU outputs calibrated from their pre-activation minimum"),
    Mutant("quantize", "quantize.py", "        old[0], old[1] = min(old[0], low), max(old[1], high)",
           "        old[0], old[1] = low, high", QUANT, "ranges of the last batch only"),
    Mutant("quantize", "quantize.py", "    return 127 if cpu_has_fast_int8() else 63", "    return 127",
           ("quantize/test_quantize_kernels.py",), "8-bit weights without VNNI (AVX2's int16 sums overflow)"),
    Mutant("quantize", "optimize.py", "    if calibrated and int8_kernels_available():",
           "    if calibrated and cpu_has_fast_int8():", OPT, "auto skips int8 on a CPU without VNNI"),
    Mutant("tta", "inference.py", "return total if len(sizes) == 1 else total / len(sizes)", "return total", TTA,
           "multiscale sums its passes instead of averaging them"),
    Mutant("tta", "tta.py", 'copies = 1 if mode == "none" else 2', "copies = 1", TTA,
           "the TTA cost line forgets the mirrored passes"),
    Mutant("tta", "tta.py", "int(side * scale / 16 + 0.5) * 16", "int(round(side * scale / 16)) * 16", TTA,
           "scaled sizes rounded half to even"),
    Mutant("tta", "inference.py", "mirror=tta != \"none\")", "mirror=tta == \"flip\")", TTA,
           "multiscale forgets the mirrored passes"),
    Mutant("tta", "tta.py", 'return "flip" if fixed_size else "multiscale"',
           'return "multiscale" if fixed_size else "flip"', TTA, "auto picks the wrong mode"),
    Mutant("tta", "tta.py", "        return mode, parse_scales(listed)\n", "        return mode, TTA_SCALES\n", TTA,
           "multiscale:S1,S2 runs the default scales instead of those listed"),
    Mutant("tta", "tta.py", "if not scales or not all(0 < scale <= 4 for scale in scales):",
           "if not scales:", TTA, "zero or negative scales accepted"),
    Mutant("device feed", "data/device_augment.py", "image, label = image.flip(-1), label.flip(-1)",
           "image, label = image, label.flip(-1)", FEED, "the flip mirrors the label but not the image"),
    Mutant("device feed", "data/device_augment.py", "image = _blend(_luma(image).mean(), image, factors[1])",
           "image = _blend(_luma(image).mean(), image, factors[2])", FEED, "contrast takes the saturation factor"),
    Mutant("device feed", "data/device_augment.py", "    x = int(rng.integers(0, pw - cw + 1))\n    y = int(rng.integers(0, ph - ch + 1))",
           "    y = int(rng.integers(0, ph - ch + 1))\n    x = int(rng.integers(0, pw - cw + 1))", FEED,
           "crop offsets drawn in the other order"),
    Mutant("device feed", "data/device_augment.py", "out_label = label.new_full((ch, cw), ignore_index)",
           "out_label = label.new_zeros((ch, cw))", FEED, "padding labelled as class 0, not ignored"),
    Mutant("device feed", "data/device_augment.py", "for n in (5.0, 3.0, 1.0):", "for n in (1.0, 3.0, 5.0):", FEED,
           "hue round trip returns the channels in the wrong order"),
    Mutant("bn refresh", "engine/batchnorm_refresh.py", "norm.momentum = None  # cumulative average over all batches",
           "norm.momentum = 0.1", BNR, "exponential instead of plain average"),
    Mutant("bn refresh", "engine/batchnorm_refresh.py", "    model.eval()\n", "    model.train()\n", BNR,
           "dropout left on while measuring"),
    Mutant("bn refresh", "engine/batchnorm_refresh.py", "            norm.momentum = momentum\n", "            pass\n",
           BNR, "momentum not restored"),
    Mutant("weight ema", "engine/trainer.py", "use_buffers=True)", "use_buffers=False)", EMA,
           "BatchNorm statistics copied instead of averaged"),
    Mutant("weight ema", "engine/trainer.py", "scored = model if ema is None else ema.module", "scored = model", EMA,
           "validation and best.pt score the raw weights"),
    Mutant("weight ema", "engine/trainer.py", "        ema.load_state_dict(data[\"ema\"])\n", "        pass\n", EMA,
           "resume restarts the average from the raw weights"),
    Mutant("lovasz", "engine/loss.py", "false_positives = (1.0 - foreground_sorted).cumsum(-1)",
           "false_positives = foreground_sorted.cumsum(-1)", LOSS, "union grows with foreground, not false positives"),
    Mutant("lovasz", "engine/loss.py", "errors_sorted, order = errors.sort(dim=-1, descending=True)",
           "errors_sorted, order = errors.sort(dim=-1)", LOSS, "errors in rising order"),
    Mutant("lovasz", "engine/loss.py", "per_image = (per_class * present).sum(1) / present.sum(1).clamp_min(1)",
           "per_image = (per_class * present).sum(1)", LOSS, "classes summed, not averaged"),
    Mutant("lovasz", "engine/loss.py", "present = foreground.sum(-1) > 0",
           "present = torch.ones_like(per_class, dtype=torch.bool)", LOSS, "absent classes count too"),
    Mutant("lovasz", "engine/trainer.py", "images_in_step = sum(target.shape[0] for _, target in micro)",
           "images_in_step = micro[0][1].shape[0]", LOSS, "Lovász normalised by one micro-batch"),
    Mutant("stop", "engine/trainer.py", """                    # The step failed before the weights changed, so last.pt is the previous step's state.
                    if stop.requested:
                        stop_here()
                    raise""", """                    raise""", STOP, "a step lost to Ctrl-C is a crash"),
    Mutant("stop", "engine/stop.py", "self._previous[chld] = signal.signal(chld, _child_ended)",
           "self._previous[chld] = signal.getsignal(chld)", STOP,
           "after a stop, a worker's death still raises in mid-step"),
    Mutant("stop", "engine/stop.py", "            signal.signal(number, previous)", "            pass", STOP,
           "the replaced handlers are not put back"),
    Mutant("trainer", "engine/trainer.py", "global_counts[0].clamp_min(1.0), global_counts[1]",
           "global_counts[0].clamp_min(1.0), float(images_in_step)", ("engine/test_train_cli.py",),
           "under torchrun the Lovász term averages over this rank's images only"),
    Mutant("stop", "engine/trainer.py", "    if not dist_info.enabled:\n        return stop.requested",
           "    if True:\n        return stop.requested", STOP, "under torchrun each rank stops on its own signal only"),
    Mutant("stop", "engine/trainer.py", "        stop.signal_number = int(signal.SIGTERM)  # another rank was told",
           "        pass  # another rank was told", STOP, "a rank stopped by another's vote names no signal"),
    Mutant("stop", "engine/trainer.py", "    save(last_path, fields)\n    barrier()", "    barrier()", STOP,
           "the stop writes no checkpoint"),
    # --- scoring saved predictions and the report files ------------------------------------------
    Mutant("score", "engine/evaluate.py", "(images_for is None or index in images_for)", "True", SCORE,
           "every frame's image is decoded though no sample panel wants it"),
    Mutant("score", "engine/evaluate.py", "label = torch.from_numpy(dataset.load_label(index).astype(np.int64))",
           "label = torch.from_numpy(np.minimum(dataset.load_label(index), 10).astype(np.int64))", SCORE,
           "the label-only read maps void onto a class"),
    Mutant("score", "engine/reports.py", "    from matplotlib.figure import Figure\n",
           "    import matplotlib\n\n    matplotlib.use(\"Agg\")\n    from matplotlib.figure import Figure\n", SCORE,
           "the heat map switches the caller's matplotlib backend"),
    # --- the class-prior shift and the torch-free command line ------------------------------------
    Mutant("prior", "prior.py", "return (-alpha * logs).float()", "return (alpha * logs).float()", PRIOR,
           "the shift pushes further towards the weighted prior"),
    Mutant("prior", "prior.py", "torch.where(weights > 0, weights.clamp_min(1e-300).log(), torch.zeros_like(weights))",
           "weights.clamp_min(1e-300).log()", PRIOR, "a class the run never saw gets a huge offset"),
    Mutant("prior", "cli/shift_prior_cmd.py", "parse_names(args.holdout if args.holdout is not None else config.get(\"holdout\"))",
           "parse_names(args.holdout)", PRIOR, "the run's held-out recordings count in its class weights"),
    Mutant("prior", "cli/shift_prior_cmd.py", "shift_class_prior(loaded.model, -torch.tensor(",
           "shift_class_prior(loaded.model, torch.tensor(", PRIOR, "--undo shifts a second time"),
    # --- model soups ---------------------------------------------------------------------------------
    Mutant("soup", "soup.py", "sum(share * state[key].float() for share, state in zip(shares, states)).contiguous()",
           "(sum(state[key].float() for state in states) / len(states)).contiguous()", SOUP,
           "--weights are ignored: every part weighs the same"),
    Mutant("soup", "soup.py", "    return [float(w) / total for w in weights]", "    return [float(w) for w in weights]",
           SOUP, "shares are not normalised: the soup's weights are scaled"),
    Mutant("soup", "soup.py", "    soup = without_training_state(dict(first))\n    for key in _MEASURED_ON_WEIGHTS:\n        soup.pop(key, None)\n",
           "    soup = without_training_state(dict(first))\n", SOUP,
           "the first part's int8 ranges are kept for weights they were not measured on"),
    Mutant("soup", "soup.py", '_SAME_MEANING = ("model", "classes", "normalization", "size")',
           '_SAME_MEANING = ("model", "classes", "normalization")', SOUP,
           "parts trained at different working sizes are averaged without a word"),
    # --- dense CRF refinement --------------------------------------------------------------------------
    Mutant("refine", "refine.py", "return (sliced[:, :channels] / sliced[:, channels:].clamp_min(1e-6))",
           "return (sliced[:, :channels] / 8.0)", REFINE,
           "the appearance filter is not normalised: its weight depends on how many pixels share a cell"),
    Mutant("refine", "refine.py", "marginals = (logits + messages).softmax(0)", "marginals = (logits - messages).softmax(0)",
           REFINE, "the pairwise term rewards disagreeing with look-alike pixels (the Potts sign flipped)"),
    Mutant("refine", "refine.py", 'return "none" if tta.partition(":")[0] == "none" else "crf"',
           'return "crf" if tta == "multiscale" else "none"', REFINE,
           "auto refines plain multiscale only (not its listed scales, not flip)"),
    Mutant("refine", "engine/evaluate.py", "            logits = refine_logits(logits, rgb_from_normalised(images.to(device), *normalization), refine,\n"
           "                                   prior_adjustment=prior_adjustment)\n",
           "", REFINE, "evaluate --refine crf scores the unrefined labels"),
    Mutant("refine", "inference.py", "self._prior_adjustment = crf_prior_adjustment(loaded.prior_offsets)",
           "self._prior_adjustment = None", REFINE, "a Segmenter's CRF starts from the model's own prior shift"),
    Mutant("refine", "refine.py", "    kernel = kernel / kernel.sum()\n", "", REFINE,
           "the smoothness blur's kernel is not normalised (it scales the maps by about 7.5)"),
    Mutant("refine", "refine.py", "* (setting.prior_share - 1)", "* (1 - setting.prior_share)",
           REFINE, "the CRF's prior adjustment goes the wrong way (twice the shift, not none of it)"),
    Mutant("stop", "engine/stop.py", "signal.signal(chld, _child_ended)", "signal.signal(chld, signal.SIG_DFL)", STOP,
           "a worker's death pending with the stop meets SIG_DFL: Python prints a race-condition traceback"),
    # --- several SOURCE arguments (segnet predict a.png b.png, a glob the shell expanded) ------------------
    Mutant("sources", "sources.py", "    return Sources(images=tuple(images))\n", "    return Sources(images=tuple(sorted(images)))\n",
           SOURCES, "several sources are sorted by path, not kept in the order given"),
    Mutant("sources", "sources.py", "images = dict.fromkeys(path for each in resolved for path in each.images)",
           "images = [path for each in resolved for path in each.images]", SOURCES,
           "a file named twice (a.png and 'sub/*.png') is segmented twice"),
    Mutant("sources", "sources.py", "videos = [str(each.video) for each in resolved if each.video is not None]",
           "videos = [str(each.video) for each in resolved[:1] if each.video is not None]", SOURCES,
           "a video after an image is dropped without a word"),
    Mutant("startup", "cli/predict_cmd.py", "from ..tta import DEFAULT_TTA\n", "from ..inference import DEFAULT_TTA\n",
           STARTUP, "parsing predict's options loads torch"),
]


def run_one(mutant: Mutant, scratch: Path, timeout: int) -> tuple[str, float]:
    target = scratch / "src" / "segnet" / mutant.module
    original = target.read_text()
    if original.count(mutant.before) != 1:
        return "stale", 0.0  # the code moved on: fix the mutant's text
    target.write_text(original.replace(mutant.before, mutant.after))
    try:
        env = {**os.environ, "PYTHONPATH": str(scratch / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:logging",
               *[str(scratch / "tests" / t) for t in mutant.tests]]
        start = time.perf_counter()
        try:
            result = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True, text=True, timeout=timeout)
            outcome = "survived" if result.returncode == 0 else "killed"
            if result.returncode not in (0, 1):
                outcome = "killed"  # a crash or collection error is also the tests noticing
        except subprocess.TimeoutExpired:
            outcome = "timeout"  # neither: reported, not scored as a kill
        return outcome, time.perf_counter() - start
    finally:
        target.write_text(original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    areas = ", ".join(dict.fromkeys(mutant.area for mutant in MUTANTS))
    parser.add_argument("--only", help=f"comma-separated areas ({areas})")
    parser.add_argument("--match", help="only mutants whose description contains this text")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per mutant's test run (default 900)")
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if (not args.only or m.area in args.only.split(","))
              and (not args.match or args.match in m.what)]
    if args.list:
        for m in chosen:
            print(f"{m.area:<11}{m.module:<22}{m.what}{'  (equivalent)' if m.equivalent else ''}")
        return
    scratch = Path(tempfile.mkdtemp(prefix="segnet-mutants-"))
    try:
        shutil.copytree(ROOT / "src", scratch / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
        shutil.copytree(ROOT / "tests", scratch / "tests", ignore=shutil.ignore_patterns("__pycache__", "artifacts"))
        check = subprocess.run([sys.executable, "-c", "import segnet; print(segnet.__file__)"], cwd=scratch,
                               env={**os.environ, "PYTHONPATH": str(scratch / "src")}, capture_output=True, text=True)
        if not check.stdout.strip().startswith(str(scratch)):
            raise SystemExit(f"the scratch copy does not shadow the installed package: {check.stdout.strip()}")
        print("| area | module | mutant | outcome | seconds |")
        print("| --- | --- | --- | --- | ---: |")
        scored = killed = stale = 0
        survivors = []
        for mutant in chosen:
            outcome, seconds = run_one(mutant, scratch, args.timeout)
            label = outcome + (" (equivalent)" if mutant.equivalent else "")
            print(f"| {mutant.area} | {mutant.module} | {mutant.what} | {label} | {seconds:.0f} |", flush=True)
            stale += outcome in ("stale", "timeout")
            if mutant.equivalent or outcome in ("stale", "timeout"):
                continue
            scored += 1
            if outcome.startswith("killed"):
                killed += 1
            else:
                survivors.append(mutant)
        print(f"\nsummary: killed={killed} scored={scored} score={100 * killed / max(scored, 1):.1f}% "
              f"equivalent={sum(m.equivalent for m in chosen)} stale_or_timeout={stale}")
        for mutant in survivors:
            print(f"survivor: {mutant.module}: {mutant.what}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
