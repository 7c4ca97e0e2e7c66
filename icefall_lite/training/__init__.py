"""Transducer training: ScaledAdam + Eden, checkpoints and model averaging, the DDP training loop.

- :mod:`~icefall_lite.training.optim`: ``ScaledAdam``, ``LRScheduler``, ``Eden``,
  ``get_parameter_groups_with_lrs``
- :mod:`~icefall_lite.training.checkpoint`: ``epoch-N.pt`` / ``checkpoint-B.pt``, averaging,
  ``load_model_for_decoding``
- :mod:`~icefall_lite.training.averaging`: the running model average and state-dict means
- :mod:`~icefall_lite.training.args`: the options (icefall's flag names) generated from typed
  dataclasses by :mod:`icefall_lite.utils.config`
- :mod:`~icefall_lite.training.batches`: batches -> model inputs, too-short utterance filters
- :mod:`~icefall_lite.training.loop`: ``compute_loss`` (warm-up scales), ``train_one_epoch``,
  validation
- :mod:`~icefall_lite.training.train`: ``run`` (one DDP rank) and ``main`` (the recipe entry)
- files: :mod:`~icefall_lite.training.safe_load` (code-free ``weights_only`` loading, the plain
  form of saved state), :mod:`~icefall_lite.training.atomic` (temp + fsync + rename writes),
  :mod:`~icefall_lite.training.exp_lock` (one run per ``--exp-dir``)
- helpers: :mod:`~icefall_lite.training.distributed` (DDP / torchrun setup),
  :mod:`~icefall_lite.training.rng` (seeds, RNG state), :mod:`~icefall_lite.training.sampler_state`
  (exact sampler resume behind prefetching workers), :mod:`~icefall_lite.training.metrics`,
  :mod:`~icefall_lite.training.diagnostics` (log files: :mod:`icefall_lite.utils.logging`)

Submodules are imported on demand; nothing here pulls in tqdm or TensorBoard.
"""
