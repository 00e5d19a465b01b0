#!/usr/bin/env python3
"""Validates OpenAPI 3.0 documents (JSON) with openapi-spec-validator.

Usage:
    validate_openapi.py [FILE...]     each FILE, or standard input when none (or "-") is given

    build/examples/hello openapi | .venv/bin/python tests/integration/validate_openapi.py
    .venv/bin/python tests/integration/validate_openapi.py /tmp/dump/*.json

Prints "FILE: valid OpenAPI 3.0.x document" for each valid document, or every problem found
(with where it is in the document) on standard error. Exits 0 when every document is valid, 1
when any is not, cannot be read or parsed, or the validator is not installed.
"""
import json
import sys


def load(path):
    """Returns (label, text) for a path, "-" meaning standard input."""
    if path == "-":
        return "<stdin>", sys.stdin.read()
    with open(path, encoding="utf-8") as f:
        return path, f.read()


def shorten(text, limit=300):
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def leaves(error):
    """The innermost errors under `error` (oneOf and anyOf errors keep theirs in .context)."""
    context = getattr(error, "context", None)
    if not context:
        return [error]
    return [leaf for sub in context for leaf in leaves(sub)]


def describe(error):
    """(where, what) for a validation error: its JSON path in the document ("paths./greet.post")
    and its message. A oneOf/anyOf error ("... is not valid under any of the given schemas") is
    explained by its deepest inner error instead, leaving out the "'$ref' is a required property"
    of the Reference alternative that every OpenAPI object has."""
    candidates = leaves(error)
    useful = [e for e in candidates if not (e.validator == "required" and "'$ref'" in e.message)]
    best = max(useful or candidates, key=lambda e: len(e.absolute_path))
    parts = [str(p) for p in best.absolute_path]
    return (".".join(parts) if parts else "(document root)"), shorten(best.message)


def validate(label, text):
    """Validates one document; prints the verdict and returns True when it is valid."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        print("%s: not JSON: %s" % (label, e), file=sys.stderr)
        return False
    if not isinstance(doc, dict):
        print("%s: not an OpenAPI document: the top level is not an object" % label,
              file=sys.stderr)
        return False
    version = doc.get("openapi")
    if not isinstance(version, str) or not version.startswith("3.0."):
        print("%s: not an OpenAPI 3.0 document: \"openapi\" is %r" % (label, version),
              file=sys.stderr)
        return False

    from openapi_spec_validator import OpenAPIV30SpecValidator

    try:
        errors = [describe(e) for e in OpenAPIV30SpecValidator(doc).iter_errors()]
    except Exception as e:  # the validator gives up on some errors, e.g. a dangling $ref
        errors = [("(while validating)", shorten("%s: %s" % (type(e).__name__, e)))]
    if errors:
        print("%s: INVALID OpenAPI %s document: %d problem(s)" % (label, version, len(errors)),
              file=sys.stderr)
        for at, message in errors:
            print("  at %s: %s" % (at, message), file=sys.stderr)
        return False
    print("%s: valid OpenAPI %s document" % (label, version))
    return True


def main(argv):
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip())
        return 0
    try:
        import openapi_spec_validator  # noqa: F401
    except ImportError:
        print("validate_openapi: openapi-spec-validator is not installed (run scripts/venv.sh "
              "and use .venv/bin/python)", file=sys.stderr)
        return 1
    ok = True
    for path in argv or ["-"]:
        try:
            label, text = load(path)
        except (OSError, UnicodeDecodeError) as e:
            print("%s: cannot read: %s" % (path, e), file=sys.stderr)
            ok = False
            continue
        ok = validate(label, text) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
