"""vst's own records (conversion reports, benchmark results, study records, jobs): where each lies, the keys
they are joined on, their schemas, checking one before it is written, and reading one back from a file a user may
have edited, damaged or forged. Every package that writes or reads a record takes these from here."""
from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from vst.common.errors import InternalError, VstError

# Far above any record vst writes (a conversion report with its per-layer divergence is under 1 MB), far
# below what would exhaust memory in the parse.
MAX_RECORD_BYTES = 64 * 1024 * 1024
# vst's records nest fewer than 10 levels. Python's parser gives up near 1000 levels with RecursionError and
# jsonschema recurses again over what it parsed: anything deeper than this is refused before either.
MAX_DEPTH = 64
# Integers beyond int64 are no count or size vst writes, and overflow numpy, pandas and torch downstream.
MAX_INT = 2 ** 63 - 1


# --- where records lie ---------------------------------------------------------------------------------------
CONVERSION_REPORT_SUFFIX = ".report.json"   # beside its artifact: <artifact>.report.json
SAMPLES_SUFFIX = ".samples"                 # beside its artifact: its outputs on the verification photos as PNGs
RESULTS_INDEX = "results.csv"               # a benchmark results folder's index
RESULTS_FOLDER = "results"                  # ... and its result JSONs
COMMANDS_FILE = "commands.txt"              # the commands a vst-run output folder was made by
STUDY_FILE = "study.json"                   # a Fig. 8 study folder's record

# The schemas by record kind: (package that ships it, path inside the package). Data, not code: reading one
# imports nothing from the package above.
SCHEMAS = {
    "conversion-report": ("vst.convert", "schemas/convert_report.schema.json"),
    "bench-plan": ("vst.bench", "schemas/plan.schema.json"),
    "bench-result": ("vst.bench", "schemas/result.schema.json"),
    "study": ("vst.training", "study.schema.json"),
    "job": ("vst.pipeline", "data/job.schema.json"),
}


def report_path(artifact: str | Path) -> Path:
    """The one naming rule: a conversion report lies beside its artifact as `<artifact>.report.json`."""
    return Path(f"{artifact}{CONVERSION_REPORT_SUFFIX}")


def samples_dir(artifact: str | Path) -> Path:
    """The artifact's outputs on the verification photos lie beside it as PNGs, so later steps show them without
    running the model again."""
    return Path(f"{artifact}{SAMPLES_SUFFIX}")


@lru_cache(maxsize=None)
def schema(kind: str) -> dict:
    package, path = SCHEMAS[kind]
    return json.loads(resources.files(package).joinpath(path).read_text())


# --- the keys records are joined on ------------------------------------------------------------------------------
def table2_name(row_id: int | str) -> str:
    """The zoo's name of Table II's configuration `row_id` (1-15): results, study records and the predictor's
    rows join on it."""
    return f"kunster-t2-{int(row_id):02d}"


def artifact_file(stem: str, width: int, height: int, precision: str, suffix: str) -> str:
    """The one default name of a converted artifact (vst-convert without -o, vst-run):
    `<stem>-<W>x<H>-<precision><suffix>`, the stem from vst.models.names.artifact_stem."""
    return f"{stem}-{width}x{height}-{precision}{suffix}"


def artifact_key(report_file: str | Path, report: dict) -> str:
    """What joins a conversion report to benchmark results: its artifact's file name (results keep the
    artifact they ran by name, and a results folder may be moved away from the artifacts)."""
    report_file = Path(report_file)
    recorded = (report.get("artifact") or {}).get("path")
    return Path(recorded).name if recorded else report_file.name[:-len(CONVERSION_REPORT_SUFFIX)]


def precision_name(quant: str, method: str | None = None) -> str:
    """How reports, benchmarks and vst-run's file names call a precision: the --quant value, with the int8
    method when it is not plain full-integer (int8-dynamic: --dynamic; int8-temporal: --temporal)."""
    return f"{quant}-{method}" if quant == "int8" and method else quant


