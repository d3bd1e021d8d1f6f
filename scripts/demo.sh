#!/usr/bin/env bash
# The demo (`make demo`, after `make deps build`): starts the bundled mock of
# Batch's servers and runs a real flow through bin/batchexport:
#   an attributes export and an events export created side by side, waited
#   for (with progress on a terminal), the events streamed into a summary,
#   both downloaded and checked byte for byte against the mock's sha256, and
#   one legacy 1.0 export saved as CSV and checked the same way.
# Then it stops the mock. Exit 0 only if every check passed. Works with
# stdout not a terminal (CI): then no progress bar, no control characters.
# DEMO_OUT=dir keeps the downloaded files there (default: a temp dir, removed).
set -euo pipefail
cd "$(dirname "$0")/.."

bx() { bin/batchexport "$@"; }
step() { printf '\n== %s\n' "$*"; }
fail() { printf 'demo: FAILED: %s\n' "$*" >&2; exit 1; }

env_file=$(mktemp)
out=${DEMO_OUT:-$(mktemp -d)}
mkdir -p "$out"
cleanup() {
  [ -n "${MOCK_PREFIX:-}" ] && bin/batchexport-mock stop --prefix "$MOCK_PREFIX" >/dev/null 2>&1 || true
  rm -f "$env_file"
  [ -z "${DEMO_OUT:-}" ] && rm -rf "$out"
  return 0
}
trap cleanup EXIT

step "1/6 start the mock of Batch's servers (20x speed)"
bin/batchexport-mock start --speed 20 --workers 1 >"$env_file"
set -a; . "$env_file"; set +a
export BATCH_BASE_URL=$MOCK_API_URL      # the keys came from the mock as BATCH_*
echo "API $MOCK_API_URL, storage $MOCK_STORAGE_URL"

control() { curl -fsS -X "$1" "$MOCK_API_URL/_mock/$2" ${3:+-H 'Content-Type: application/json' -d "$3"}; }
# What the next two exports will look like: 3 gzip parts of 4 MB, 2 NDJSON parts of 1 MB.
control POST plan '{"parts": 3, "part_size": 4000000, "gzip": true}' >/dev/null
control POST plan '{"parts": 2, "part_size": 1000000}' >/dev/null

step "2/6 create an attributes export and an events export"
attr=$(bx create attributes --attributes '$email_address,$language,$region' --identifiers custom_id)
events=$(bx create events --events email_open,email_click,push_open --from 7d)
echo "attributes: $attr"
echo "events:     $events"

step "3/6 wait for both"
bx wait "$attr" --interval 0.5 --timeout 120 >/dev/null
bx wait "$events" --interval 0.5 --timeout 120 >/dev/null

step "4/6 stream the events' records (batchexport cat) into a summary"
bx cat "$events" | lua5.4 -e '
  local cjson = require("cjson")
  local n, users, by = 0, {}, {}
  for line in io.lines() do
    local r = cjson.decode(line)
    n = n + 1
    users[r.custom_id or "?"] = true
    by[r.event or "?"] = (by[r.event or "?"] or 0) + 1
  end
  local u = 0 for _ in pairs(users) do u = u + 1 end
  print(string.format("%d records, %d distinct users", n, u))
  local keys = {} for k in pairs(by) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do print(string.format("  %-12s %6d", k, by[k])) end
  if n == 0 then os.exit(1) end'

step "5/6 download both and verify every file against the mock's sha256"
verify() {  # verify EXPORT_ID: each downloaded part matches the sha256 the mock serves
  bx view "$1" --json | lua5.4 -e '
    local cjson = require("cjson")
    local e = cjson.decode(io.read("a"))
    for _, f in ipairs(e.files) do print(f.id, math.floor(f.part)) end' |
  while read -r file part; do
    local path
    path=$(ls "$out/$1-$part".json* 2>/dev/null) || fail "$1 part $part was not downloaded"
    want=$(control GET "files/$file/sha256" | sed -n 's/.*"sha256": *"\([0-9a-f]*\)".*/\1/p')
    got=$(sha256sum "$path" | cut -d' ' -f1)
    [ -n "$want" ] && [ "$want" = "$got" ] || fail "$path: sha256 $got, the mock says $want"
    printf '  ok  %s  %s  sha256 %s\n' "$(basename "$path")" "$(du -h "$path" | cut -f1)" "${got:0:16}"
  done
}
bx download "$attr" -o "$out" >/dev/null
bx download "$events" -o "$out" >/dev/null
verify "$attr"
verify "$events"
[ -z "$(ls -A "$out" | grep '\.part$' || true)" ] || fail "temporary files were left in $out"

step "6/6 a legacy 1.0 export, saved as CSV"
rid=$(bx legacy create campaign_events --token demo_campaign --events push_sent,push_open \
        --ids install_id,custom_id --from 3d)
echo "legacy request: $rid"
bx legacy wait "$rid" --interval 0.5 --timeout 120 >/dev/null
csv=$(bx legacy download "$rid" -o "$out/legacy-$rid.csv")
want=$(control GET "files/lfile_$rid/sha256" | sed -n 's/.*"sha256": *"\([0-9a-f]*\)".*/\1/p')
got=$(sha256sum "$csv" | cut -d' ' -f1)
[ "$want" = "$got" ] || fail "$csv: sha256 $got, the mock says $want"
head -n 4 "$csv" | sed 's/^/  /'
echo "  ... $(($(wc -l <"$csv") - 1)) rows, sha256 verified"

step "demo OK: 2 v2 exports and 1 legacy export created, waited for, streamed, downloaded and verified"
[ -n "${DEMO_OUT:-}" ] && echo "files kept in $DEMO_OUT"
exit 0
