"""Deterministic filling of a JSON schema (as produced by pydantic's ``model_json_schema()``).

The values depend only on the schema and a *seed* string (the fake server uses the last user
message), so the same paper always gets the same scores and different papers get different ones.
"""

from __future__ import annotations

import hashlib
from typing import Any

JSON = Any  # a JSON value: dict / list / str / int / float / bool / None

_MAX_DEPTH = 8  # recursion guard for self-referencing schemas
_FORMATS: dict[str, str] = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "email": "fake@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def fill_schema(schema: dict[str, Any], seed: str) -> JSON:
    """Return a value that validates against ``schema``, derived deterministically from ``seed``."""
    return _Filler(schema, seed).fill(schema, "$", 0)


class _Filler:
    def __init__(self, root: dict[str, Any], seed: str) -> None:
        self.root = root
        self.seed = seed

    def _hash(self, path: str) -> int:
        digest = hashlib.sha256(f"{self.seed}\x00{path}".encode()).digest()
        return int.from_bytes(digest[:8], "big")

    def _resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.root
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref are supported, got {ref!r}")
        for part in ref.lstrip("#").strip("/").split("/"):
            if part:
                node = node[part.replace("~1", "/").replace("~0", "~")]
        if not isinstance(node, dict):
            raise ValueError(f"$ref {ref!r} does not point to a schema")
        return node

    def fill(self, schema: dict[str, Any], path: str, depth: int) -> JSON:
        if "$ref" in schema:
            return self.fill(self._resolve(schema["$ref"]), path, depth + 1)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        if depth > 4 * _MAX_DEPTH:
            raise ValueError(f"schema nests too deeply at {path}")
        for key in ("anyOf", "oneOf", "allOf"):
            if key in schema:
                options = [s for s in schema[key] if s.get("type") != "null"]
                nullable = len(options) < len(schema[key])
                if not options or (nullable and depth >= _MAX_DEPTH):
                    return None
                return self.fill(options[0], path, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        if kind == "object":
            return self._object(schema, path, depth)
        if kind == "array":
            return self._array(schema, path, depth)
        if kind == "integer":
            return self._integer(schema, path)
        if kind == "number":
            return self._number(schema, path)
        if kind == "boolean":
            return self._hash(path) % 2 == 0
        if kind == "string":
            return self._string(schema, path)
        return None

    def _object(self, schema: dict[str, Any], path: str, depth: int) -> dict[str, JSON]:
        props: dict[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or props)
        out: dict[str, JSON] = {}
        for name, sub in props.items():
            if depth >= _MAX_DEPTH and name not in required:
                continue
            out[name] = self.fill(sub, f"{path}.{name}", depth + 1)
        return out

    def _array(self, schema: dict[str, Any], path: str, depth: int) -> list[JSON]:
        prefix: list[dict[str, Any]] = schema.get("prefixItems") or []
        out = [self.fill(s, f"{path}[{i}]", depth + 1) for i, s in enumerate(prefix)]
        n_items = max(int(schema.get("minItems", 0)), 0 if depth >= _MAX_DEPTH else 1)
        n_items = min(n_items, int(schema.get("maxItems", n_items)))
        items = schema.get("items")
        if isinstance(items, dict) and items:
            while len(out) < n_items:
                out.append(self.fill(items, f"{path}[{len(out)}]", depth + 1))
        return out

    @staticmethod
    def _bounds(schema: dict[str, Any], step: float) -> tuple[float, float]:
        lo: float | None = schema.get("minimum")
        hi: float | None = schema.get("maximum")
        if "exclusiveMinimum" in schema:
            lo = schema["exclusiveMinimum"] + step
        if "exclusiveMaximum" in schema:
            hi = schema["exclusiveMaximum"] - step
        if lo is None:
            lo = 0.0 if hi is None else hi - 100
        if hi is None:
            hi = lo + 100
        return lo, hi

    def _integer(self, schema: dict[str, Any], path: str) -> int:
        lo_f, hi_f = self._bounds(schema, 1)
        lo, hi = int(-(-lo_f // 1)), int(hi_f // 1)  # ceil(lo), floor(hi)
        if hi < lo:
            return lo
        return lo + self._hash(path) % (hi - lo + 1)

    def _number(self, schema: dict[str, Any], path: str) -> float:
        lo, hi = self._bounds(schema, 1e-6)
        value = round(lo + (self._hash(path) % 10_001) / 10_000 * (hi - lo), 4)
        return float(min(max(value, lo), hi))

    def _string(self, schema: dict[str, Any], path: str) -> str:
        if schema.get("format") in _FORMATS:
            return _FORMATS[schema["format"]]
        name = path.rsplit(".", 1)[-1].strip("$[]0123456789") or "value"
        text = f"Deterministic fake {name.replace('_', ' ')} #{self._hash(path) % 1000}."
        min_len = int(schema.get("minLength", 0))
        if len(text) < min_len:
            text += " filler" * ((min_len - len(text)) // 7 + 1)
        max_len = schema.get("maxLength")
        if max_len is not None:
            text = text[: int(max_len)]
        return text
