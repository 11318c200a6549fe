"""Occlusion masks on a synthetic pair with a known disocclusion, OpenCV flow conventions, the flow cache."""
import numpy as np

from vst.common.images import sample_photos
from vst.common.synthclips import Motion, render_clip
from vst.video.flow import (FarnebackParams, FlowCache, consistency_mask, motion_boundary_mask, occlusion_mask,
                               pair_flows)


def _disc_pair():
    photos = sample_photos(("astronaut", "coffee"))
    # static camera, a disc moving 4 px/frame right: it uncovers a crescent of background on its left side
    motion = Motion(zoom=(1.0, 1.0), pan=(0.0, 0.0), layer_speed=(4.0, 0.0), layer_radius=0.2)
    return render_clip(photos["astronaut"], (96, 64), 2, motion, photos["coffee"])


def test_forward_backward_check_finds_the_disocclusion():
    clip = _disc_pair()
    bwd, fwd, valid = clip.flow_bwd[0], clip.flow_fwd[0], clip.valid[0]
    consistent = consistency_mask(bwd, fwd)
    disoccluded = ~valid
    assert 30 < disoccluded.sum() < 400  # the crescent: about radius*2 x 4 px
    assert (~consistent[disoccluded]).mean() > 0.9
    # almost everything the ground truth calls visible passes the check
    assert consistent[valid].mean() > 0.97


def test_motion_boundaries_lie_on_the_disc_edge():
    clip = _disc_pair()
    mb = motion_boundary_mask(clip.flow_bwd[0])
    h, w = mb.shape
    c = np.array([w * 0.3 + 4.0, h * 0.5])  # disc centre in frame 1
    yy, xx = np.mgrid[0:h, 0:w]
    dist = np.hypot(xx - c[0], yy - c[1])
    radius = 0.2 * h
    assert mb.any()
    assert np.all(np.abs(dist[mb] - radius) < 2.5)  # flagged pixels hug the edge
    # a gentle uniform zoom (2% per frame) is smooth: no boundaries
    zoom = render_clip(sample_photos(("astronaut",))["astronaut"], (96, 64), 2,
                       Motion(zoom=(1.0, 1.02), pan=(0, 0), layer_radius=0.0))
    assert not motion_boundary_mask(zoom.flow_bwd[0]).any()
    mask = occlusion_mask(clip.flow_bwd[0], clip.flow_fwd[0])
    assert not mask[mb].any()


def test_farneback_matches_exact_flow_conventions():
    photo = sample_photos(("chelsea",))["chelsea"]
    clip = render_clip(photo, (128, 96), 2, Motion(zoom=(1.0, 1.0), pan=(0.25, 0.0), layer_radius=0.0))
    bwd, fwd, mask = pair_flows(clip.frames[0], clip.frames[1])
    inner = (slice(16, -16), slice(16, -16))
    true_b, true_f = clip.flow_bwd[0][inner], clip.flow_fwd[0][inner]
    assert np.abs(true_b).max() > 1.0  # the camera really moves
    assert np.linalg.norm(bwd[inner] - true_b, axis=-1).mean() < 0.5
    assert np.linalg.norm(fwd[inner] - true_f, axis=-1).mean() < 0.5
    assert mask[inner].mean() > 0.9


def test_flow_cache_computes_once_and_keys_on_params(tmp_path):
    clip = _disc_pair()
    cache = FlowCache(tmp_path)
    a = cache.get("video-digest", 3, clip.frames[0], clip.frames[1])
    b = cache.get("video-digest", 3, clip.frames[0], clip.frames[1])
    assert (cache.misses, cache.hits) == (1, 1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert len(list(tmp_path.glob("*.npz"))) == 1
    other = FlowCache(tmp_path, FarnebackParams(winsize=9))
    assert other.key("video-digest", 3, (96, 64)) != cache.key("video-digest", 3, (96, 64))
    assert cache.key("video-digest", 4, (96, 64)) != cache.key("video-digest", 3, (96, 64))


def test_user_video_clips_get_cached_opencv_flow(tmp_path):
    import cv2
    from vst.video.clips import video_clips
    photo = sample_photos(("chelsea",))["chelsea"]
    clip = render_clip(photo, (96, 64), 6, Motion(zoom=(1.0, 1.0), pan=(0.3, 0.0), layer_radius=0.0))
    writer = cv2.VideoWriter(str(tmp_path / "pan.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    for f in clip.frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    cache = FlowCache(tmp_path / "flow")
    clips = video_clips(tmp_path, (96, 64), n_frames=3, per_video=2, cache=cache)
    assert len(clips) == 2 and clips[0].frames.shape == (3, 64, 96, 3)
    assert cache.misses == 4 and cache.hits == 0
    inner = (slice(0, 1), slice(12, -12), slice(12, -12))
    epe = np.linalg.norm(clips[0].flow_bwd[inner] - clip.flow_bwd[inner], axis=-1).mean()
    assert epe < 0.7  # the video codec adds noise, the pan stays recoverable
    video_clips(tmp_path, (96, 64), n_frames=3, per_video=2, cache=cache)
    assert cache.hits == 4  # flows computed once per pair
