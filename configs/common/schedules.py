from fvcore.common.param_scheduler import CosineParamScheduler, MultiStepParamScheduler

from detectron2.config import LazyCall as L
from detectron2.solver import WarmupParamScheduler


def step_schedule(max_iter: int, steps_fraction=(2 / 3, 8 / 9), warmup_iters: int = 1000):
    """LR x1 until the first step, x0.1, x0.01 after the second; linear warm-up from x0.001.
    The default fractions give Detectron2's 1x schedule (steps at 60k and 80k of 90k)."""
    return L(WarmupParamScheduler)(
        scheduler=L(MultiStepParamScheduler)(
            values=[1.0, 0.1, 0.01],
            milestones=[int(max_iter * f) for f in steps_fraction],
            num_updates=max_iter,
        ),
        warmup_length=warmup_iters / max_iter,
        warmup_factor=0.001,
    )


# COCO, 16 images per batch: 1x = 90k iterations (~12 epochs), 2x = 180k, 3x = 270k.
lr_multiplier_1x = step_schedule(90000)
lr_multiplier_2x = step_schedule(180000)
lr_multiplier_3x = step_schedule(270000)


def cosine_schedule(warmup_fraction: float, final_fraction: float = 0.01):
    """LR x1 decaying along a half cosine to ``final_fraction``, after a linear warm-up from
    x0.001 over the first ``warmup_fraction`` of training. Both are fractions of
    ``train.max_iter``, so overriding it keeps the schedule's shape."""
    return L(WarmupParamScheduler)(
        scheduler=L(CosineParamScheduler)(start_value=1.0, end_value=final_fraction),
        warmup_length=warmup_fraction,
        warmup_factor=0.001,
    )
