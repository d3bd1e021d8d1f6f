-- bench/decoder.lua: the figures of issue 12, side by side in one run.
-- Expects a running mock in the environment (as bench/run.sh starts it) and
-- LUA_PATH/LUA_CPATH pointing at the library:
--
--   lua5.4 bench/decoder.lua WORKDIR [ROUNDS] [CALLGRIND_MB]
--
-- Every mode reads 100 MiB parts from the mock (plain bytes: part_size is
-- the uncompressed size, gzip parts included) and is compared with the
-- reference `for line in io.lines(path) do cjson.decode(line) end` over the
-- NDJSON part saved on local disk. Within a round each contender runs once,
-- the order rotating from round to round; figures are medians of
-- whole-process wall time. Then callgrind counts the instructions of each
-- mode on a CALLGRIND_MB part (default 10; 0 skips it).
local socket = require("socket")
local http = require("socket.http")
local ltn12 = require("ltn12")
local cjson = require("cjson")

local WORK = assert(arg[1], "usage: decoder.lua WORKDIR [ROUNDS] [CALLGRIND_MB]")
local ROUNDS = tonumber(arg[2]) or 3
local CG_MB = tonumber(arg[3]) or 10
local PART = 100 * 1024 * 1024
local LUA = os.getenv("BENCH_LUA") or "lua5.4"
local API = assert(os.getenv("MOCK_API_URL"), "MOCK_API_URL is not set")

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

local function run(cmd)
  local t0 = socket.gettime()
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok = p:close()
  local wall = socket.gettime() - t0
  if not ok then error("command failed: " .. cmd .. "\n" .. out) end
  local kv = {}
  for k, v in out:gmatch("([%w_]+)=(%S+)") do kv[k] = tonumber(v) or v end
  return wall, kv
end

local function median(t)
  local s = { table.unpack(t) }
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

local function export(plan)
  local e = control("POST", "/_mock/exports", plan)
  local records, bytes = 0, 0
  for _, f in ipairs(e.files) do
    local info = control("GET", "/_mock/files/" .. f.id)
    records = records + math.tointeger(info.records)
    bytes = bytes + plan.part_size
    e.path = e.path or info.path
  end
  e.records, e.plain = records, bytes
  return e
end

local nd = export({ status = "SUCCESS", parts = 1, part_size = PART, format = "ndjson", gzip = false })
local gz = export({ status = "SUCCESS", parts = 1, part_size = PART, format = "ndjson", gzip = true })
local ar = export({ status = "SUCCESS", parts = 1, part_size = PART, format = "array", gzip = false })
local three = export({ status = "SUCCESS", parts = 3, part_size = PART, format = "ndjson", gzip = false })
local local_copy = WORK .. "/part.ndjson"
assert(os.execute("cp " .. q(nd.path) .. " " .. q(local_copy)))
print(string.format("parts: ndjson %s (%d records), gzip %s, array %s, 3-part %s (%d records)",
  nd.id, nd.records, gz.id, ar.id, three.id, three.records))

local function records(e, mode) return string.format("%s bench/records.lua %s %s", LUA, q(e.id), mode) end
local contenders = {
  { name = "io.lines+cjson", plain = nd.plain, n = nd.records,
    cmd = string.format("%s bench/lines.lua %s", LUA, q(local_copy)) },
  { name = "records", plain = nd.plain, n = nd.records, cmd = records(nd, "full") },
  { name = "records fields(2)", plain = nd.plain, n = nd.records, cmd = records(nd, "fields") },
  { name = "values(2)", plain = nd.plain, n = nd.records, cmd = records(nd, "values") },
  { name = "records gzip", plain = gz.plain, n = gz.records, cmd = records(gz, "full") },
  { name = "records array", plain = ar.plain, n = ar.records, cmd = records(ar, "full") },
  { name = "records 3 parts", plain = three.plain, n = three.records, cmd = records(three, "full") },
}

local res = {}
for _, c in ipairs(contenders) do res[c.name] = { walls = {}, hwm = {} } end
print(string.format("\n== decoder: %d rounds", ROUNDS))
for r = 1, ROUNDS do
  local line = {}
  for i = 1, #contenders do
    local c = contenders[(i + r - 2) % #contenders + 1]
    local wall, kv = run(c.cmd)
    assert(kv.records == c.n, c.name .. " read " .. tostring(kv.records) .. " records, " .. c.n .. " expected")
    table.insert(res[c.name].walls, wall)
    table.insert(res[c.name].hwm, kv.hwm_kb)
    line[#line + 1] = string.format("%s %.3fs", c.name, wall)
  end
  print(string.format("  round %d: %s", r, table.concat(line, " | ")))
end

local MB = 1e6
local function rate(c) return c.plain / median(res[c.name].walls) / MB end
local base = rate(contenders[1])
local one_part = rate(contenders[2])
local targets = { ["records"] = 2.0, ["records fields(2)"] = 3.5, ["values(2)"] = 5.0 }
print(string.format("\n== results (median of %d; MB = 10^6 plain bytes; reference io.lines + cjson.decode on local disk: %.1f MB/s)",
  ROUNDS, base))
print("| mode | rate | ratio to io.lines + cjson | target | peak RSS (max) |")
print("| --- | --- | --- | --- | --- |")
for _, c in ipairs(contenders) do
  local hwm = 0
  for _, h in ipairs(res[c.name].hwm) do hwm = math.max(hwm, h) end
  local target = targets[c.name]
  local verdict = target and string.format(">= %.1f: %s", target, rate(c) / base >= target and "met" or "**missed**")
    or (c.name == "records 3 parts" and string.format("at least 0.90 of one part's rate (%.1f MB/s): %.2f, %s",
      one_part, rate(c) / one_part, rate(c) / one_part >= 0.90 and "met" or "**missed**")) or "(reported)"
  print(string.format("| %s | %.1f MB/s | %.2f | %s | %.1f MiB |", c.name, rate(c), rate(c) / base, verdict, hwm / 1024))
end

if CG_MB > 0 then
  local small = export({ status = "SUCCESS", parts = 1, part_size = math.floor(CG_MB * 1024 * 1024),
    format = "ndjson", gzip = false })
  local copy = WORK .. "/small.ndjson"
  assert(os.execute("cp " .. q(small.path) .. " " .. q(copy)))
  local function ir(cmd)
    local out = WORK .. "/callgrind.out"
    local p = assert(io.popen("valgrind --tool=callgrind --callgrind-out-file=" .. q(out) .. " " .. cmd .. " 2>&1"))
    local text = p:read("a")
    p:close()
    os.remove(out)
    return tonumber((text:match("Collected : (%d+)")))
  end
  print(string.format("\n== callgrind: instructions on a %d MiB NDJSON part (%d records), whole process", CG_MB,
    small.records))
  print("| mode | instructions | ratio to io.lines + cjson |")
  print("| --- | --- | --- |")
  local ref = ir(string.format("%s bench/lines.lua %s", LUA, q(copy)))
  print(string.format("| io.lines+cjson | %d | 1.00 |", ref))
  for _, mode in ipairs({ "full", "fields", "values" }) do
    local n = ir(records(small, mode))
    print(string.format("| %s | %d | %.2f |", mode, n, ref / n))
  end
end
