"""vst.predict: 000's Table II study (Fig. 6 fits, host-versus-phone rank correlation) and `vst-predict`, the
FPS a phone would reach, from a latency model calibrated on Table II."""
