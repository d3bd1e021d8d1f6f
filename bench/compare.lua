-- bench/compare.lua: the side-by-side runs behind bench/run.sh. Expects a
-- running mock in the environment (MOCK_API_URL, BATCH_REST_KEY,
-- BATCH_PROJECT_KEY), LUA_PATH/LUA_CPATH pointing at the library, and:
--
--   lua5.4 bench/compare.lua WORKDIR [ROUNDS] [LIST_PASSES]
--
-- Every comparison runs ROUNDS rounds; within a round each contender runs
-- once, in an order that rotates from round to round, so that neither side
-- always runs first (warm caches, CPU frequency, the other core's work).
-- Throughputs are medians of whole-process wall time (process start to exit,
-- as a user sees it). Prints every run, then the table.
local socket = require("socket")
local http = require("socket.http")
local ltn12 = require("ltn12")
local cjson = require("cjson")

local WORK = assert(arg[1], "usage: compare.lua WORKDIR [ROUNDS] [LIST_PASSES]")
local ROUNDS = tonumber(arg[2]) or 5
local PASSES = tonumber(arg[3]) or 50
local PART_SIZE = 100 * 1024 * 1024
local LUA = os.getenv("BENCH_LUA") or "lua5.4"

local API = assert(os.getenv("MOCK_API_URL"), "MOCK_API_URL is not set")
local REST, PROJECT = os.getenv("BATCH_REST_KEY"), os.getenv("BATCH_PROJECT_KEY")

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function control(method, path, body)
  local chunks = {}
  local payload = body and cjson.encode(body)
  local ok, status = http.request({ url = API .. path, method = method, sink = ltn12.sink.table(chunks),
    source = payload and ltn12.source.string(payload),
    headers = payload and { ["content-type"] = "application/json", ["content-length"] = #payload } or {} })
  assert(ok and status < 300, "mock control " .. method .. " " .. path .. ": " .. tostring(status))
  return cjson.decode(table.concat(chunks))
end

-- GNU time, when there, adds the CPU seconds (user + system) of each run.
local TIME = io.open("/usr/bin/time", "rb") and "/usr/bin/time"
local cpu_file = WORK .. "/cpu.txt"

-- Runs a shell command; returns wall seconds and its key=value output (plus
-- cpu = user + system seconds of the whole command, with GNU time).
local function run(cmd)
  if TIME then cmd = string.format("%s -o %s -f 'cpu_user=%%U cpu_sys=%%S' sh -c %s", TIME, q(cpu_file), q(cmd)) end
  local t0 = socket.gettime()
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok = p:close()
  local wall = socket.gettime() - t0
  if not ok then error("command failed: " .. cmd .. "\n" .. out) end
  if TIME then
    local f = io.open(cpu_file, "rb")
    out = out .. " " .. (f and f:read("a") or "")
    if f then f:close() end
  end
  local kv = {}
  for k, v in out:gmatch("([%w_]+)=(%S+)") do kv[k] = tonumber(v) or v end
  if kv.cpu_user then kv.cpu = kv.cpu_user + kv.cpu_sys end
  return wall, kv
end

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

local function fmt_list(t, f)
  local out = {}
  for i, v in ipairs(t) do out[i] = string.format(f or "%.3f", v) end
  return table.concat(out, " ")
end

-- Rounds of side-by-side runs. contenders: { {name=, cmd=function() -> shell cmd, before=fn} }
-- Returns per contender: { walls = {...}, kvs = {...} }.
local function rounds(title, contenders)
  print(string.format("\n== %s (%d rounds)", title, ROUNDS))
  local res = {}
  for _, c in ipairs(contenders) do res[c.name] = { walls = {}, kvs = {} } end
  local n = #contenders
  for r = 1, ROUNDS do
    local order = {}
    for i = 1, n do order[i] = contenders[(i + r - 2) % n + 1] end
    local names = {}
    for _, c in ipairs(order) do
      if c.before then c.before() end
      local wall, kv = run(c.cmd())
      if c.after then c.after(kv) end
      local rr = res[c.name]
      rr.walls[#rr.walls + 1] = wall
      rr.kvs[#rr.kvs + 1] = kv
      names[#names + 1] = string.format("%s %.3fs", c.name, wall)
    end
    print(string.format("  round %d: %s", r, table.concat(names, " | ")))
  end
  return res
end

local function field(kvs, key)
  local t = {}
  for i, kv in ipairs(kvs) do t[i] = kv[key] end
  return t
end

-- ---- the export: one 100 MiB NDJSON part, not gzip ----
local export = control("POST", "/_mock/exports",
  { status = "SUCCESS", parts = 1, part_size = PART_SIZE, format = "ndjson", gzip = false })
local file = export.files[1]
local sum = control("GET", "/_mock/files/" .. file.id .. "/sha256")
local info = control("GET", "/_mock/files/" .. file.id)
info.records = math.tointeger(info.records) or info.records
print(string.format("export %s: 1 part of %d bytes, %s records, sha256 %s", export.id, sum.size,
  tostring(info.records), sum.sha256))

local MB = 1e6

local function sha256(path)
  local p = assert(io.popen("sha256sum " .. q(path)))
  local out = p:read("a")
  p:close()
  return out:match("^(%x+)")
end

-- ---- (1) download to disk vs curl -o ----
local ddir = WORK .. "/download"
local curl_out = WORK .. "/curl.json"
local our_out = ddir .. "/" .. export.id .. "-1.json"
os.execute("mkdir -p " .. q(ddir))
local function curl_to(path)
  return string.format("curl -sS -L -H %s -H %s -o %s %s", q("Authorization: Bearer " .. REST),
    q("X-Batch-Project: " .. PROJECT), q(path), q(API .. "/2.11/exports/download?id=" .. file.id))
end
local curl_cmd = curl_to(curl_out)
local function clean() os.remove(curl_out) os.remove(our_out) os.execute("sync") end
local dl = rounds("(1) download to disk: client.exports.download vs curl -L -o", {
  { name = "download", before = clean, cmd = function()
    return string.format("%s bench/download.lua %s %s", LUA, q(export.id), q(ddir)) end },
  { name = "curl", before = clean, cmd = function() return curl_cmd end },
  { name = "curl+sync", before = clean, cmd = function() return curl_cmd .. " && sync " .. q(curl_out) end },
})
-- Both files are the exact part (checked once, outside the timings).
os.execute(curl_cmd)
assert(sha256(curl_out) == sum.sha256, "curl's file does not match the part's sha256")
os.remove(our_out)
run(string.format("%s bench/download.lua %s %s", LUA, q(export.id), q(ddir)))
assert(sha256(our_out) == sum.sha256, "download's file does not match the part's sha256")
os.remove(our_out)

-- ---- (1c) the same on tmpfs, where fsync costs nothing: the transfer alone ----
local shm, dls
do
  local p = io.popen("stat -f -c %T /dev/shm 2>/dev/null")
  local fs = p and p:read("l")
  if p then p:close() end
  if fs == "tmpfs" then
    shm = os.tmpname():match("[^/]*$")
    shm = "/dev/shm/bx-bench-" .. shm
    os.execute("mkdir -p " .. q(shm))
    local s_curl, s_ours = shm .. "/curl.json", shm .. "/" .. export.id .. "-1.json"
    local s_cmd = curl_to(s_curl)
    local function sclean() os.remove(s_curl) os.remove(s_ours) end
    dls = rounds("(1c) download to tmpfs (/dev/shm): the transfer without the disk", {
      { name = "download", before = sclean, cmd = function()
        return string.format("%s bench/download.lua %s %s", LUA, q(export.id), q(shm)) end },
      { name = "curl", before = sclean, cmd = function() return s_cmd end },
    })
    sclean()
    os.execute("rmdir " .. q(shm))
  end
end

-- ---- (2)(3) records streamed vs io.lines on disk vs luasocket ----
-- curl_out stays on disk (and in the page cache, as the mock's file is).
local rec = rounds("(2)(3) records: client.exports.records vs io.lines+cjson (local file) vs socket.http+ltn12+cjson", {
  { name = "records", cmd = function() return string.format("%s bench/records.lua %s", LUA, q(export.id)) end },
  { name = "io.lines", cmd = function() return string.format("%s bench/lines.lua %s", LUA, q(curl_out)) end },
  { name = "luasocket", cmd = function()
    return string.format("%s bench/reference_luasocket.lua records %s", LUA, q(export.id)) end },
})
for name, r in pairs(rec) do
  for _, kv in ipairs(r.kvs) do
    assert(kv.records == info.records or info.records == nil,
      name .. " read " .. tostring(kv.records) .. " records, " .. tostring(info.records) .. " expected")
  end
end

-- ---- (4) peak RSS of a process streaming the part ----
local mem = rounds("(4) memory: bench/memory.lua (records over the 100 MiB part)", {
  { name = "memory", cmd = function() return string.format("%s bench/memory.lua %s", LUA, q(export.id)) end },
})

-- ---- (5) listing ----
local function list_log()
  local log = control("GET", "/_mock/log")
  local requests, fresh = 0, 0
  for _, e in ipairs(log.requests) do
    if e.path:match("/exports/list$") then
      requests = requests + 1
      if e.connection_requests == 1 then fresh = fresh + 1 end
    end
  end
  return requests, fresh
end
local function clear_log() control("DELETE", "/_mock/log") end
local function log_after(kv) kv.log_requests, kv.log_connections = list_log() end
local lst = rounds(string.format("(5) listing: client.exports.list vs socket.http+cjson, %d passes over the history", PASSES), {
  { name = "exports.list", before = clear_log, after = log_after,
    cmd = function() return string.format("%s bench/list.lua %d", LUA, PASSES) end },
  { name = "luasocket", before = clear_log, after = log_after,
    cmd = function() return string.format("%s bench/reference_luasocket.lua list %d", LUA, PASSES) end },
})

-- ---- the table ----
local function rate(r, bytes) return bytes / median(r.walls) / MB end
print("\n== every run (wall seconds, whole process)")
for _, pair in ipairs({ { "download", dl }, { "tmpfs", dls or {} }, { "records", rec }, { "memory", mem }, { "list", lst } }) do
  for name, r in pairs(pair[2]) do
    print(string.format("  %-10s %-12s %s", pair[1], name, fmt_list(r.walls)))
  end
end

local size = sum.size
local d_ours, d_curl, d_sync = rate(dl.download, size), rate(dl.curl, size), rate(dl["curl+sync"], size)
local r_ours, r_lines, r_sock = rate(rec.records, size), rate(rec["io.lines"], size), rate(rec.luasocket, size)
local hwm = {}
for _, kv in ipairs(mem.memory.kvs) do hwm[#hwm + 1] = kv.hwm_kb end
local peak_kb = math.max(table.unpack(hwm))
local function rps(r) -- requests per second, in-process time
  local t = {}
  for i, kv in ipairs(r.kvs) do t[i] = kv.log_requests / kv.seconds end
  return median(t)
end
local function last(r, key) return r.kvs[#r.kvs][key] end

local function verdict(ok) return ok and "met" or "MISSED" end
print(string.format("\n== results (median of %d; MB = 10^6 bytes; part = %d bytes, %s records)", ROUNDS, size,
  tostring(info.records)))
print("| # | what | batchexport | reference | ratio | target |")
print("|---|------|-------------|-----------|-------|--------|")
print(string.format("| 1 | download to disk vs `curl -L -o` | %.0f MB/s | %.0f MB/s | %.2f | >= 0.90: %s |",
  d_ours, d_curl, d_ours / d_curl, verdict(d_ours / d_curl >= 0.9)))
print(string.format("| 1b | download (fsyncs) vs `curl -L -o` + `sync FILE` | %.0f MB/s | %.0f MB/s | %.2f | (context) |",
  d_ours, d_sync, d_ours / d_sync))
if dls then
  local a, b = rate(dls.download, size), rate(dls.curl, size)
  print(string.format("| 1c | download vs `curl -L -o`, both to tmpfs (no disk, fsync free) | %.0f MB/s | %.0f MB/s | %.2f | (context) |",
    a, b, a / b))
end
print(string.format("| 2 | records streamed vs `io.lines` + `cjson.decode` on local disk | %.1f MB/s | %.1f MB/s | %.2f | >= 0.90: %s |",
  r_ours, r_lines, r_ours / r_lines, verdict(r_ours / r_lines >= 0.9)))
print(string.format("| 3 | records streamed vs socket.http + ltn12 line sink + cjson | %.1f MB/s | %.1f MB/s | %.2f | (reported) |",
  r_ours, r_sock, r_ours / r_sock))
print(string.format("| 4 | peak RSS streaming the 100 MiB part (VmHWM, max of %d; %.1f MiB once the client is made) | %.1f MiB | - | - | < 40 MB: %s |",
  ROUNDS, median(field(mem.memory.kvs, "hwm_before_kb")) / 1024, peak_kb / 1024, verdict(peak_kb * 1024 < 40e6)))
print(string.format("| 5 | list, %d passes: requests/s (connections opened) | %.0f req/s (%d conn / %d req) | %.0f req/s (%d conn / %d req) | %.2f | (reported) |",
  PASSES, rps(lst["exports.list"]), last(lst["exports.list"], "log_connections"), last(lst["exports.list"], "log_requests"),
  rps(lst.luasocket), last(lst.luasocket, "log_connections"), last(lst.luasocket, "log_requests"),
  rps(lst["exports.list"]) / rps(lst.luasocket)))
print(string.format("\npeak RSS of the other processes (median, MiB): records %.1f, io.lines %.1f, luasocket %.1f, download %.1f",
  median(field(rec.records.kvs, "hwm_kb")) / 1024, median(field(rec["io.lines"].kvs, "hwm_kb")) / 1024,
  median(field(rec.luasocket.kvs, "hwm_kb")) / 1024, median(field(dl.download.kvs, "hwm_kb")) / 1024))
if rec.records.kvs[1].cpu then
  local c = { median(field(rec.records.kvs, "cpu")), median(field(rec["io.lines"].kvs, "cpu")),
    median(field(rec.luasocket.kvs, "cpu")) }
  print(string.format("CPU seconds, user + system (median): records %.2f, io.lines %.2f, luasocket %.2f;"
    .. " CPU ratio records/io.lines %.2f, records/luasocket %.2f", c[1], c[2], c[3], c[2] / c[1], c[3] / c[1]))
end
print(string.format("records/s (median): records %.0f, io.lines %.0f, luasocket %.0f",
  info.records / median(rec.records.walls), info.records / median(rec["io.lines"].walls),
  info.records / median(rec.luasocket.walls)))
