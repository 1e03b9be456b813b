"""
Training and evaluation from a LazyConfig.

Everything is Detectron2's: ``SimpleTrainer``/``AMPTrainer``, ``create_ddp_model``,
``DetectionCheckpointer``, its hooks (LR schedule, periodic checkpoints, evaluation, writers),
``COCOEvaluator``.
"""

import logging
from typing import Any, Dict

import torch
from omegaconf import DictConfig
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from anchorfree.config.predictor_cfg import fallback_device, flush_denormals_on_cpu

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import instantiate
from detectron2.engine import AMPTrainer, SimpleTrainer, default_writers, hooks
from detectron2.engine.defaults import create_ddp_model
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm

logger = logging.getLogger("detectron2")

__all__ = ["resolve_device", "build_model_from_config", "do_test", "do_train"]


def resolve_device(cfg: DictConfig) -> str:
    """``train.device``, falling back to CPU (with a warning) when CUDA is absent; the config
    is updated to the device used."""
    cfg.train.device = fallback_device(cfg.train.device)
    return cfg.train.device


def build_model_from_config(cfg: DictConfig) -> nn.Module:
    """Instantiate ``cfg.model`` on the resolved device (see :func:`resolve_device`); on CPU,
    denormals are flushed (:func:`flush_denormals_on_cpu`)."""
    device = resolve_device(cfg)
    flush_denormals_on_cpu(device)
    return instantiate(cfg.model).to(device)


def do_test(cfg: DictConfig, model: nn.Module) -> Dict[str, Any]:
    """Run inference and COCO evaluation on the config's test set; returns the metrics."""
    if "evaluator" not in cfg.dataloader:
        logger.warning("The config has no dataloader.evaluator: skipping evaluation.")
        return {}
    results = inference_on_dataset(
        model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator)
    )
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
    wrapper).
    """
    train = cfg.train
    model = build_model_from_config(cfg)
    device = str(next(model.parameters()).device.type)
    logger.info(f"Model:\n{model}")
    optimizer = _build_optimizer(cfg, model)
    train_loader = instantiate(cfg.dataloader.train)
    model = create_ddp_model(model, **_ddp_kwargs(cfg, device))
    trainer = (AMPTrainer if train.amp.enabled else SimpleTrainer)(model, train_loader, optimizer)
    checkpointer = DetectionCheckpointer(
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
    if start_iter >= train.max_iter:
        logger.info(
            f"Checkpoint is at iteration {start_iter}, max_iter is {train.max_iter}: "
            "nothing left to train."
        )
    else:
        trainer.train(start_iter, train.max_iter)
    return model.module if isinstance(model, DistributedDataParallel) else model


def load_for_evaluation(cfg: DictConfig, model: nn.Module, resume: bool) -> None:
    """Load the weights to evaluate: the config's checkpoint, or with ``resume`` the last one
    in the output directory. Refuses to evaluate an untrained model silently."""
    weights = cfg.train.init_checkpoint
    output_dir = cfg.train.output_dir
    checkpointer = DetectionCheckpointer(model, save_dir=output_dir)
    if resume and checkpointer.has_checkpoint():
        checkpointer.resume_or_load(weights, resume=True)
        return
    if not weights:
        raise ValueError(
            "--eval-only needs trained weights: set train.init_checkpoint=/path/to/model.pth, "
            f"or pass --resume with an output directory ({output_dir}) that holds a checkpoint."
        )
    checkpointer.load(weights)
