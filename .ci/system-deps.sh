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
[ -e /usr/lib/softhsm/libsofthsm2.so ] || need+=(softhsm2)
command -v pkcs11-tool >/dev/null || need+=(opensc)
command -v swtpm >/dev/null || need+=(swtpm swtpm-tools)
command -v tpm2_startup >/dev/null || need+=(tpm2-tools)
ls /usr/lib/*/libtpm2_pkcs11.so.1 >/dev/null 2>&1 || need+=(libtpm2-pkcs11-1)
command -v tpm2_ptool >/dev/null || need+=(libtpm2-pkcs11-tools)
[ -x /usr/sbin/tpm2-abrmd ] || need+=(tpm2-abrmd)
ls /usr/lib/*/libtss2-tcti-tabrmd.so.0 >/dev/null 2>&1 || need+=(libtss2-tcti-tabrmd0)
command -v dbus-daemon >/dev/null || need+=(dbus)
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
# plica-acme device-attest-01 (plugins/acme/tests/test_device_attest.py): a software TPM and tpm2-tools.
command -v swtpm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends swtpm swtpm-tools >/dev/null; }
command -v tpm2_send >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tpm2-tools >/dev/null; }
# plugins/oidc's tests run the npm package oidc-provider (node >= 20): installed from its committed lockfile.
command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
(cd "$(dirname "$0")/../plugins/oidc/tests/provider" && npm ci --no-audit --no-fund --loglevel=error)
command -v scepclient >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends scep >/dev/null; }  # plugins/scep: micromdm's scepclient
[ -x /usr/lib/certmonger/scep-submit ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends certmonger >/dev/null; }  # plugins/scep: certmonger's scep-submit
command -v dbus-run-session >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dbus >/dev/null; }  # plugins/scep: certmonger on a private D-Bus session
command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }  # plugins/console: the browser tests
command -v chromedriver >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium-driver >/dev/null; }  # plugins/console: selenium's driver
(cd "$(dirname "$0")/../plugins/console/tests/axe" && npm ci --no-audit --no-fund --loglevel=error)  # plugins/console: axe-core from its lockfile
command -v ss >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2 >/dev/null; }  # ss: tests/test_start_safety.py
command -v pgrep >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends procps >/dev/null; }  # pgrep: tests/test_start_safety.py
