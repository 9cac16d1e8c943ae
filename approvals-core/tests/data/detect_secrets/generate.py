"""Writes false_positives.jsonl: the texts that detect-secrets' own plugin
tests (tests/plugins/*_test.py of github.com/Yelp/detect-secrets, Apache-2.0)
say must not be flagged, one JSON line each with the plugin's name. Only
literal payloads are taken (not those built with .format at test time).

    python3 generate.py path/to/detect-secrets/tests/plugins > false_positives.jsonl
"""

import ast, json, sys, pathlib
out = []
for path in sorted(pathlib.Path(sys.argv[1]).glob('*_test.py')):
    plugin = path.stem[:-5]
    tree = ast.parse(path.read_text())
    consts = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                consts[node.targets[0].id] = ast.literal_eval(node.value)
            except Exception:
                vals = []
                for elt in getattr(node.value, 'elts', []):
                    try:
                        vals.append(ast.literal_eval(elt))
                    except Exception:
                        pass
                consts[node.targets[0].id] = vals
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, 'attr', '') == 'parametrize'):
            continue
        if len(node.args) < 2 or not isinstance(node.args[0], ast.Constant):
            continue
        names = [n.strip() for n in node.args[0].value.split(',')]
        values = node.args[1]
        if isinstance(values, ast.Name):
            values = consts.get(values.id)
        else:
            try:
                values = ast.literal_eval(values)
            except Exception:
                # element-wise, keep the literal ones
                vals = []
                for elt in getattr(values, 'elts', []):
                    try:
                        vals.append(ast.literal_eval(elt))
                    except Exception:
                        pass
                values = vals
        if not values:
            continue
        flag = next((k for k, n in enumerate(names) if n in ('should_flag', 'should_find', 'expected', 'expected_result', 'is_valid', 'should_match', 'expected_secret', 'should_be_caught', 'num_results')), None)
        for v in values:
            if not isinstance(v, tuple) or flag is None or flag >= len(v):
                continue
            payload = next((x for x in v if isinstance(x, str)), None)
            if payload is None or v[flag] not in (False, None, 0):
                continue
            out.append({'plugin': plugin, 'text': payload})
seen = set()
for r in out:
    key = (r['plugin'], r['text'])
    if key in seen: continue
    seen.add(key)
    print(json.dumps(r, ensure_ascii=False))
