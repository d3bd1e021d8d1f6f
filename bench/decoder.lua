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
-- whole-process wall time; a column beside them times the loop alone, as
-- each program measures it (the library's loading, the client's making and
-- the interpreter's start left out on both sides: what a long-running host
-- sees, where those costs are paid once). Then callgrind counts the instructions of each
-- mode on a CALLGRIND_MB part (default 10; 0 skips it).
local socket = require("socket")
local http = require("socket.http")
local ltn12 = require("ltn12")
local cjson = require("cjson")

local WORK = assert(arg[1], "usage: decoder.lua WORKDIR [ROUNDS] [CALLGRIND_MB]")
local ROUNDS = tonumber(arg[2]) or 3
local CG_MB = tonumber(arg[3]) or 10
local PART = (tonumber(os.getenv("BENCH_DECODER_MB")) or 100) * 1024 * 1024
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

-- GNU time, when installed, adds each run's CPU seconds (user + system):
-- unlike wall time they barely move with the other work on a shared machine.
local TIME = os.execute("test -x /usr/bin/time") and "/usr/bin/time -f 'cpu_user=%U cpu_sys=%S' " or ""

local function run(cmd)
  local t0 = socket.gettime()
  local p = assert(io.popen(TIME .. cmd .. " 2>&1", "r"))
  local out = p:read("a")
  local ok = p:close()
  local wall = socket.gettime() - t0
  if not ok then error("command failed: " .. cmd .. "\n" .. out) end
  local kv = {}
  for k, v in out:gmatch("([%w_]+)=(%S+)") do kv[k] = tonumber(v) or v end
  kv.cpu = kv.cpu_user and kv.cpu_user + kv.cpu_sys
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
  -- Not a mode: the floor of values on one thread (bench/values_floor.lua),
  -- reported by its loop alone, below the table.
  { name = "values floor", plain = nd.plain, n = nd.records, floor = true,
    cmd = string.format("%s bench/values_floor.lua %s", LUA, q(local_copy)) },
}

