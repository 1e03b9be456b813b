"""
Training and evaluation from a LazyConfig.

Everything is Detectron2's: ``SimpleTrainer``/``AMPTrainer``, ``create_ddp_model``,
``DetectionCheckpointer``, its hooks (LR schedule, periodic checkpoints, evaluation, writers),
``COCOEvaluator``; with what a long run on real data needs on top:

* a non-finite loss stops the run at once, on every process, naming the loss terms and the
  iteration, before the optimizer step changes the weights (:class:`CheckedSimpleTrainer`);
  non-finite weights are never saved and ``--resume`` falls back from an unreadable newest
  checkpoint (:class:`anchorfree.engine.checkpoint.CheckedCheckpointer`);
* unreadable images are skipped and counted, in training and evaluation
  (:class:`anchorfree.data.UnreadableImageFilter`), with a summary at the end;
* weights for evaluation that cover less than half of the model are refused
  (:func:`anchorfree.engine.checkpoint.refuse_partial_weights`);
* the project's own log messages (dataset checks, skipped images) go to ``output_dir/log.txt``
  beside Detectron2's (:func:`default_setup`).
"""

import logging
from typing import Any, Dict

import torch
from omegaconf import DictConfig
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from anchorfree.data import UnreadableImageFilter

from detectron2.config import instantiate
from detectron2.engine import AMPTrainer, SimpleTrainer, default_writers, hooks
from detectron2.engine import default_setup as detectron2_default_setup
from detectron2.engine.defaults import create_ddp_model
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from .checkpoint import CheckedCheckpointer, refuse_partial_weights
from .device import fallback_device, place_model

logger = logging.getLogger("detectron2")

__all__ = [
    "CheckedAMPTrainer",
    "CheckedSimpleTrainer",
    "build_model_from_config",
    "default_setup",
    "do_test",
    "do_train",
    "load_for_evaluation",
    "resolve_device",
]

# A training loader that yields this many batches in a row without a readable image is
# stopped (see UnreadableImageFilter).
MAX_EMPTY_BATCHES_IN_A_ROW = 100


def default_setup(cfg: DictConfig, args) -> None:
    """Detectron2's ``default_setup`` (logging, environment, config dump, seed), plus the
    ``anchorfree`` logger into the same ``output_dir/log.txt`` (one file per rank)."""
    detectron2_default_setup(cfg, args)
    setup_logger(cfg.train.output_dir, distributed_rank=comm.get_rank(), name="anchorfree")


class _StopOnNonFiniteLoss:
    """Mixin for Detectron2's trainers: after the backward pass and before the optimizer step
    (where Detectron2's trainers write their metrics), every process checks every loss term;
    if any is NaN or infinite on any process, all processes stop with
    ``FloatingPointError`` naming the terms, the ranks and the iteration. (Detectron2 checks
    only the sum, only on the main process, which leaves the other processes waiting.)"""

    def _write_metrics(self, loss_dict: Dict[str, torch.Tensor], *args, **kwargs) -> None:
        bad = {
            name: float(value.detach().float().sum())
            for name, value in loss_dict.items()
            if not bool(torch.isfinite(value.detach()).all())
        }
        per_rank = comm.all_gather(bad) if comm.get_world_size() > 1 else [bad]
        if any(per_rank):
            terms = "; ".join(
                f"rank {rank}: " + ", ".join(f"{k}={v}" for k, v in terms.items())
                for rank, terms in enumerate(per_rank)
                if terms
            )
            raise FloatingPointError(
                f"Non-finite loss at iteration {self.iter} ({terms}). Training stopped before "
                "the optimizer step; non-finite weights are never saved, so --resume continues "
                "from the last checkpoint in the output directory. Lower the learning rate or "
                "lengthen the warm-up first."
            )
        super()._write_metrics(loss_dict, *args, **kwargs)


class CheckedSimpleTrainer(_StopOnNonFiniteLoss, SimpleTrainer):
    """Detectron2's ``SimpleTrainer`` that stops on a non-finite loss term (see the mixin)."""


class CheckedAMPTrainer(_StopOnNonFiniteLoss, AMPTrainer):
    """Detectron2's ``AMPTrainer`` that stops on a non-finite loss term (see the mixin)."""


def resolve_device(cfg: DictConfig) -> str:
    """``train.device``, falling back to CPU (with a warning) when CUDA is absent; the config
    is updated to the device used."""
    cfg.train.device = fallback_device(cfg.train.device)
    return cfg.train.device


def build_model_from_config(cfg: DictConfig) -> nn.Module:
    """Instantiate ``cfg.model`` on the resolved device (see :func:`resolve_device`), in the
    channels-last memory format if ``train.channels_last`` (see
    :func:`anchorfree.engine.device.place_model`, which also flushes denormals on CPU)."""
    device = resolve_device(cfg)
    return place_model(
        instantiate(cfg.model), device, channels_last=cfg.train.get("channels_last", False)
    )