def precision(report: dict) -> str:
    """precision_name of the artifact a conversion report describes."""
    methods = [m for m in ("dynamic", "temporal") if m in (report.get("quantization") or {})]
    return precision_name(report.get("quant"), methods[0] if methods else None)


# --- checking and reading ----------------------------------------------------------------------------------------
def check_record(doc: dict, schema: dict, what: str) -> None:
    """A record vst wrote or is about to write that breaks its schema is vst's bug, not the user's input."""
    import jsonschema
    try:
        jsonschema.validate(doc, schema)
    except jsonschema.ValidationError as exc:
        raise InternalError(f"{what} does not match its schema at {list(exc.absolute_path)}: "
                            f"{exc.message[:200]}") from None


def write_record(path: str | Path, doc: dict, kind: str, indent: int = 1) -> Path:
    """The one way a record is written: checked against its kind's schema (a record that breaks it is vst's
    bug), then written atomically as JSON."""
    from vst.common.fsutil import atomic_write_text
    check_record(doc, schema(kind), kind)
    atomic_write_text(path, json.dumps(doc, indent=indent) + "\n")
    return Path(path)


class _Refused:
    """A value the parse refuses, kept in place so that the error can name its field."""

    def __init__(self, text: str, why: str):
        self.text, self.why = (text if len(text) <= 24 else text[:21] + "..."), why


def _number(text: str):
    value = float(text)
    return value if math.isfinite(value) else _Refused(text, "is out of range")  # 1e400 parses to inf


def _integer(text: str):
    # the digits are checked first: int() of a 100k-digit text is itself slow (and refused by Python)
    if len(text) > 20 or not -MAX_INT - 1 <= int(text) <= MAX_INT:
        return _Refused(text, "is out of range")
    return int(text)


def _first_flaw(doc: Any, limit: int, nan_ok) -> tuple[list, _Refused | None] | None:
    """The first refused value (its field path and itself) or nesting deeper than `limit` (path, None), walked
    without recursion; None when there is neither. A NaN where `nan_ok(path)` is replaced by float NaN."""
    stack = [(doc, [])]
    while stack:
        node, path = stack.pop()
        if isinstance(node, (dict, list)):
            if len(path) >= limit:
                return path, None
            for k, v in list(node.items() if isinstance(node, dict) else enumerate(node)):
                if isinstance(v, _Refused) and v.text == "NaN" and nan_ok([*path, k]):
                    node[k] = math.nan
            items = list(node.items() if isinstance(node, dict) else enumerate(node))
            stack.extend((v, [*path, k]) for k, v in reversed(items) if isinstance(v, (dict, list, _Refused)))
        elif isinstance(node, _Refused):
            return path, node
    return None


