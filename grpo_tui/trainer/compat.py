"""Small compatibility shims for the pinned training stack.

TRL 1.15's GRPOTrainer patches the model with a fused LM head whose
log-prob kernel is written in Triton (``trl.kernels.chunked_logprob``). Triton
kernels need a GPU, and the CPU build of torch ships without Triton, so on CPU
the trainer fails with ``'NoneType' object has no attribute 'apply'``.
``install_cpu_logprob_fallback`` puts a plain-PyTorch implementation of the same
function in its place for non-GPU tensors (autograd does the backward); GPU
tensors still go to TRL's kernel when it is importable.
"""

from __future__ import annotations


class _TorchChunkedLogProb:
    """Same call signature and outputs as trl.kernels.ChunkedLogProbFunction.apply."""

    fallback = None  # TRL's own kernel (GPU), when importable

    @classmethod
    def apply(cls, hidden, weight, bias, targets, temperature, chunk_size, final_logit_softcapping=None,
              logit_scale=1.0, outputs=("entropy",)):
        import torch

        if cls.fallback is not None and hidden.device.type in ("cuda", "xpu"):
            return cls.fallback.apply(hidden, weight, bias, targets, temperature, chunk_size,
                                      final_logit_softcapping, logit_scale, outputs)
        logits = hidden.to(weight.dtype) @ weight.t()
        if bias is not None:
            logits = logits + bias
        logits = logits.float() * logit_scale
        if final_logit_softcapping:
            logits = final_logit_softcapping * torch.tanh(logits / final_logit_softcapping)
        logits = logits / temperature
        log_z = torch.logsumexp(logits, dim=-1)
        logprobs = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - log_z
        entropy = log_sum_sq = mean_logits = is_top1 = None
        if "entropy" in outputs:
            probs = torch.softmax(logits, dim=-1)
            entropy = log_z - (probs * logits).sum(-1)
        if "log_sum_sq_probs" in outputs:
            log_sum_sq = torch.logsumexp(2 * (logits - log_z.unsqueeze(-1)), dim=-1).detach()
        if "mean_logits" in outputs:
            mean_logits = logits.mean(-1).detach()
        if "is_top1" in outputs:
            is_top1 = logits.argmax(-1) == targets
        return logprobs, entropy, log_sum_sq, mean_logits, is_top1


def install_cpu_logprob_fallback() -> None:
    import trl.trainer.utils as tu

    current = getattr(tu, "_ChunkedLogProbFunction", None)
    if current is _TorchChunkedLogProb:
        return
    _TorchChunkedLogProb.fallback = current
    tu._ChunkedLogProbFunction = _TorchChunkedLogProb
