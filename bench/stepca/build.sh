#!/usr/bin/env bash
# Builds step-ca 0.19.0 (step-ca/main.go) and stepbench (stepbench/main.go) offline, in GOPATH mode, from
# Debian's Go source packages golang-go + golang-github-smallstep-certificates-dev. Exits 3 with a message
# when they are not installed (bench/sidebyside.py then skips step-ca). Idempotent: rebuilds only when a
# main.go is newer than its binary.
#   bash bench/stepca/build.sh OUT_DIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:?usage: build.sh OUT_DIR}"
GOCODE=/usr/share/gocode
if ! command -v go >/dev/null || [ ! -d "$GOCODE/src/github.com/smallstep/certificates/commands" ]; then
  echo "step-ca cannot be built here: Debian packages golang-go and golang-github-smallstep-certificates-dev" \
       "are needed (apt-get install golang-go golang-github-smallstep-certificates-dev)" >&2
  exit 3
fi
mkdir -p "$OUT/gopath/src/plicabench"
export GO111MODULE=off GOFLAGS= GOPROXY=off GOTOOLCHAIN=local
export GOPATH="$OUT/gopath:$GOCODE" GOCACHE="${GOCACHE:-$OUT/gocache}"
for name in step-ca stepbench; do
  ln -sfn "$HERE/$name" "$OUT/gopath/src/plicabench/$name"
  bin="$OUT/$name"
  if [ -x "$bin" ] && [ "$bin" -nt "$HERE/$name/main.go" ]; then continue; fi
  echo "building $bin (the first build takes minutes)" >&2
  # github.com/DataDog/zstd's cgo warning (a deprecated zstd function) is noise.
  (cd "$OUT" && go build -trimpath -o "$bin" "plicabench/$name") 2>&1 | grep -v -e zstd -e cgo-gcc-prolog -e '^ *|' -e '^ *[0-9]* |' >&2 || true
  test -x "$bin"
done
