"""vst-run's conversions as Ray tasks (vst-run --ray-address): one task per model and size, so that its
precisions share one export and its rewrite proofs as they do in one process; each converts into a folder of
its node's own and sends the files back, and this process writes them into the job's artifacts folder (the
report last: a conversion whose files are not all here counts as not done, and a rerun converts it again).
A node that dies takes its task with it; Ray runs it again elsewhere (common.cluster.RETRIES)."""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from vst.common import cluster
from vst.common.errors import VstError
from vst.common.fsutil import atomic_write_bytes, ensure_writable_dir
from vst.common.progress import bar
from vst.common.records import report_path

# Ray's CPU count per conversion: `--workers N` (or a node's `ray start --num-cpus N`) converts N at a time
CPUS_PER_CONVERSION = 1


def _convert_group(items: list[tuple[str, str, dict]]) -> list[tuple[str, dict[str, bytes]]]:
    """A Ray task: convert (model, target, options) items on this node; each target's files by name relative to
    the target's folder."""
    from vst.convert import convert
    out = []
    with tempfile.TemporaryDirectory(prefix="vst-convert-") as work:
        for i, (model, target, kw) in enumerate(items):
            folder = Path(work) / str(i)
            folder.mkdir()
            convert(model, out=folder / Path(target).name, **kw)
            files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
            out.append((target, files))
    return out


def _write(target: Path, files: dict[str, bytes]) -> None:
    """A conversion's files into place, its report last and pointing at the artifact where it now lies."""
    report = report_path(target).name
    for name, data in files.items():
        if name != report:
            ensure_writable_dir((target.parent / name).parent)
            atomic_write_bytes(target.parent / name, data)
    from vst.convert.report import write
    rep = json.loads(files[report])
    rep["artifact"]["path"] = str(target)
    write(rep, target)


def convert_on_cluster(pending: list[tuple[str, Path, dict]], progress: bool = True) -> None:
    """Convert every (model, target, convert() options) of `pending` as tasks of the connected cluster."""
    import ray
    groups: dict[tuple, list] = {}
    for model, target, kw in pending:
        groups.setdefault((model, tuple(kw["size"])), []).append((model, str(target), kw))
    task = ray.remote(_convert_group).options(num_cpus=CPUS_PER_CONVERSION, max_retries=cluster.RETRIES,
                                              retry_exceptions=False)
    refs = {task.remote(items): items for items in groups.values()}
    lost: list[str] = []
    artifacts = bar(total=len(pending), desc="convert (ray)", unit="artifact", progress=progress)

    def done(ref, converted):
        for target, files in converted:
            _write(Path(target), files)
            artifacts.update(1)

    def gone(ref, why):
        lost.extend(Path(t).name for _, t, _ in refs[ref])

    try:
        cluster.gather(list(refs), "CPU", done, gone, lambda msg: print(msg, file=sys.stderr))
    finally:
        artifacts.close()
    if lost:
        raise VstError(f"{len(lost)} conversion(s) were lost with their nodes ({', '.join(lost[:3])}"
                       f"{' ...' if len(lost) > 3 else ''}); run the same command again to convert them (finished "
                       "artifacts are kept)")