def do_test(cfg: DictConfig, model: nn.Module) -> Dict[str, Any]:
    """Run inference and COCO evaluation on the config's test set; returns the metrics."""
    if "evaluator" not in cfg.dataloader:
        logger.warning("The config has no dataloader.evaluator: skipping evaluation.")
        return {}
    loader = UnreadableImageFilter(instantiate(cfg.dataloader.test), context="Evaluation")
    results = inference_on_dataset(model, loader, instantiate(cfg.dataloader.evaluator))
    if loader.skipped:
        logger.warning(loader.summary())
    if comm.is_main_process():
        print_csv_format(results)
    return results


def _build_optimizer(cfg: DictConfig, model: nn.Module) -> torch.optim.Optimizer:
    cfg.optimizer.params.model = model
    return instantiate(cfg.optimizer)


def _ddp_kwargs(cfg: DictConfig, device: str) -> Dict[str, Any]:
    kwargs = dict(cfg.train.ddp)
    if device == "cpu":
        # DistributedDataParallel takes no device_ids for CPU modules; Detectron2 would pass
        # the local rank as a CUDA device.
        kwargs["device_ids"] = None
    return kwargs


def do_train(cfg: DictConfig, resume: bool = False) -> nn.Module:
    """
    Train as the config says; with ``resume``, continue from the last checkpoint in the output
    directory (iteration, model, optimizer and LR-scheduler state). Evaluates every
    ``eval_period`` iterations and at the end. Returns the trained model (without its DDP
    wrapper). It does not seed: as in Detectron2, ``default_setup`` seeds with ``train.seed``
    (plus the rank); a caller without it seeds first (``detectron2.utils.env.seed_all_rng``).
    """
    train = cfg.train
    model = build_model_from_config(cfg)
    device = str(next(model.parameters()).device.type)
    logger.info(f"Model:\n{model}")
    optimizer = _build_optimizer(cfg, model)
    train_loader = UnreadableImageFilter(
        instantiate(cfg.dataloader.train),
        context="Training",
        max_empty_batches_in_a_row=MAX_EMPTY_BATCHES_IN_A_ROW,
    )
    model = create_ddp_model(model, **_ddp_kwargs(cfg, device))
    trainer_class = CheckedAMPTrainer if train.amp.enabled else CheckedSimpleTrainer
    trainer = trainer_class(model, train_loader, optimizer)
    checkpointer = CheckedCheckpointer(
        model, train.output_dir, optimizer=optimizer, trainer=trainer
    )
    checkpoint_kwargs = {}
    if train.checkpointer.get("max_to_keep") is not None:
        checkpoint_kwargs["max_to_keep"] = train.checkpointer.max_to_keep
    trainer.register_hooks(
        [
            hooks.IterationTimer(),
            hooks.LRScheduler(optimizer=optimizer, scheduler=instantiate(cfg.lr_multiplier)),
            hooks.PeriodicCheckpointer(checkpointer, train.checkpointer.period, **checkpoint_kwargs)
            if comm.is_main_process()
            else None,
            hooks.EvalHook(train.eval_period, lambda: do_test(cfg, model)),
            hooks.PeriodicWriter(
                default_writers(train.output_dir, train.max_iter), period=train.log_period
            )
            if comm.is_main_process()
            else None,
        ]
    )
    checkpointer.resume_or_load(train.init_checkpoint, resume=resume)
    # The checkpoint records the iteration that had just finished.
    start_iter = trainer.iter + 1 if resume and checkpointer.has_checkpoint() else 0
    _check_same_start(start_iter, train.output_dir)
    if start_iter >= train.max_iter:
        logger.info(
            f"Checkpoint is at iteration {start_iter}, max_iter is {train.max_iter}: "
            "nothing left to train."
        )
    else:
        try:
            trainer.train(start_iter, train.max_iter)
        finally:
            if train_loader.skipped:
                logger.warning(train_loader.summary())
    return model.module if isinstance(model, DistributedDataParallel) else model


def _check_same_start(start_iter: int, output_dir: str) -> None:
    """Every process must resume at the same iteration: each reads the last checkpoint of its
    own ``output_dir``, and only the main process writes checkpoints, so machines that do not
    share that directory would start apart and wait for each other until the timeout."""
    if comm.get_world_size() == 1:
        return
    starts = comm.all_gather(start_iter)
    if len(set(starts)) > 1:
        raise RuntimeError(
            f"--resume: the processes would start at different iterations ({starts}, by rank), "
            f"since each reads the last checkpoint in its own train.output_dir ({output_dir}). "
            "With several machines, put train.output_dir on storage that all of them share."
        )


def load_for_evaluation(cfg: DictConfig, model: nn.Module, resume: bool) -> None:
    """Load the weights to evaluate: the config's checkpoint, or with ``resume`` the last one
    in the output directory. Refuses to evaluate an untrained model silently: no weights, or
    weights that cover less than half of the model, are an error."""
    weights = cfg.train.init_checkpoint
    output_dir = cfg.train.output_dir
    refuse_partial_weights(model)
    checkpointer = CheckedCheckpointer(model, save_dir=output_dir)
    if resume and checkpointer.has_checkpoint():
        checkpointer.resume_or_load(weights, resume=True)
        return
    if not weights:
        raise ValueError(
            "--eval-only needs trained weights: set train.init_checkpoint=/path/to/model.pth, "
            f"or pass --resume with an output directory ({output_dir}) that holds a checkpoint."
        )
    checkpointer.load(weights)
