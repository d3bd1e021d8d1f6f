-- The fault soak: many downloads and `records` runs against one mock whose
-- chaos mode faults about a tenth of all requests at random (cut bodies,
-- resets, 429 with Retry-After, 503, short and long stalls, expired links,
-- ignored Range). Every run must end with the right bytes or the right
-- record count, or with an error the client legitimately gives; never a
-- wrong byte, a partial file under a final name, a leftover temp file, an
-- open descriptor or a transfer left running.
--
--   lua5.4 tests/soak/soak.lua [--downloads N] [--records N] [--rate R] [--seed S]
--
-- Run from the repository root (make soak, make soak-ci). Prints a table of
-- the faults injected and recovered; exits 1 on any failure. Everything goes
-- to the mock on 127.0.0.1, and every run is bounded (RUN_LIMIT).
package.path = "lua/?.lua;lua/?/init.lua;./?.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath

local lfs = require("lfs")
local batchexport = require("batchexport")
local errors = require("batchexport.errors")
local scheduler = require("batchexport.scheduler")
local mock = require("spec.support.mock")

local function parse_args(argv)
  local o = { downloads = 1000, records = 1000, rate = 0.1, seed = 1 }
  local i = 1
  while i <= #argv do
    local name, value = argv[i]:match("^%-%-(%w+)$"), tonumber(argv[i + 1])
    if not name or o[name] == nil or not value then
      io.stderr:write("usage: soak.lua [--downloads N] [--records N] [--rate R] [--seed S]\n")
      os.exit(2)
    end
    o[name] = value
    i = i + 2
  end
  return o
end

local opts = parse_args(arg)
-- Resumes are few: make more of them (cuts), fault them more often, and
-- ignore their Range more often than the rest, so the table shows them all.
local RANGE_RATE = math.min(1, opts.rate * 5)
local WEIGHTS = { cut = 4, ignore_range = 8 }

-- The client under test: tiny backoff, many attempts, a short stall guard.
local CLIENT = { backoff_base = 0.01, backoff_max = 0.1, max_attempts = 10, low_speed_time = 1,
  max_retry_after = 2 }
-- Chaos stalls: one well under the stall guard, one well over it.
local STALL, STALL_LONG = 0.2, 2.5
-- A run that takes longer than this is a hang: cancelled, counted a failure.
local RUN_LIMIT = 120

-- Small multi-part exports of every layout: a few KB to about 1 MB a part.
local SHAPES = {
  { parts = 1, part_size = 4096, format = "ndjson" },
  { parts = 2, part_size = 20000, format = "array" },
  { parts = 3, part_size = 65536, format = "ndjson", gzip = true },
  { parts = 2, part_size = 300000, format = "array", gzip = true, scope = "PROFILE_EVENTS" },
  { parts = 1, part_size = 1000000, format = "ndjson" },
  { parts = 3, part_size = 150000, format = "array", scope = "PROFILE_EVENTS" },
  { parts = 2, part_size = 700000, format = "ndjson", gzip = true },
  { parts = 1, part_size = 1000000, format = "array", gzip = true },
  { parts = 3, part_size = 8192, format = "array", gzip = true },
  { parts = 2, part_size = 500000, format = "ndjson", scope = "PROFILE_EVENTS" },
}

---------------------------------------------------------------------------
-- What the process holds: descriptors by type, transfers, tasks.

local FD_DIR = "/proc/self/fd"

