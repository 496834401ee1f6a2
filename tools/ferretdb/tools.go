//go:build tools

// Package tools pins FerretDB so that scripts/stack.sh can build it from the
// Go module proxy (go install ...@version is refused by the proxy here).
package tools

import _ "github.com/FerretDB/FerretDB/cmd/ferretdb"
