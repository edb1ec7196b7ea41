"""Small shared utilities with no domain: finite numbers, numbers and durations as text, untrusted text made safe, and the folders grpo-tui keeps."""
