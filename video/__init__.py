"""Video: decoding and encoding clips, optical flow and warping, clips with flow for temporal measurements."""
