# Options read by train_net.py (anchorfree.engine.training), as in Detectron2's common/train.py.
train = dict(
    output_dir="./output",
    init_checkpoint="",
    max_iter=90000,
    amp=dict(enabled=False),
    # The model's convolution weights in the channels-last memory format (faster on CPU).
    channels_last=False,
    ddp=dict(broadcast_buffers=False, find_unused_parameters=False, fp16_compression=False),
    checkpointer=dict(period=5000, max_to_keep=100),
    eval_period=5000,
    log_period=20,
    # "cuda" falls back to "cpu" with a warning where CUDA is absent.
    device="cuda",
    seed=-1,
)
