#!/usr/bin/env bash
# Debian packages the tests talk to as real peers. Installs only what is missing (idempotent, quiet).
set -euo pipefail
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v ssh >/dev/null || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v nebula-cert >/dev/null || need+=(nebula)
command -v certbot >/dev/null || need+=(certbot)
command -v lego >/dev/null || need+=(lego)
command -v jq >/dev/null || need+=(jq)
{ command -v go >/dev/null && [ -d /usr/share/gocode/src/github.com/smallstep/certificates/ca ]; } || need+=(golang-go golang-github-smallstep-certificates-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${need[*]} (run as root, or install them)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
mkdir -p /run/sshd 2>/dev/null || true
# PostgreSQL for tests/test_storage_postgres.py (127.0.0.1:5432, trust auth): machines start it before a
# session; start the installed cluster if nothing listens yet (the tests skip when nothing does).
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start
fi
command -v ss >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2 >/dev/null; }  # ss: tests/test_start_safety.py
command -v pgrep >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends procps >/dev/null; }  # pgrep: tests/test_start_safety.py