-- Descriptors other than sockets (files, pipes...), as "fd -> target", and
-- the number of sockets (curl keeps idle connections to the mock for reuse).
local function descriptors()
  local others, sockets = {}, 0
  for name in lfs.dir(FD_DIR) do
    if name ~= "." and name ~= ".." then
      local target = lfs.symlinkattributes(FD_DIR .. "/" .. name, "target")
      -- the directory listing's own descriptor is gone once lfs.dir ends
      if target and target ~= FD_DIR and not target:match("^/proc/%d+/fd$") then
        if target:match("^socket:") then sockets = sockets + 1
        else others[#others + 1] = name .. " -> " .. target end
      end
    end
  end
  table.sort(others)
  return others, sockets
end

local function sha256_of(paths)
  local quoted = {}
  for i, p in ipairs(paths) do quoted[i] = mock.sh_quote(p) end
  local sums = {}
  local p = assert(io.popen("sha256sum " .. table.concat(quoted, " ")))
  for line in p:lines() do
    local sum, path = line:match("^(%x+)  (.*)$")
    if sum then sums[path] = sum end
  end
  p:close()
  return sums
end

local function entries(dir)
  local out = {}
  for name in lfs.dir(dir) do
    if name ~= "." and name ~= ".." then out[#out + 1] = name end
  end
  table.sort(out)
  return out
end

local function remove_tree(dir)
  for _, name in ipairs(entries(dir)) do os.remove(dir .. "/" .. name) end
  lfs.rmdir(dir)
end

---------------------------------------------------------------------------
-- The mock, the exports, the client.

local m = mock.start({ history = 10 })
local work = os.tmpname()
os.remove(work)
assert(lfs.mkdir(work))

local failures = {}
local function fail(run, what)
  failures[#failures + 1] = run .. ": " .. what
  io.stderr:write("soak: FAIL " .. run .. ": " .. what .. "\n")
end

-- The mock's log of the current run (cleared before each), shown on failure.
local function show_log()
  for _, r in ipairs(m:log().requests) do
    io.stderr:write(string.format("  %s %s %s%s -> %s, %s bytes, range %s, chaos %s\n", r.host, r.method, r.path,
      r.query ~= "" and ("?" .. r.query:sub(1, 40)) or "", tostring(r.status), tostring(r.bytes_sent),
      tostring(r.range), tostring(r.chaos)))
  end
end

local pool = {}
for i, shape in ipairs(SHAPES) do
  local spec = { status = "SUCCESS" }
  for k, v in pairs(shape) do spec[k] = v end
  local e = m:create_export(spec)
  local files, records = {}, 0
  for _, f in ipairs(e.files) do
    local info = m:file(f.id)
    files[math.tointeger(f.part)] = { id = f.id, sha256 = info.sha256, size = info.size, records = info.records }
    records = records + info.records
  end
  pool[i] = { export = e, files = files, records = records }
end

local baseline_fds = descriptors()
local client = assert(batchexport.new({
  base_url = m.api_url, rest_key = m.rest_key, project_key = m.project_key,
  backoff_base = CLIENT.backoff_base, backoff_max = CLIENT.backoff_max, max_attempts = CLIENT.max_attempts,
  low_speed_time = CLIENT.low_speed_time, max_retry_after = CLIENT.max_retry_after,
}))

-- Errors the client may rightly give under these faults; anything else is a
-- failure of the soak. A stream that storage refuses to resume (200 with the
-- whole file to a Range request) cannot take back the records it handed
-- out, so it stops; a download starts the file again from byte 0 instead.
local function legitimate(err, run_kind)
  if not errors.is(err) then return nil end
  if run_kind == "records" and err.kind == "network"
      and tostring(err.message):find("ignored the Range request", 1, true) then
    return "storage ignored Range"
  end
  if err.retryable ~= false and err.attempts and err.attempts >= CLIENT.max_attempts then
    return "gave up after max_attempts"
  end
  return nil
end

-- Runs fn in a task, bounded by RUN_LIMIT: true, values... | false, err | nil
-- (hung). A task that spins without ever yielding is stopped by a hook.
local function bounded(fn)
  local deadline = mock.gettime() + RUN_LIMIT
  local task = batchexport.spawn(function()
    debug.sethook(function()
      if mock.gettime() > deadline then
        debug.sethook()
        error("spinning: still running after " .. RUN_LIMIT .. " s without yielding", 2)
      end
    end, "", 1000000)
    return fn()
  end)
  local ok, a, b = task:wait(RUN_LIMIT)
  if ok == nil then task:cancel() end
  return ok, a, b
end

local function chaos_counts()
  return m:control("GET", "/_mock/chaos").injected
end

-- Per kind: injected, in runs that ended right, in runs that ended with a
-- legitimate error.
local KINDS = { "cut", "close", "429", "503", "stall", "stall_long", "expired", "ignore_range" }
local tally = {}
for _, k in ipairs(KINDS) do tally[k] = { injected = 0, recovered = 0, legit = 0 } end
local outcomes = { download = { ok = 0, legit = {}, failed = 0 }, records = { ok = 0, legit = {}, failed = 0 } }
local max_sockets = 0

-- The checks every run shares: nothing running, nothing open but sockets
-- curl keeps for reuse.
local function check_process(run)
  if scheduler.loop:count() ~= 0 then fail(run, scheduler.loop:count() .. " transfer(s) left on the loop") end
  if scheduler.count() ~= 0 then fail(run, scheduler.count() .. " task(s) left running") end
  local others, sockets = descriptors()
  if table.concat(others, ", ") ~= table.concat(baseline_fds, ", ") then
    fail(run, "descriptors changed: " .. table.concat(others, ", ") .. " (before: "
      .. table.concat(baseline_fds, ", ") .. ")")
  end
  if sockets > max_sockets then max_sockets = sockets end
end

local function account(kind, run, before, ok, legit_why)
  local after = chaos_counts()
  if not ok and not legit_why then show_log() end
  local o = outcomes[kind]
  if ok then o.ok = o.ok + 1
  elseif legit_why then o.legit[legit_why] = (o.legit[legit_why] or 0) + 1
  else o.failed = o.failed + 1 end
  for _, k in ipairs(KINDS) do
    local n = after[k] - before[k]
    local t = tally[k]
    t.injected = t.injected + n
    if ok then t.recovered = t.recovered + n elseif legit_why then t.legit = t.legit + n end
  end
  check_process(run)
end

-- One download into a fresh folder: the files, or a legitimate error with
-- only whole files under final names; never a temp file left.
local function download_run(i)
  local item = pool[(i - 1) % #pool + 1]
  local e = item.export
  local run = string.format("download %d (%s)", i, e.id)
  local dir = string.format("%s/d%05d", work, i)
  m:clear_log()
  local before = chaos_counts()
  -- Alternate the export table and its id (which adds a view call).
  local target = i % 2 == 0 and e or e.id
  local ok, paths, err = bounded(function() return client.exports.download(target, { dir = dir }) end)
  local why
  if ok == nil then
    fail(run, "still running after " .. RUN_LIMIT .. " s (cancelled)")
  elseif not ok then
    fail(run, "raised: " .. tostring(paths))
  elseif not paths then
    why = legitimate(err, "download")
    if not why then fail(run, "unexpected error: " .. tostring(err)) end
  end
  -- The folder holds final names only, each a whole, identical part.
  local expected = {}
  for part, f in pairs(item.files) do
    local base = e.id .. "-" .. part
    expected[base .. ".json"], expected[base .. ".json.gz"] = f, f
  end
  local names = lfs.attributes(dir, "mode") == "directory" and entries(dir) or {}
  local full = {}
  for _, name in ipairs(names) do
    if not expected[name] then fail(run, "stray file " .. name) end
    full[#full + 1] = dir .. "/" .. name
  end
  local sums = #full > 0 and sha256_of(full) or {}
  for _, name in ipairs(names) do
    local f = expected[name]
    if f and sums[dir .. "/" .. name] ~= f.sha256 then
      fail(run, name .. " differs from the mock's file " .. f.id)
    end
  end
  if ok and paths then
    local parts = 0
    for _ in pairs(item.files) do parts = parts + 1 end
    if #paths ~= parts or #names ~= parts then
      fail(run, #paths .. " paths returned, " .. #names .. " files on disk, " .. parts .. " parts")
    end
  end
  if lfs.attributes(dir, "mode") then remove_tree(dir) end
  account("download", run, before, ok and paths ~= nil, why)
end

-- One `records` run over a whole export: the exact record count, or a
-- legitimate error after no more records than there are.
local function records_run(i)
  local item = pool[(i - 1) % #pool + 1]
  local e = item.export
  local run = string.format("records %d (%s)", i, e.id)
  m:clear_log()
  local before = chaos_counts()
  local target = i % 2 == 0 and e or e.id
  local count = 0
  local ok, err = bounded(function()
    for record in client.exports.records(target) do
      if type(record) ~= "table" then error("a record that is not a table: " .. type(record)) end
      count = count + 1
    end
  end)
  local why
  if ok == nil then
    fail(run, "still running after " .. RUN_LIMIT .. " s (cancelled)")
  elseif ok then
    if count ~= item.records then fail(run, count .. " records, " .. item.records .. " expected") end
  else
    why = legitimate(err, "records")
    if not why then fail(run, "unexpected error: " .. tostring(err)) end
    if count > item.records then fail(run, count .. " records before the error, only " .. item.records .. " exist") end
  end
  account("records", run, before, ok and count == item.records, why)
end

---------------------------------------------------------------------------

local started = mock.gettime()
local ch, status = m:control("POST", "/_mock/chaos", { rate = opts.rate, range_rate = RANGE_RATE, weights = WEIGHTS, seed = math.tointeger(opts.seed),
  stall = STALL, stall_long = STALL_LONG, retry_after_max = 1 })
assert(status == 201, "cannot start chaos: " .. tostring(type(ch) == "table" and ch.error or ch))

local function progress(what, i, n)
  if i % math.max(1, n // 10) == 0 or i == n then
    io.stdout:write(string.format("soak: %s %d/%d (%.0f s)\n", what, i, n, mock.gettime() - started))
    io.stdout:flush()
  end
end

for i = 1, opts.downloads do download_run(i); progress("downloads", i, opts.downloads) end
for i = 1, opts.records do records_run(i); progress("records", i, opts.records) end

local report = m:control("DELETE", "/_mock/chaos")

-- Once the client and the loop are closed, every socket must be gone too.
client:close()
scheduler.loop:close()
collectgarbage()
collectgarbage()
local final_others, final_sockets = descriptors()
if table.concat(final_others, ", ") ~= table.concat(baseline_fds, ", ") or final_sockets ~= 0 then
  fail("end", "after close: " .. final_sockets .. " socket(s), descriptors " .. table.concat(final_others, ", "))
end
local leftovers = entries(work)
if #leftovers > 0 then fail("end", "left in the work folder: " .. table.concat(leftovers, ", ")) end
lfs.rmdir(work)
m:stop()

---------------------------------------------------------------------------
-- The report.

local function legit_text(t)
  local parts = {}
  for why, n in pairs(t) do parts[#parts + 1] = n .. " " .. why end
  table.sort(parts)
  return #parts > 0 and table.concat(parts, ", ") or "none"
end

local function legit_total(t)
  local n = 0
  for _, v in pairs(t) do n = n + v end
  return n
end

print()
print(string.format("fault soak: %d downloads, %d records runs, rate %.2f (resumes %.2f), seed %d, %.0f s",
  opts.downloads, opts.records, opts.rate, RANGE_RATE, opts.seed, mock.gettime() - started))
print(string.format("mock: %d requests seen (%d resumes with Range), %d faulted", report.requests, report.ranges,
  report.total))
print()
print(string.format("%-14s %9s %10s %12s", "fault", "injected", "recovered", "legit error"))
local sum = { injected = 0, recovered = 0, legit = 0 }
for _, k in ipairs(KINDS) do
  local t = tally[k]
  print(string.format("%-14s %9d %10d %12d", k, t.injected, t.recovered, t.legit))
  for f in pairs(sum) do sum[f] = sum[f] + t[f] end
end
print(string.format("%-14s %9d %10d %12d", "total", sum.injected, sum.recovered, sum.legit))
print()
print(string.format("%-10s %6s %6s %12s %7s", "runs", "total", "right", "legit error", "failed"))
for _, kind in ipairs({ "download", "records" }) do
  local o = outcomes[kind]
  print(string.format("%-10s %6d %6d %12d %7d", kind, o.ok + legit_total(o.legit) + o.failed, o.ok,
    legit_total(o.legit), o.failed))
end
print("legitimate errors: downloads: " .. legit_text(outcomes.download.legit) .. "; records: "
  .. legit_text(outcomes.records.legit))
print(string.format("most sockets held at once (curl's connection cache): %d", max_sockets))
if sum.injected ~= report.total then
  fail("end", "the runs saw " .. sum.injected .. " faults, the mock injected " .. report.total)
end
if report.total == 0 and opts.rate > 0 and opts.downloads + opts.records >= 20 then
  fail("end", "no fault was injected: the soak proved nothing")
end
if #failures > 0 then
  print(string.format("soak: FAILED (%d problem(s); first: %s)", #failures, failures[1]))
  os.exit(1)
end
print("soak: passed")
