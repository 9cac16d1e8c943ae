"""Generates secrets in context from the rules of gitleaks, to measure how
many of them the masking engine masks, rule by rule.

gitleaks (MIT licence, Zachary Rice and contributors) describes each kind
of secret with a regular expression whose capture group is the secret
itself, usually behind the key names it is found after. This script draws
random texts that match each rule's expression (with `rstr`), keeps those
Python's `re` matches again, and records where the secret group is. The
rules file is gitleaks' `config/gitleaks.toml` at the commit named in
`samples.jsonl`'s first line.

    pip install rstr==3.2.2
    python3 generate.py gitleaks.toml COMMIT > samples.jsonl

Each line after the first: {"rule", "text", "start", "end"} (byte offsets
of the secret), drawn from the expression; and for the first five drawn
per rule, the same secret in a configuration or code context after a key
named for the service (`"context": true`). Rules whose expressions Python cannot read (Go-only
syntax) are listed in the first line's "skipped".
"""

import json
import random
import re
import sys
import tomllib

import rstr

SEED = 20261206
PER_RULE = 20
# Where a secret is kept, after a key named for the service (`{id}`).
CONTEXTS = [
    '{id}_api_token = "{secret}"',
    'export {ID}_TOKEN={secret}',
    '{"{id}Token": "{secret}"}',
    '{id}_secret: {secret}',
    'curl -H "Authorization: Bearer {secret}" https://api.example.com',
]


def main(path, commit):
    with open(path, "rb") as f:
        config = tomllib.load(f)
    generator = rstr.Rstr(random.Random(SEED))
    lines = []
    skipped = []
    for rule in config["rules"]:
        pattern = rule.get("regex")
        if not pattern:
            skipped.append(rule["id"])
            continue
        try:
            compiled = re.compile(pattern)
        except re.error:
            skipped.append(rule["id"])
            continue
        # The secret is the rule's secret group, else its first group, else
        # the whole match.
        group = rule.get("secretGroup", 1 if compiled.groups else 0)
        made = 0
        for _ in range(PER_RULE * 20):
            if made == PER_RULE:
                break
            try:
                text = generator.xeger(pattern)
            except Exception:  # noqa: BLE001 - rstr cannot draw every expression
                break
            if "\n" in text or not text.isprintable():
                continue
            found = compiled.search(text)
            if not found or compiled.groups < group or found.group(group) is None:
                continue
            start, end = found.span(group)
            if end - start < 8:
                continue
            lines.append({
                "rule": rule["id"],
                "text": text,
                "start": len(text[:start].encode("utf-8")),
                "end": len(text[:end].encode("utf-8")),
            })
            # The same secret where configuration and code keep it, after
            # the rule's first keyword, as gitleaks' own samples place it.
            if made < len(CONTEXTS):
                keyword = (rule.get("keywords") or [rule["id"].split("-")[0]])[0]
                name = re.sub(r"[^A-Za-z0-9]+", "_", keyword).strip("_") or "api"
                secret = text[start:end]
                before, after = CONTEXTS[made].split("{secret}")
                before = before.replace("{id}", name.lower()).replace("{ID}", name.upper())
                in_context = before + secret + after
                lines.append({
                    "rule": rule["id"],
                    "context": True,
                    "text": in_context,
                    "start": len(before.encode("utf-8")),
                    "end": len(before.encode("utf-8")) + len(secret.encode("utf-8")),
                })
            made += 1
        if made == 0:
            skipped.append(rule["id"])
    print(json.dumps({"source": "gitleaks config/gitleaks.toml", "commit": commit,
                      "licence": "MIT", "per_rule": PER_RULE, "seed": SEED,
                      "skipped": skipped}))
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
