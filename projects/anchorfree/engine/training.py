"""
Training and evaluation for both of Detectron2's config systems.

A LazyConfig or a yacs config is turned into one :class:`TrainingPlan` (the objects and numbers
a run needs); :func:`do_train` and :func:`do_test` then work the same for both. Everything is
Detectron2's: ``SimpleTrainer``/``AMPTrainer``, ``create_ddp_model``, ``DetectionCheckpointer``,
its hooks (LR schedule, periodic checkpoints, evaluation, writers), ``COCOEvaluator``.
"""
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Optional, Union

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import CfgNode, instantiate
from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.engine import AMPTrainer, SimpleTrainer, default_writers, hooks
from detectron2.engine.defaults import create_ddp_model
from detectron2.evaluation import COCOEvaluator, inference_on_dataset, print_csv_format
from detectron2.modeling import build_model
from detectron2.solver import build_lr_scheduler, build_optimizer
from detectron2.utils import comm
from omegaconf import DictConfig
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from anchorfree.data.dataset_dicts import load_detection_dataset_dicts
from anchorfree.data.mapper import CheckedDatasetMapper

logger = logging.getLogger("detectron2")

__all__ = [
    "TrainingPlan",
    "build_model_from_config",
    "do_test",
    "do_train",
    "flush_denormals_on_cpu",
    "resolve_device",
]

AnyConfig = Union[CfgNode, DictConfig]


@dataclass
class TrainingPlan:
    """What one training run needs, independent of the config system it came from."""

    output_dir: str
    init_checkpoint: str
    max_iter: int
    checkpoint_period: int
    max_checkpoints_to_keep: Optional[int]
    eval_period: int
    log_period: int
    amp: bool
    ddp_kwargs: Dict[str, Any]
    build_optimizer: Callable[[nn.Module], torch.optim.Optimizer]
    build_train_loader: Callable[[], Iterable]
    # A torch LR scheduler (built from the optimizer) or an fvcore ParamScheduler multiplier.
    build_lr_schedule: Callable[[torch.optim.Optimizer], Any]


def resolve_device(cfg: AnyConfig) -> str:
    """The configured device, falling back to CPU (with a warning) when CUDA is absent."""
    is_yacs = isinstance(cfg, CfgNode)
    device = cfg.MODEL.DEVICE if is_yacs else cfg.train.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        logger.warning(f"Config asks for device '{device}' but CUDA is not available: using CPU.")
        device = "cpu"
        if is_yacs:
            cfg.defrost()
            cfg.MODEL.DEVICE = device
            cfg.freeze()
        else:
            cfg.train.device = device
    return device


def flush_denormals_on_cpu(device: str) -> None:
    """On CPU, have this process flush float32 denormals to zero. Activations and gradients of
    small networks trained from scratch drift into the denormal range, where CPU arithmetic is
    an order of magnitude slower; flushing them changes no result that matters (they are below
    1.2e-38)."""
    if torch.device(device).type == "cpu":
        torch.set_flush_denormal(True)


def build_model_from_config(cfg: AnyConfig) -> nn.Module:
    """Build the model on the resolved device (see :func:`resolve_device`); on CPU, flush
    denormals (:func:`flush_denormals_on_cpu`)."""
    device = resolve_device(cfg)
    flush_denormals_on_cpu(device)
    model = build_model(cfg) if isinstance(cfg, CfgNode) else instantiate(cfg.model)
    return model.to(device)


def _yacs_test_loaders(cfg: CfgNode):
    for name in cfg.DATASETS.TEST:
        loader = build_detection_test_loader(
            dataset=load_detection_dataset_dicts(name, filter_empty=False),
            mapper=CheckedDatasetMapper(cfg, is_train=False),
            num_workers=cfg.DATALOADER.NUM_WORKERS,
        )
        evaluator = COCOEvaluator(name, output_dir=os.path.join(cfg.OUTPUT_DIR, "inference", name))
        yield name, loader, evaluator


def do_test(cfg: AnyConfig, model: nn.Module) -> Dict[str, Any]:
    """Run inference and COCO evaluation on the config's test set(s); returns the metrics."""
    if isinstance(cfg, CfgNode):
        results = {}
        for name, loader, evaluator in _yacs_test_loaders(cfg):
            results[name] = inference_on_dataset(model, loader, evaluator)
            if comm.is_main_process():
                logger.info(f"Evaluation results for {name}:")
                print_csv_format(results[name])
        return results
    if "evaluator" not in cfg.dataloader:
        logger.warning("The config has no dataloader.evaluator: skipping evaluation.")
        return {}
    results = inference_on_dataset(
        model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator)
    )
    if comm.is_main_process():
        print_csv_format(results)
    return results


