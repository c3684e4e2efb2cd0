#!/usr/bin/env python3
"""Validates JSON-lines files of Sharp Eyes events against the JSON Schemas in schemas/.

    .venv/bin/python scripts/validate_events.py [--schema FILE] FILE... ('-' reads stdin)

Without --schema each line picks its schema from its shape: a `kind` starting with `camera_` ->
schemas/camera-status.v<schema_version>.schema.json (v1 and v2), a `guardian` object ->
schemas/guardian-notification.v1.schema.json, anything else -> schemas/alert.v1.schema.json. Prints one line per invalid event
(`file:line: path: message`) and a summary; exit status 1 when any line is invalid, 2 on usage
errors. Used by the tests on every message read back from Kafka and every webhook body.
"""
import json
import sys
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"

# Every schema of schemas/ by its $id, so one may $ref another (the notification embeds the alert).
REGISTRY = Registry().with_resources(
    (s["$id"], Resource.from_contents(s))
    for s in (json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.schema.json")))
)


def load(path):
    schema = json.loads(Path(path).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=REGISTRY)


def pick(event, validators):
    if isinstance(event, dict) and str(event.get("kind", "")).startswith("camera_"):
        # A version this validator does not know is checked against the newest (and fails
        # on its schema_version const).
        return validators["status"].get(event.get("schema_version"), validators["status"][2])
    if isinstance(event, dict) and "guardian" in event:
        return validators["notification"]
    return validators["alert"]


def main(argv):
    args = list(argv)
    fixed = None
    if args[:1] == ["--schema"]:
        if len(args) < 2:
            print("--schema needs a file", file=sys.stderr)
            return 2
        fixed = load(args[1])
        args = args[2:]
    if not args:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    validators = {
        "alert": load(SCHEMAS / "alert.v1.schema.json"),
        "status": {
            1: load(SCHEMAS / "camera-status.v1.schema.json"),
            2: load(SCHEMAS / "camera-status.v2.schema.json"),
        },
        "notification": load(SCHEMAS / "guardian-notification.v1.schema.json"),
    }
    good = bad = 0
    for name in args:
        lines = sys.stdin.read().splitlines() if name == "-" else Path(name).read_text().splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError as e:
                print(f"{name}:{number}: not JSON: {e}")
                bad += 1
                continue
            validator = fixed or pick(event, validators)
            errors = sorted(validator.iter_errors(event), key=lambda e: list(e.absolute_path))
            for e in errors:
                path = "/".join(str(p) for p in e.absolute_path) or "(root)"
                print(f"{name}:{number}: {path}: {e.message}")
            if errors:
                bad += 1
            else:
                good += 1
    print(f"valid={good} invalid={bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
