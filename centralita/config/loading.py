"""Load configuration models from YAML, with errors that name the field and the line.

Scalars are read close to YAML 1.2's core schema rather than PyYAML's YAML 1.1 one: only
``true``/``false`` are booleans, and numbers stay text so that ``number: 0101`` is not the
octal 65 and ``password: 12345678`` keeps its digits; pydantic turns text into a number
where the model wants one. A key repeated in a mapping is an error, not "last one wins".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

M = TypeVar("M", bound=BaseModel)

_DROPPED_TAGS = {
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
}


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a configuration file: ``acme.yaml:7: tenants[0].domain: message``."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        super().__init__("\n".join(str(issue) for issue in issues))
        self.issues = list(issues)


def load_model(path: str | Path, model: type[M]) -> M:
    """Read the YAML file at ``path`` into ``model``; ConfigError lists every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(str(path), None, "", f"cannot read: {exc}")]) from exc
    return parse_model(text, model, filename=str(path))


def parse_model(text: str, model: type[M], *, filename: str = "<string>") -> M:
    root, data = _parse_yaml(text, filename)
    issues = _duplicate_keys(root, filename)
    if issues:
        raise ConfigError(issues)
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        issues = [_issue(error, root, filename) for error in exc.errors()]
        raise ConfigError(sorted(issues, key=lambda issue: issue.line or 0)) from None


def format_path(loc: Sequence[int | str]) -> str:
    """``("tenants", 0, "name")`` -> ``tenants[0].name``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _parse_yaml(text: str, filename: str) -> tuple[yaml.Node | None, Any]:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        return root, None if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError([ConfigIssue(filename, line, "", f"invalid YAML: {message}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigIssue(filename, None, "", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()


def _issue(error: ErrorDetails, root: yaml.Node | None, filename: str) -> ConfigIssue:
    loc = list(error["loc"])
    context = error.get("ctx") or {}
    if error["type"] == "duplicate" and isinstance(context.get("at"), list):
        loc += context["at"]  # our cross-item checks say where the repeat is
    return ConfigIssue(filename, _line_of(root, loc), format_path(loc), error["msg"])


def _line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int:
    """Line (1-based) of the deepest node of ``loc`` present in the file: a missing field
    is reported at the mapping that lacks it."""
    if root is None:
        return 1
    node, line = root, root.start_mark.line
    for part in loc:
        found = _child(node, part)
        if found is None:
            break
        line, node = found
    return line + 1


def _child(node: yaml.Node, part: int | str) -> tuple[int, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                return key.start_mark.line, value
    in_sequence = isinstance(node, yaml.SequenceNode) and isinstance(part, int)
    if in_sequence and 0 <= int(part) < len(node.value):
        item: yaml.Node = node.value[int(part)]
        return item.start_mark.line, item
    return None


def _duplicate_keys(root: yaml.Node | None, filename: str) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    pending: list[tuple[yaml.Node, tuple[int | str, ...]]] = [] if root is None else [(root, ())]
    while pending:
        node, loc = pending.pop()
        if isinstance(node, yaml.SequenceNode):
            pending.extend((item, (*loc, i)) for i, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                name = str(key.value)
                if name in seen:
                    issues.append(
                        ConfigIssue(
                            filename,
                            key.start_mark.line + 1,
                            format_path((*loc, name)),
                            "duplicate key",
                        )
                    )
                seen.add(name)
                pending.append((value, (*loc, name)))
    return sorted(issues, key=lambda issue: issue.line or 0)