def _plan_from_yacs(cfg: CfgNode) -> TrainingPlan:
    def train_loader():
        return build_detection_train_loader(
            dataset=load_detection_dataset_dicts(
                cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
            ),
            mapper=CheckedDatasetMapper(cfg, is_train=True),
            total_batch_size=cfg.SOLVER.IMS_PER_BATCH,
            aspect_ratio_grouping=cfg.DATALOADER.ASPECT_RATIO_GROUPING,
            num_workers=cfg.DATALOADER.NUM_WORKERS,
        )

    return TrainingPlan(
        output_dir=cfg.OUTPUT_DIR,
        init_checkpoint=cfg.MODEL.WEIGHTS,
        max_iter=cfg.SOLVER.MAX_ITER,
        checkpoint_period=cfg.SOLVER.CHECKPOINT_PERIOD,
        max_checkpoints_to_keep=None,
        eval_period=cfg.TEST.EVAL_PERIOD,
        log_period=20,
        amp=cfg.SOLVER.AMP.ENABLED,
        ddp_kwargs={"broadcast_buffers": False},
        build_optimizer=lambda model: build_optimizer(cfg, model),
        build_train_loader=train_loader,
        build_lr_schedule=lambda optimizer: build_lr_scheduler(cfg, optimizer),
    )


def _plan_from_lazy(cfg: DictConfig) -> TrainingPlan:
    def optimizer(model):
        cfg.optimizer.params.model = model
        return instantiate(cfg.optimizer)

    return TrainingPlan(
        output_dir=cfg.train.output_dir,
        init_checkpoint=cfg.train.init_checkpoint,
        max_iter=cfg.train.max_iter,
        checkpoint_period=cfg.train.checkpointer.period,
        max_checkpoints_to_keep=cfg.train.checkpointer.get("max_to_keep"),
        eval_period=cfg.train.eval_period,
        log_period=cfg.train.log_period,
        amp=cfg.train.amp.enabled,
        ddp_kwargs=dict(cfg.train.ddp),
        build_optimizer=optimizer,
        build_train_loader=lambda: instantiate(cfg.dataloader.train),
        build_lr_schedule=lambda optimizer: instantiate(cfg.lr_multiplier),
    )


def _ddp_kwargs(plan: TrainingPlan, device: str) -> Dict[str, Any]:
    kwargs = dict(plan.ddp_kwargs)
    if device == "cpu":
        # DistributedDataParallel takes no device_ids for CPU modules; Detectron2 would pass
        # the local rank as a CUDA device.
        kwargs["device_ids"] = None
    return kwargs


def do_train(cfg: AnyConfig, resume: bool = False) -> nn.Module:
    """
    Train as the config says; with ``resume``, continue from the last checkpoint in the output
    directory (iteration, model, optimizer and LR-scheduler state). Evaluates every
    ``eval_period`` iterations and at the end. Returns the trained model (without its DDP
    wrapper).
    """
    plan = _plan_from_yacs(cfg) if isinstance(cfg, CfgNode) else _plan_from_lazy(cfg)
    model = build_model_from_config(cfg)
    device = str(next(model.parameters()).device.type)
    logger.info(f"Model:\n{model}")
    optimizer = plan.build_optimizer(model)
    train_loader = plan.build_train_loader()
    model = create_ddp_model(model, **_ddp_kwargs(plan, device))
    trainer = (AMPTrainer if plan.amp else SimpleTrainer)(model, train_loader, optimizer)
    checkpointer = DetectionCheckpointer(
        model, plan.output_dir, optimizer=optimizer, trainer=trainer
    )
    checkpoint_kwargs = {}
    if plan.max_checkpoints_to_keep is not None:
        checkpoint_kwargs["max_to_keep"] = plan.max_checkpoints_to_keep
    trainer.register_hooks([
        hooks.IterationTimer(),
        hooks.LRScheduler(optimizer=optimizer, scheduler=plan.build_lr_schedule(optimizer)),
        hooks.PeriodicCheckpointer(checkpointer, plan.checkpoint_period, **checkpoint_kwargs)
        if comm.is_main_process() else None,
        hooks.EvalHook(plan.eval_period, lambda: do_test(cfg, model)),
        hooks.PeriodicWriter(default_writers(plan.output_dir, plan.max_iter), period=plan.log_period)
        if comm.is_main_process() else None,
    ])
    checkpointer.resume_or_load(plan.init_checkpoint, resume=resume)
    # The checkpoint records the iteration that had just finished.
    start_iter = trainer.iter + 1 if resume and checkpointer.has_checkpoint() else 0
    if start_iter >= plan.max_iter:
        logger.info(f"Checkpoint is at iteration {start_iter}, max_iter is {plan.max_iter}: "
                    "nothing left to train.")
    else:
        trainer.train(start_iter, plan.max_iter)
    return model.module if isinstance(model, DistributedDataParallel) else model


def load_for_evaluation(cfg: AnyConfig, model: nn.Module, resume: bool) -> None:
    """Load the weights to evaluate: the config's checkpoint, or with ``resume`` the last one
    in the output directory. Refuses to evaluate an untrained model silently."""
    is_yacs = isinstance(cfg, CfgNode)
    weights = cfg.MODEL.WEIGHTS if is_yacs else cfg.train.init_checkpoint
    output_dir = cfg.OUTPUT_DIR if is_yacs else cfg.train.output_dir
    checkpointer = DetectionCheckpointer(model, save_dir=output_dir)
    if resume and checkpointer.has_checkpoint():
        checkpointer.resume_or_load(weights, resume=True)
        return
    if not weights:
        key = "MODEL.WEIGHTS" if is_yacs else "train.init_checkpoint"
        raise ValueError(
            f"--eval-only needs trained weights: set {key}=/path/to/model.pth, or pass --resume "
            f"with an output directory ({output_dir}) that holds a checkpoint."
        )
    checkpointer.load(weights)
