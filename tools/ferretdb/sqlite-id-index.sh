#!/usr/bin/env bash
# Applied by scripts/stack.sh to FerretDB's vendored source before it is built.
#
# FerretDB 1.24's SQLite backend indexes `_id` as `_ferretdb_sjson->"_id"` but filters by
# `_ferretdb_sjson->'$._id'`. SQLite matches index expressions by their text, so it never
# uses the index: every find, update and delete by `_id` scans the table up to its match
# (2 ms for early rows, 370 ms for late ones at 20,000 documents; docs/adr/0012). The same
# mismatch on the PostgreSQL backend is FerretDB issue #4646. This writes the filter the
# way the index is written; the values compared are the same, so results do not change.
set -euo pipefail
file=$1/github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata/metadata.go
old="IDColumn = DefaultColumn + \"->'\$._id'\""
new='IDColumn = DefaultColumn + `->"_id"`'
grep -qF "$old" "$file" || { echo "sqlite-id-index: expected line not found in $file" >&2; exit 1; }
python3 - "$file" "$old" "$new" <<'PY'
import sys
path, old, new = sys.argv[1:]
text = open(path, encoding="utf-8").read()
open(path, "w", encoding="utf-8").write(text.replace(old, new, 1))
PY
grep -qF "$new" "$file"
