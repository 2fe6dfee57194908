"""Validate a pipeline config against the schema shipped in the package
(``specnorm/schemas/config.schema.yaml``, also used by ``common.smk``); errors name the key."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from specnorm.io import SHOWN_CHARS, read_yaml, shown

SCHEMA = Path(str(resources.files("specnorm").joinpath("schemas", "config.schema.yaml")))
"""The pipeline config's JSON schema (YAML), inside the installed package."""


class GridError(ValueError):
    """The pipeline config (experiment blocks, sets, execution keys) is invalid; names the key."""


@lru_cache(maxsize=4)
def _validator(path: Path) -> Any:
    import jsonschema

    schema = read_yaml(path, "pipeline config schema", GridError)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _message(error: Any) -> str:
    """``config key '<dotted.path>': <what is wrong>`` for one jsonschema error."""
    where = ".".join(str(p) for p in error.absolute_path)
    prefix = f"{where}." if where else ""
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return f"config key '{prefix}{extra[0]}': unknown key (allowed here: {', '.join(allowed)})"
    message = error.message.replace(repr(error.instance), shown(error.instance))  # a huge value, truncated
    if "propertyNames" in error.schema_path:
        key = str(error.instance) if len(str(error.instance)) <= SHOWN_CHARS else shown(error.instance)
        return f"config key '{prefix}{key}': key not allowed here ({message})"
    return f"config key '{where or 'top level'}': {message}"


def validate_experiments(experiments: dict[str, Any], schema: Path = SCHEMA) -> None:
    """Raise :class:`GridError` for the first schema violation, or a preset/set reference that
    does not exist; the message starts with ``config key '<dotted.path>'``."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator(schema).iter_errors(experiments))
    if error is not None:
        raise GridError(_message(error))
    presets = experiments.get("presets") or {}
    for name, block in experiments["blocks"].items():
        for i, preset in enumerate(block.get("base") or []):
            if preset not in presets:
                raise GridError(f"config key 'blocks.{name}.base.{i}': unknown preset {shown(preset)} "
                                f"(presets: {', '.join(sorted(presets))})")
    sets = experiments.get("sets") or {}
    for name in sets:
        if name in experiments["blocks"]:
            raise GridError(f"config key 'sets.{name}': a set may not share its name with a block")
