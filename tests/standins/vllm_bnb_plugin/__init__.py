"""Stand-in for vllm-bnb-plugin 0.0.3 (tests only): present, so 4-bit with fast_inference loads.
GRPO_TUI_STANDIN_NO_BNB_PLUGIN=1 makes the stand-in unsloth behave as if it were not installed."""

__grpo_tui_standin__ = True
