"""Video in, video out: vst-stylize (every frame, or key frames plus optical-flow interpolation after 002) and
vst-live (paced frames, drops, latency)."""
