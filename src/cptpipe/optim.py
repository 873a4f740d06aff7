"""The AdamW recipe of every optimizer cptpipe builds: the scratch model's pretraining (model/pretrain.py) and
the CPT loop (train/loop.py); train.min_lr_ratio defaults to MIN_LR_RATIO."""

WEIGHT_DECAY = 0.1  # on weight matrices only (biases and norms: 0)
BETAS = (0.9, 0.95)  # beta2 0.95, not 0.999: steadier with small batches and LR re-warms (Llama, GPT-3)
EPS = 1e-8
MAX_GRAD_NORM = 1.0  # gradient clipping
MIN_LR_RATIO = 0.1  # a decaying LR ends at this share of its peak
