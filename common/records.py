"""Checking vst's own JSON records (conversion reports, study records) against their schemas."""
from __future__ import annotations

from vst.common.errors import InternalError


def check_record(doc: dict, schema: dict, what: str) -> None:
    """A record vst wrote or is about to write that breaks its schema is vst's bug, not the user's input."""
    import jsonschema
    try:
        jsonschema.validate(doc, schema)
    except jsonschema.ValidationError as exc:
        raise InternalError(f"{what} does not match its schema at {list(exc.absolute_path)}: "
                            f"{exc.message[:200]}") from None