local res = {}
for _, c in ipairs(contenders) do res[c.name] = { walls = {}, hwm = {}, cpus = {}, loops = {} } end
print(string.format("\n== decoder: %d rounds", ROUNDS))
for r = 1, ROUNDS do
  local line = {}
  for i = 1, #contenders do
    local c = contenders[(i + r - 2) % #contenders + 1]
    local wall, kv = run(c.cmd)
    assert(kv.records == c.n, c.name .. " read " .. tostring(kv.records) .. " records, " .. c.n .. " expected")
    table.insert(res[c.name].walls, wall)
    table.insert(res[c.name].hwm, kv.hwm_kb)
    if kv.cpu then table.insert(res[c.name].cpus, kv.cpu) end
    table.insert(res[c.name].loops, (assert(tonumber(kv.loop_seconds), c.name .. ": no loop_seconds")))
    line[#line + 1] = string.format("%s %.3fs", c.name, wall)
  end
  print(string.format("  round %d: %s", r, table.concat(line, " | ")))
end

local MB = 1e6
local function best(t) return math.min(table.unpack(t)) end
local function rate(c, stat) return c.plain / (stat or median)(res[c.name].walls) / MB end
local function loop_rate(c) return c.plain / median(res[c.name].loops) / MB end
local function cpu_rate(c) return #res[c.name].cpus > 0 and c.plain / median(res[c.name].cpus) / MB or nil end
local base, base_best, base_cpu = rate(contenders[1]), rate(contenders[1], best), cpu_rate(contenders[1])
local one_part = rate(contenders[2])
local targets = { ["records"] = 2.0, ["records fields(2)"] = 3.5, ["values(2)"] = 5.0 }
print(string.format("\n== results (%d rounds; MB = 10^6 plain bytes; reference io.lines + cjson.decode on local disk: "
  .. "%.1f MB/s median, %.1f MB/s best; load now %s)", ROUNDS, base, base_best,
  io.open("/proc/loadavg"):read("l"):match("^(%S+ %S+ %S+)")))
print("| mode | rate (median) | ratio, median wall | ratio, best wall | ratio, CPU (user+sys) | ratio, the loop alone | target (median wall) | peak RSS (max) |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for _, c in ipairs(contenders) do
  if c.floor then goto continue end
  local hwm = 0
  for _, h in ipairs(res[c.name].hwm) do hwm = math.max(hwm, h) end
  local target = targets[c.name]
  local verdict = target and string.format(">= %.1f: %s", target, rate(c) / base >= target and "met" or "**missed**")
    or (c.name == "records 3 parts" and string.format("at least 0.90 of one part's rate (%.1f MB/s): %.2f, %s",
      one_part, rate(c) / one_part, rate(c) / one_part >= 0.90 and "met" or "**missed**")) or "(reported)"
  local cpu = cpu_rate(c) and base_cpu and string.format("%.2f", cpu_rate(c) / base_cpu) or "-"
  print(string.format("| %s | %.1f MB/s | %.2f | %.2f | %s | %.2f | %s | %.1f MiB |", c.name, rate(c), rate(c) / base,
    rate(c, best) / base_best, cpu, loop_rate(c) / loop_rate(contenders[1]), verdict, hwm / 1024))
  ::continue::
end
local function loop(name) return median(res[name].loops) end
local floor_loop, ref_wall = loop("values floor"), median(res["io.lines+cjson"].walls)
local startup = median(res["values(2)"].walls) - loop("values(2)") -- the library's, less its loop
print(string.format("\nvalues floor (bench/values_floor.lua: the same %d records pre-scanned from the local copy,"
  .. " then only the `for` loop over the record number and two strings a record, pushed by C; no network,"
  .. " ring or decoding): loop %.3f s median against the library's values loop %.3f s and the reference's"
  .. " whole run %.3f s: the Lua side alone is %.2fx the reference by the loop alone, %.2fx with the"
  .. " library's start-up (%.3f s, its whole run less its loop), before any byte is received",
  nd.records, floor_loop, loop("values(2)"), ref_wall, loop("io.lines+cjson") / floor_loop,
  ref_wall / (floor_loop + startup), startup))
print("\nevery run, wall seconds (CPU seconds):")
for _, c in ipairs(contenders) do
  local runs = {}
  for i, w in ipairs(res[c.name].walls) do
    runs[i] = string.format("%.3f", w) .. (res[c.name].cpus[i] and string.format(" (%.2f)", res[c.name].cpus[i]) or "")
  end
  print(string.format("  %-18s %s", c.name, table.concat(runs, "  ")))
end

if CG_MB > 0 then
  -- The same modes under callgrind, on CG_MB parts (the 3-part export: three
  -- parts of a third each): instructions in user space, whatever the load.
  -- A run over a 2000-byte part gives each program's start-up (loading
  -- libcurl and OpenSSL, the client, the API calls), subtracted in the last
  -- column.
  local size = math.floor(CG_MB * 1024 * 1024)
  local function small(format, gzip, parts)
    return export({ status = "SUCCESS", parts = parts or 1, part_size = parts and size // parts or size,
      format = format, gzip = gzip })
  end
  local cnd, cgz, car, c3 = small("ndjson", false), small("ndjson", true), small("array", false), small("ndjson", false, 3)
  local tiny = export({ status = "SUCCESS", parts = 1, part_size = 2000, format = "ndjson", gzip = false })
  local copy, tiny_copy = WORK .. "/small.ndjson", WORK .. "/tiny.ndjson"
  assert(os.execute("cp " .. q(cnd.path) .. " " .. q(copy)))
  assert(os.execute("cp " .. q(tiny.path) .. " " .. q(tiny_copy)))
  local function ir(cmd)
    local out = WORK .. "/callgrind.out"
    local p = assert(io.popen("valgrind --tool=callgrind --callgrind-out-file=" .. q(out) .. " " .. cmd .. " 2>&1"))
    local text = p:read("a")
    p:close()
    os.remove(out)
    return assert(tonumber((text:match("Collected : (%d+)"))), "callgrind: " .. cmd)
  end
  local lines_start = ir(string.format("%s bench/lines.lua %s", LUA, q(tiny_copy)))
  local records_start = ir(records(tiny, "values"))
  print(string.format("\n== callgrind: instructions on %d MiB parts (NDJSON: %d records), whole process; start-up "
    .. "(a 2000-byte part): io.lines %.1f M, library %.1f M", CG_MB, cnd.records, lines_start / 1e6, records_start / 1e6))
  print("| mode | instructions | ratio to io.lines + cjson | without start-up |")
  print("| --- | --- | --- | --- |")
  local ref = ir(string.format("%s bench/lines.lua %s", LUA, q(copy)))
  print(string.format("| io.lines+cjson | %.1f M | 1.00 | 1.00 |", ref / 1e6))
  for _, m in ipairs({ { "records", cnd, "full" }, { "records fields(2)", cnd, "fields" }, { "values(2)", cnd, "values" },
    { "records gzip", cgz, "full" }, { "records array", car, "full" }, { "records 3 parts", c3, "full" } }) do
    local n = ir(records(m[2], m[3]))
    print(string.format("| %s | %.1f M | %.2f | %.2f |", m[1], n / 1e6, ref / n, (ref - lines_start) / (n - records_start)))
  end
end
