"""vst.convert.single_conv_tflite (one conv as a TFLite file, a named rewrite on or off), run through
vst.runtimes.profile.invoker and timed by vst.bench.timed_rounds: the public pieces scripts/bench_parity_convs.py
is made of. Structure only, nothing timed against a threshold."""
import pytest

from vst.common.errors import VstError


def test_single_conv_with_and_without_a_rewrite():
    from vst.bench import BLOCK, timed_rounds
    from vst.convert import single_conv_tflite
    from vst.runtimes.profile import invoker
    plain, none = single_conv_tflite(8, 3, kernel=9, size=(16, 12))
    parities, sites = single_conv_tflite(8, 3, kernel=9, size=(16, 12), rewrite="conv_output_parities")
    assert none == 0 and sites == 1 and plain[4:8] == parities[4:8] == b"TFL3" and plain != parities
    assert single_conv_tflite(8, 3, kernel=9, size=(15, 12), rewrite="conv_output_parities")[1] == 0  # odd width
    runs = [invoker(plain, 1), invoker(parities, 1)]
    blocks = timed_rounds([lambda j, f=f: f() for f in runs], [False, False], lambda r: r < 2)
    assert [len(t) for t in blocks] == [2, 2] and all(len(b) == BLOCK and min(b) > 0 for t in blocks for b in t)


def test_single_conv_refuses_bad_input():
    from vst.convert import single_conv_tflite
    with pytest.raises(VstError, match="unknown rewrite"):
        single_conv_tflite(3, 3, rewrite="no_such_rewrite")
    with pytest.raises(VstError, match="at least 1"):
        single_conv_tflite(0, 3)
