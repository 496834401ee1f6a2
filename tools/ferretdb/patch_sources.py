"""Four patches to FerretDB 1.24.2 (three to its SQLite backend, one to its handler),
applied to its vendored source by ``scripts/stack.sh install`` before the build
(docs/adr/0012).

1. ``_id`` index used. Every collection's unique index is ``_ferretdb_sjson->"_id"``, but
   filters, updates and deletes by ``_id`` are written ``_ferretdb_sjson->'$._id'``.
   SQLite matches index expressions by their text, so it scanned the table every time.
   The patch writes the filter like the index; both give the same value. FerretDB issue
   #4646 is the same mismatch on the PostgreSQL backend.
2. ``{_id: {$in: [...]}}`` pushed down. A filter that is only ``_id`` with ``$in`` over
   strings or ObjectIDs (up to 1,000) becomes ``WHERE <_id> IN (...)``, answered from the
   same index. FerretDB's handler filters every document the backend returns again
   (``common.FilterIterator``), so the result is exactly what it was before.

4. Write-ahead log cut back when idle. SQLite starts its write-ahead log over only at a
   moment when no reader uses it; under a service's steady readers the log keeps the
   size of the largest burst of writes (several times the database, docs/operations.md).
   Every 10 s each open database gets a TRUNCATE checkpoint that does not wait
   (busy_timeout 0): it empties the log whenever nothing uses it, and gives way at once
   otherwise, so writers are never held up.

Each patch checks that the text it replaces is there, so an upgrade of FerretDB stops
the build instead of silently dropping a patch.

Usage: python3 patch_sources.py <vendor directory>
"""

import sys
from pathlib import Path

SQLITE = "github.com/FerretDB/FerretDB/internal/backends/sqlite"

ID_COLUMN = (
    f"{SQLITE}/metadata/metadata.go",
    """IDColumn = DefaultColumn + "->'$._id'\"""",
    """IDColumn = DefaultColumn + `->"_id"`""",
)

QUERY_FILTER = (
    f"{SQLITE}/collection.go",
    """		v, _ := params.Filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}
	}

	q += whereClause""",
    """		v, _ := params.Filter.Get("_id")
		switch v := v.(type) {
		case string, types.ObjectID:
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		case *types.Document:
			if placeholders, ids, ok := idInPushdown(v); ok {
				whereClause = fmt.Sprintf(` WHERE %s IN (%s)`, metadata.IDColumn, placeholders)
				args = ids
			}
		}
	}

	q += whereClause""",
)

UPDATE_RELEASES_READ = (
    "github.com/FerretDB/FerretDB/internal/handler/msg_update.go",
    """		closer := iterator.NewMultiCloser()
		defer closer.Close()

		closer.Add(res.Iter)

		iter := common.FilterIterator(res.Iter, closer, u.Filter)

		if !u.Multi {
			iter = common.LimitIterator(iter, closer, 1)
		}

		result, err := common.UpdateDocument(ctx, c, "update", iter, &u)
		if err != nil {""",
    """		closer := iterator.NewMultiCloser()

		closer.Add(res.Iter)

		iter := common.FilterIterator(res.Iter, closer, u.Filter)

		if !u.Multi {
			iter = common.LimitIterator(iter, closer, 1)
		}

		result, err := common.UpdateDocument(ctx, c, "update", iter, &u)
		closer.Close() // this statement's read ends here, not when the whole command does
		if err != nil {""",
)

ID_IN_HELPER = """

// idInPushdown returns the placeholders and arguments of `_id IN (...)` for a filter
// `{$in: [...]}` whose values are all strings or ObjectIDs (1 to 1000 of them).
// The handler filters the returned documents again, as for every pushdown.
func idInPushdown(d *types.Document) (string, []any, bool) {
	if d.Len() != 1 {
		return "", nil, false
	}

	v, err := d.Get("$in")
	if err != nil {
		return "", nil, false
	}

	values, ok := v.(*types.Array)
	if !ok || values.Len() == 0 || values.Len() > 1000 {
		return "", nil, false
	}

	placeholders := make([]string, values.Len())
	args := make([]any, values.Len())

	for i := 0; i < values.Len(); i++ {
		id := must.NotFail(values.Get(i))
		switch id.(type) {
		case string, types.ObjectID:
		default:
			return "", nil, false
		}

		placeholders[i] = "?"
		args[i] = string(must.NotFail(sjson.MarshalSingleValue(id)))
	}

	return strings.Join(placeholders, ", "), args, true
}
"""


OPEN_DB = f"{SQLITE}/metadata/pool/opendb.go"

CHECKPOINT_IMPORTS = (
    OPEN_DB,
    """	"database/sql"
	"log/slog"
""",
    """	"database/sql"
	"fmt"
	"log/slog"
	"time"
""",
)

CHECKPOINT_STARTED = (
    OPEN_DB,
    """	return fsql.WrapDB(db, name, l), nil
}
""",
    """	if !memory {
		go checkpointWhenIdle(db, name, l)
	}

	return fsql.WrapDB(db, name, l), nil
}

// walCheckpointInterval is how often checkpointWhenIdle tries to empty the log.
const walCheckpointInterval = 10 * time.Second

// checkpointWhenIdle empties the database's write-ahead log every walCheckpointInterval
// when no reader or writer uses it at that moment (a TRUNCATE checkpoint with
// busy_timeout 0 gives way at once otherwise), until the database is closed.
// Patched in by tools/ferretdb/patch_sources.py.
func checkpointWhenIdle(db *sql.DB, name string, l *slog.Logger) {
	ticker := time.NewTicker(walCheckpointInterval)
	defer ticker.Stop()

	for range ticker.C {
		ctx := context.Background()

		conn, err := db.Conn(ctx)
		if err != nil {
			return // the database was closed
		}

		var busyTimeout int
		if err = conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busyTimeout); err == nil {
			if _, err = conn.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err == nil {
				_, err = conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
				restore := fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeout)
				if _, restoreErr := conn.ExecContext(ctx, restore); restoreErr != nil {
					err = restoreErr
				}
			}
		}

		_ = conn.Close()

		if err != nil {
			l.Debug("checkpointWhenIdle: "+name, logging.Error(err))
		}
	}
}
""",
)


def replace_once(vendor: Path, path: str, old: str, new: str) -> None:
    file = vendor / path
    text = file.read_text(encoding="utf-8")
    if text.count(old) != 1:
        sys.exit(f"patch_sources: the text to patch is not (once) in {file}")
    file.write_text(text.replace(old, new), encoding="utf-8")


def main() -> None:
    vendor = Path(sys.argv[1])
    replace_once(vendor, *ID_COLUMN)
    replace_once(vendor, *QUERY_FILTER)
    replace_once(vendor, *UPDATE_RELEASES_READ)
    replace_once(vendor, *CHECKPOINT_IMPORTS)
    replace_once(vendor, *CHECKPOINT_STARTED)
    collection = vendor / QUERY_FILTER[0]
    collection.write_text(collection.read_text(encoding="utf-8") + ID_IN_HELPER, "utf-8")


if __name__ == "__main__":
    main()
