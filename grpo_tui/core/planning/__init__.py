"""Planning for hardware: the machine (NVML, known GPUs, the fake NVML, the training stack), presets, the memory planner and the CPU step-time model."""
