# Shared by scripts/api-conformance and scripts/client-generation (sourced, not run): starts the
# debug binary in sandbox mode on a free port with its own database, and seeds it the way users
# would, over HTTP and the CLI only.
#
# After `sandbox_start NAME`: $bin, $work (removed on exit), $base, $key (an API key) are set.

# Installs curl when missing (a fresh Debian machine has none).
sandbox_need_curl() {
  command -v curl >/dev/null 2>&1 && return
  echo "$1: installing curl"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq curl >/dev/null
}

# Builds and starts storelink; stops it and removes its files when the script exits.
sandbox_start() {
  local name=$1
  sandbox_need_curl "$name"
  cargo build --quiet --bin storelink
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/storelink"
  [ -x "$bin" ] || { echo "$name: no binary at $bin" >&2; exit 1; }
  work=$(mktemp -d)
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  base="http://localhost:$port"
  export STORELINK_BIND="127.0.0.1:$port" STORELINK_SANDBOX=on STORELINK_API_RATE_LIMIT=0
  export STORELINK_DATABASE_URL="sqlite://$work/storelink.db"
  (cd "$work" && exec "$bin" >"$work/storelink.log" 2>&1) &
  app=$!
  trap 'kill $app 2>/dev/null; wait $app 2>/dev/null; rm -rf "$work"' EXIT
  local up=""
  for _ in $(seq 1 300); do
    if curl -fs "$base/healthz" >/dev/null 2>&1; then up=1; break; fi
    sleep 0.1
  done
  if [ -z "$up" ]; then
    echo "$name: storelink did not start; its log:" >&2
    cat "$work/storelink.log" >&2
    exit 1
  fi
  key=$("$bin" api-key create conformance 2>/dev/null)
}

# A merchant installs the add-on on a sandbox Maropost store (DOMAIN) in a browser whose cookies
# are in JAR; the success page is left in $work/installed.html.
sandbox_install_maropost() {
  local domain=$1 jar=$2 authorize callback
  authorize=$(curl -fs -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' \
    "$base/install/maropost?store_domain=$domain")
  callback=$(curl -fs -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' \
    -X POST -d "${authorize#*\?}&decision=approve" "$base/sandbox/maropost/oauth/v2/auth")
  curl -fs -c "$jar" -b "$jar" -o /dev/null "$callback"
  curl -fs -c "$jar" -b "$jar" -o "$work/installed.html" "$base/installed"
}

# A retailer connects bol.com retailer RETAILER in a browser whose cookies are in JAR.
sandbox_install_bol() {
  local retailer=$1 jar=$2 authorize callback
  authorize=$(curl -fs -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' -X POST "$base/install/bol")
  callback=$(curl -fs -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' \
    -X POST -d "${authorize#*\?}&retailer=$retailer&decision=approve" "$base/sandbox/bol/authorize")
  curl -fs -c "$jar" -b "$jar" -o /dev/null "$callback"
}

# A vendor API call: sandbox_api METHOD PATH [JSON BODY]; prints the answer, fails on an error.
sandbox_api() {
  local method=$1 path=$2
  if [ $# -ge 3 ]; then
    curl -fsS -X "$method" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
      --data "$3" "$base$path"
  else
    curl -fsS -X "$method" -H "Authorization: Bearer $key" "$base$path"
  fi
}

# Reads FIELD (a Python expression over `d`, the parsed JSON) from standard input.
json_field() {
  python3 -c 'import json,sys; d=json.load(sys.stdin); r=eval(sys.argv[1]); print("\n".join(map(str, r)) if isinstance(r, list) else r)' "$1"
}
