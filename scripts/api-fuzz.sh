#!/usr/bin/env bash
# A bounded schema-driven fuzz of the real server: schemathesis reads the server's own
# GET /openapi.json and sends generated requests (valid and invalid) to every operation, once
# per role with that role's token, and fails on any 5xx or any answer that the document does not
# describe (status, content type, body schema).
#
#   scripts/api-fuzz.sh [SECONDS_PER_ROLE]     (default 40: about 3 minutes for the four roles)
#
# Environment: CARGO_TARGET_DIR (where the shuyu binary is, and where the tool's venv is kept),
# SHUYU_API_FUZZ_SEED (default fixed, so that a run is reproducible; set another to explore).
# It installs what it needs: python3-venv from Debian's packages when run as root, and
# schemathesis (pinned below) into a venv under the target directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-40}"
seed="${SHUYU_API_FUZZ_SEED:-20261203}"
target_dir="${CARGO_TARGET_DIR:-target}"
schemathesis_version="4.32.5"
venv="$(mkdir -p "$target_dir" && cd "$target_dir" && pwd)/api-fuzz-venv"
shuyu="$target_dir/debug/shuyu"

# The binary under test is this checkout's (a no-op after `cargo test` built it).
cargo build --locked --quiet --bin shuyu

# The tool: a venv of its own, so nothing is installed into the system's Python.
install_venv_support() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing python3-venv"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
    else
        echo "api-fuzz: needs python3 with venv and pip (Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
}
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$schemathesis_version"; then
    command -v python3 >/dev/null 2>&1 || install_venv_support
    rm -rf "$venv"
    # Debian's python3 makes a venv only with python3-venv (which brings ensurepip).
    if ! python3 -m venv "$venv" >/dev/null 2>&1 || [ ! -x "$venv/bin/pip" ]; then
        rm -rf "$venv"
        install_venv_support
        python3 -m venv "$venv"
    fi
    echo "==> installing schemathesis $schemathesis_version into $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
data="$work/data"

# One identity per role, and one provider per bundled dataset's department, so that the
# bundled datasets can be registered: the fuzz then meets real records, not only 404s.
token() { # id role name [extra args...]
    local id="$1" role="$2" name="$3"
    shift 3
    "$shuyu" --data-dir "$data" admin identity add --json --id "$id" --role "$role" --name "$name" "$@" |
        sed -n 's/.*"token": *"\(sy_[0-9a-f]*\)".*/\1/p'
}
bureau="$(token bureau bureau 大数据管理局)"
reviewer="$(token reviewer reviewer 安全审查组)"
operator="$(token op-acme operator 示例数据运营有限公司 --usci 91330106MA2XXXXX0Y)"
provider=""
for folder in datasets/*/; do
    [ -f "$folder/dataset.toml" ] || continue
    department="$(sed -n 's/^provider *= *"\(.*\)"/\1/p' "$folder/dataset.toml")"
    id="prov-$(basename "$folder" | tr '_' '-')"
    t="$(token "$id" provider "$department" --department "$department")"
    provider="${provider:-$t}"
    echo "$id $t $folder" >>"$work/providers"
done
for role in bureau reviewer operator provider; do
    if [ -z "${!role}" ]; then
        echo "api-fuzz: no token for the $role identity" >&2
        exit 1
    fi
done

"$shuyu" --data-dir "$data" serve --listen 127.0.0.1:0 --workers 1 >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 1 100); do
    grep -q '^listening on ' "$work/serve.out" 2>/dev/null && break
    sleep 0.1
done
url="$(sed -n 's/^listening on //p' "$work/serve.out")"
if [ -z "$url" ]; then
    echo "api-fuzz: the server did not start:" >&2
    cat "$work/serve.err" >&2
    exit 1
fi

# Some state to meet: the bundled datasets, an agreement, a module and an application. Terms
# around today: an agreement lasts at most three years.
from="$(date -u -d '-1 day' +%F)"
until_agreement="$(date -u -d '+2 years' +%F)"
until_application="$(date -u -d '+1 year' +%F)"
while read -r id t folder; do
    "$shuyu" --server "$url" --token "$t" datasets register "$folder" >/dev/null
done <"$work/providers"
"$shuyu" --server "$url" --token "$bureau" agreement create --operator op-acme --mode comprehensive \
    --max-level 4 --from "$from" --until "$until_agreement" --security "fuzz" --exit "fuzz" >/dev/null
module="target/wasm-modules/district_stats.wasm"
if [ -f "$module" ]; then
    "$shuyu" --server "$url" --token "$operator" scenario apply --agreement agr-000001 \
        --scenario guest-examples/district-stats/scenario.toml --until "$until_application" \
        --module "$module" >/dev/null
fi

status=0
reports="$(cd "$target_dir" && pwd)/api-fuzz-report"
rm -rf "$reports"
for role in bureau provider operator reviewer; do
    echo "==> api fuzz as $role (${seconds}s, seed $seed) against $url"
    # From the scratch folder: the tool keeps a cache (.schemathesis/) where it runs. One
    # worker: with two, Python 3.11's parser can fail inside the tool itself (hypothesis parses
    # lambdas' sources from several threads: "AST constructor recursion depth mismatch").
    if ! (cd "$work" && "$venv/bin/schemathesis" run "$url/openapi.json" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --phases examples,coverage,fuzzing \
        --header "Authorization: Bearer ${!role}" \
        --max-time "$seconds" --workers 1 --seed "$seed" \
        --request-timeout 30 --max-failures 20 --no-color \
        --report junit --report-dir "$reports/$role"); then
        status=1
    fi
done
if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "api-fuzz: the server died during the fuzz:" >&2
    tail -20 "$work/serve.err" >&2
    status=1
fi
if [ "$status" != 0 ]; then
    echo "api-fuzz: FAILED (reports in $reports/)" >&2
fi
exit "$status"
