"""A short fuzzing pass over the loaders of user files: whatever the bytes, a VstError (one line) or a valid
result, never another exception."""
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from vst.common.errors import VstError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# JSON values of every shape, for files that must hold one particular shape
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4),
                           max_leaves=12)


def only_vst_errors(fn, *args):
    try:
        fn(*args)
    except VstError as exc:
        assert "\n" not in str(exc)


@FAST
@given(data=st.binary(max_size=300))
def test_checkpoint_bytes(tmp_path, data):
    from vst.models import load_model
    path = tmp_path / "m.safetensors"
    path.write_bytes(data)
    only_vst_errors(load_model, path)


@FAST
@given(header=st.dictionaries(st.sampled_from(["format", "arch", "config", "extra"]), json_values, max_size=4))
def test_checkpoint_metadata(tmp_path, header):
    import torch
    from safetensors.torch import save_file
    from vst.models import load_model
    path = tmp_path / "m.safetensors"
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in header.items()}
    meta.setdefault("format", "vst-checkpoint/1")
    save_file({"w": torch.zeros(1)}, str(path), metadata=meta)
    only_vst_errors(load_model, path)


@FAST
@pytest.mark.parametrize("loader", ["job", "result"])
@given(doc=json_values)
def test_json_documents(tmp_path, loader, doc):
    from vst.bench.result import read_result
    from vst.pipeline.job import load_job
    path = tmp_path / f"{loader}.json"
    path.write_text(json.dumps(doc))
    only_vst_errors({"job": load_job, "result": read_result}[loader], path)


@FAST
@given(text=st.text(max_size=40))
def test_sizes_and_bind_values(text):
    from vst.common.cli import parse_size
    from vst.runtimes.onnxfile import parse_bind
    only_vst_errors(parse_size, text)
    only_vst_errors(parse_bind, [f"style_weights={text}"])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from vst.bench.sweep import Protocol, run_host
    from vst.video.codec import make_clip
    base = tmp_path_factory.mktemp("fz")
    clip = make_clip(base / "clip.mp4", (64, 32), seconds=0.12, fps=25)
    run_host(["kunster-t2-05"], [(32, 32)], base / "out", protocol=Protocol(1, 0.0, None, None, 1, 0.0, 1),
             video=clip, progress=False, log=lambda *_: None)
    return base / "out"


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(min_value=0, max_value=2000), junk=st.text(max_size=60))
def test_damaged_index(store, cut, junk):
    from vst.bench.store import INDEX, load_results
    index = store / INDEX
    good = index.read_text()
    try:
        index.write_text(good[:max(len(good.splitlines()[0]) + 1, len(good) - cut)] + junk)
        df = load_results(store, log=lambda *_: None)
        assert len(df) == 1  # the cell file stands, whatever happened to its row
    finally:
        index.write_text(good)
