__version__ = "0.1.0"


def watch(trainer, **kwargs):
    """Watch and steer your own GRPO training script with grpo-tui (two lines)::

        from grpo_tui import watch
        watch(trainer)      # after building the GRPOTrainer, before trainer.train()

    The run appears in ``grpo-tui runs`` and the app like a launched one, and takes pause / resume /
    stop / checkpoint. Keyword arguments: ``name``, ``capture_samples``, ``cpu_logprob_fallback``
    (see ``grpo_tui.trainer.watch.watch``). Importing ``grpo_tui`` loads nothing heavy; this call
    loads only what your trainer already did (transformers, TRL).
    """
    from .trainer.watch import watch as _watch

    return _watch(trainer, **kwargs)
