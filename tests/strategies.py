"""Hypothesis strategies for JSON values described by a lab's pydantic JSON schema.

Enough of JSON Schema for what pydantic writes for our models: objects with properties (each
optional property present or not), enums and consts, bounded integers and numbers, strings,
booleans, arrays with bounds (tuples as prefixItems), anyOf, nulls and $ref into $defs. Values
mostly follow the schema; the fuzz test mutates them further."""

from __future__ import annotations

from hypothesis import strategies as st

MAX_ITEMS = 6  # arrays stay short: a fuzz batch must be cheap for the server to refuse or run


def from_json_schema(schema: dict, defs: dict | None = None) -> st.SearchStrategy:
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return st.deferred(lambda: from_json_schema(defs[name], defs))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of(*(from_json_schema(s, defs) for s in schema[key]))
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return from_json_schema(schema["allOf"][0], defs)
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of(*(from_json_schema({**schema, "type": k}, defs) for k in kind))
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        low = schema.get("minimum", schema.get("exclusiveMinimum", -(2**31)))
        high = schema.get("maximum", schema.get("exclusiveMaximum", 2**31))
        return st.integers(int(low), int(high))
    if kind == "number":
        return st.floats(
            schema.get("minimum", schema.get("exclusiveMinimum", -1e6)),
            schema.get("maximum", schema.get("exclusiveMaximum", 1e6)),
            allow_nan=False, allow_infinity=False,
        )
    if kind == "string":
        return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 30), 30))
    if kind == "array":
        if "prefixItems" in schema:
            return st.tuples(*(from_json_schema(s, defs) for s in schema["prefixItems"])).map(list)
        items = from_json_schema(schema.get("items", {}), defs)
        low = schema.get("minItems", 0)
        return st.lists(items, min_size=low, max_size=max(low, min(schema.get("maxItems", MAX_ITEMS), MAX_ITEMS)))
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: from_json_schema(v, defs) for k, v in properties.items() if k in required},
            optional={k: from_json_schema(v, defs) for k, v in properties.items() if k not in required},
        )
    return st.none() | st.integers() | st.text(max_size=10)  # {}: anything
