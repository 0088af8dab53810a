#!/bin/bash
# test.sh runs every test: gofmt and vet first, then the Go tests with the
# race detector (the QEMU tests live in their own package and run too).
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
if [ -n "$unformatted" ]; then
	echo "gofmt needed: $unformatted" >&2
	exit 1
fi
go vet ./...
mkdir -p .cache
go test -race -timeout 14m -count=1 ./... 2>&1 | tee .cache/test.log
