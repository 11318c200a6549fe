"""Video metrics: 001 eq. 8 temporal error, fidelity (PSNR) and detail energy; evaluation over clips."""
from vst.metrics.temporal import detail_energy, psnr, temporal_error

__all__ = ["detail_energy", "psnr", "temporal_error"]