def read_json(path: str | Path, what: str, fix: str, allow_nan: bool | tuple[str, ...] = False) -> Any:
    """The JSON document in `path`, parsed with bounds: size, nesting depth, finite numbers, integers within
    int64. NaN is refused unless `allow_nan` is True or names the top-level fields where the record's writer
    puts NaN for "no value" (a measurement never is NaN); Infinity always.
    Every failure is one VstError line naming the file, the field where there is one, and `fix`."""
    path = Path(path)
    if path.is_dir():
        raise VstError(f"{path} is a folder, not {what}; {fix}")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_RECORD_BYTES + 1)
    except FileNotFoundError:
        raise VstError(f"{path} does not exist; {fix}") from None
    except OSError as exc:
        raise VstError(f"cannot read {path} ({exc.strerror}); check its permissions, or {fix}") from None
    if len(data) > MAX_RECORD_BYTES:
        raise VstError(f"{path} is over {MAX_RECORD_BYTES >> 20} MB, far larger than {what}; {fix}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise VstError(f"{path} is not text (not UTF-8), so not {what}; {fix}") from None

    def constant(name: str):
        return _Refused(name, f"is not a value {what} holds there" if name == "NaN" else "is out of range")

    def nan_ok(field: list) -> bool:
        return allow_nan is True or bool(allow_nan) and bool(field) and field[0] in allow_nan

    deep = f"{path} nests deeper than {what} ever does (over {MAX_DEPTH} levels); {fix}"
    try:
        doc = json.loads(text, parse_float=_number, parse_int=_integer, parse_constant=constant)
    except json.JSONDecodeError as exc:
        where = f" (line {exc.lineno}, column {exc.colno}: {exc.msg})" if text.strip() else " (the file is empty)"
        raise VstError(f"{path} is not valid JSON{where}; {fix}") from None
    except RecursionError:  # Python's parser is bounded by the interpreter's recursion limit
        raise VstError(deep) from None
    if isinstance(doc, _Refused):  # the whole document is one number
        doc = math.nan if doc.text == "NaN" and nan_ok([]) else doc
    flaw = ([], doc) if isinstance(doc, _Refused) else _first_flaw(doc, MAX_DEPTH, nan_ok)
    if flaw and flaw[1] is None:
        raise VstError(deep)
    if flaw:
        raise VstError(f"{path} is not {what}: {field_name(flaw[0])}: {flaw[1].text} {flaw[1].why}; {fix}")
    return doc


def io_text(rep: dict) -> str:
    """A conversion report's I/O in words. A Core ML program is NCHW inside whatever its I/O: its io_layout
    "nhwc" means image (pixel buffer) I/O."""
    layout = rep.get("io_layout", "?")
    if rep.get("target") == "coreml":
        return "images (pixel buffers), NCHW program" if layout == "nhwc" else "NCHW tensors"
    return layout


def field_name(path) -> str:
    """A schema error's location as a reader would write it: source.config, repeats[0].e2e.frames."""
    out = ""
    for p in path:
        # a key is the file's own text: a newline or a control character in it must not break the line
        p = p if isinstance(p, int) else str(p)[:40].encode("unicode_escape").decode("ascii")
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out or "the top level"


def error_line(err) -> str:
    """A jsonschema error as 'field: message', short and printable: the message quotes the offending value,
    which may be a long string or hold control characters."""
    message = err.message if len(err.message) <= 160 else err.message[:157] + "..."
    return f"{field_name(err.absolute_path)}: {message.encode('unicode_escape').decode('ascii')}"


def schema_problem(doc: Any, schema: dict) -> str | None:
    """The most relevant violation of `schema` in `doc` as one short line, or None."""
    import jsonschema
    from jsonschema.exceptions import best_match
    err = best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(doc))
    return None if err is None else error_line(err)


def read_record(path: str | Path, schema: dict, what: str, fix: str,
                allow_nan: bool | tuple[str, ...] = False) -> dict:
    """`read_json`, then the record checked against its schema: a user error naming the file and the field."""
    doc = read_json(path, what, fix, allow_nan)
    problem = schema_problem(doc, schema)
    if problem:
        raise VstError(f"{path} is not {what}: {problem}; {fix}")
    return doc


def read_conversion_report(artifact: str | Path) -> dict | None:
    """The conversion report beside an artifact, checked against its schema (one line naming the file and the
    field when it is damaged or forged), or None when there is none."""
    path = report_path(artifact)
    if not path.exists():
        return None
    return read_record(path, schema("conversion-report"), "a vst-convert report",
                       "convert the model again with vst-convert, or delete the report")


def read_sample(report_file: Path, relative: str):
    """A sample output stored beside a conversion report, as RGB uint8, or None when it is missing, unreadable,
    over the image pixel limit, or named outside the report's folder (a path read from a record stays beside
    it)."""
    from vst.common.images import load_image
    path = (report_file.parent / relative).resolve()
    if not path.is_relative_to(report_file.parent.resolve()) or not path.is_file():
        return None
    try:
        return load_image(path)
    except VstError:
        return None
