-- A stream is received on a thread of its own (csrc/pump.c), so the network
-- is read while its records are decoded. What a user relies on: a thread
-- runs only while a stream is in flight, and is gone once the reader is,
-- whichever way it goes (read to the end, closed, dropped and collected,
-- its client closed); an export streams with at most two at once (the part
-- read and the part prefetched), whatever its number of parts. Linux only:
-- threads are counted in /proc/self/status.
local mock = require("spec.support.mock")
local batchexport = require("batchexport")
local client = require("spec.support.client")
local h = require("spec.support.helpers")
local scheduler = require("batchexport.scheduler")

local m

local function new_client() return client.new(m, client.QUICK) end

local function threads()
  for line in io.lines("/proc/self/status") do
    local n = line:match("^Threads:%s*(%d+)")
    if n then return tonumber(n) end
  end
  error("no Threads line in /proc/self/status")
end

-- count() once it gives `want`, or after a second or two: a thread joined
-- (pthread_join returned) is still counted until the kernel has released it,
-- which a loaded machine can delay past the next line.
local function settle(count, want)
  local deadline = os.time() + 2
  while count() ~= want and os.time() < deadline do scheduler.sleep(0.005) end
  return count()
end

-- This process's thread ids, and its own (a child's /proc/self is the child's).
local function task_ids()
  local stat = assert(io.open("/proc/self/stat"))
  local pid = stat:read("*l"):match("^(%d+)")
  stat:close()
  local ids, ls = {}, assert(io.popen("ls /proc/" .. pid .. "/task"))
  for tid in ls:lines() do ids[#ids + 1] = tid end
  ls:close()
  return ids, pid
end

-- Drops everything unreachable, the readers' userdata included.
local function collect()
  collectgarbage()
  collectgarbage()
end

local BIG = { status = "SUCCESS", scope = "PROFILE_ATTRIBUTES", parts = 1, part_size = 4000000 }

-- A reader on a big part with a little of it read, so its stream is in
-- flight on its thread; and the process's threads before it opened.
local function reader_in_flight(c)
  local e = m:create_export(BIG)
  local before = threads()
  local reader = assert(c.exports.open(e.files[1]))
  assert(reader:read(1000))
  assert.equal(before + 1, threads())
  return reader, before
end

setup(function()
  m = mock.start({ workers = 1 })
  -- One stream read whole first: a runtime that starts a thread of its own
  -- at the first thread made (a sanitizer's) is counted in every baseline.
  local c = new_client()
  for _ in c.exports.records(m:create_export({ status = "SUCCESS", parts = 1, part_size = 2000 })) do end
  c:close()
end)
teardown(function() if m then m:stop() end end)
before_each(function()
  m:reset()
  collect()
end)

describe("a stream's thread", function()
  it("runs while the stream is in flight and ends with it, read to the end", function()
    local c = new_client()
    local e = m:create_export(BIG)
    local before = threads()
    local during, n = nil, 0
    for _ in c.exports.records(e) do
      n = n + 1
      if n == 1 then during = threads() end
    end
    assert.is_true(n > 1000)
    assert.equal(before + 1, during)
    assert.equal(before, settle(threads, before))
    c:close()
  end)

  it("is named batchexport, apart from the caller's thread (top -H, gdb, perf)", function()
    local function names()
      local out = {}
      for _, tid in ipairs((task_ids())) do
        local f = io.open("/proc/self/task/" .. tid .. "/comm")
        if f then -- gone since
          local name = f:read("*l")
          f:close()
          out[name] = (out[name] or 0) + 1
        end
      end
      return out
    end
    local c = new_client()
    local before = names().batchexport or 0
    local reader = reader_in_flight(c)
    assert.equal(before + 1, names().batchexport)
    reader:close()
    assert.equal(before, settle(function() return names().batchexport or 0 end, before))
    c:close()
  end)

  it("ends when the reader is closed in the middle of the part", function()
    local c = new_client()
    local reader, before = reader_in_flight(c)
    reader:close()
    assert.equal(before, settle(threads, before))
    c:close()
  end)

  it("ends when a reader dropped in the middle of the part is collected", function()
    local c = new_client()
    local before = select(2, reader_in_flight(c)) -- the reader itself is kept nowhere
    collect()
    assert.equal(before, settle(threads, before))
    c:close()
  end)

  it("blocks the signals meant for the process, so Ctrl-C reaches the caller's thread", function()
    local c = new_client()
    local reader = reader_in_flight(c)
    local ids, self_pid = task_ids()
    local others = 0
    for _, tid in ipairs(ids) do
      if tid ~= self_pid then
        others = others + 1
        local blocked
        for line in io.lines("/proc/self/task/" .. tid .. "/status") do
          blocked = blocked or line:match("^SigBlk:%s*(%x+)")
        end
        local mask = tonumber(blocked:sub(-8), 16) -- signals 1 to 32
        for _, signo in ipairs({ 2, 15 }) do  -- SIGINT, SIGTERM
          assert.equal(1, math.floor(mask / 2 ^ (signo - 1)) % 2, "thread " .. tid .. " takes signal " .. signo)
        end
      end
    end
    assert.is_true(others >= 1)
    reader:close()
    c:close()
  end)

  it("ends when its client is closed", function()
    local c = new_client()
    local reader, before = reader_in_flight(c)
    c:close()
    assert.equal(before, settle(threads, before))
    local ok, err = reader:read(1000)
    assert.is_nil(ok)
    assert.equal("validation", err.kind)
  end)

  it("runs at most two at once over a six-part export, and none after", function()
    local c = new_client()
    local e = m:create_export({ status = "SUCCESS", scope = "PROFILE_ATTRIBUTES", parts = 6, part_size = 300000 })
    local before, most, n = threads(), 0, 0
    for _ in c.exports.records(e) do
      n = n + 1
      if n % 50 == 0 then most = math.max(most, threads() - before) end
    end
    assert.is_true(n > 1000)
    assert.is_true(most >= 1 and most <= 2, most .. " stream threads at once")
    assert.equal(before, settle(threads, before))
    c:close()
  end)

  it("streams a three-part export over TLS, the parts on their threads at once", function()
    -- The streams share DNS answers and TLS sessions across their threads
    -- (a share handle with locks: the client's other one is the loop's).
    local tm = mock.start({ tls = true })
    local c = assert(batchexport.new({ rest_key = tm.rest_key, project_key = tm.project_key,
      base_url = tm.api_url, ca_file = tm.ca_file }))
    local e = tm:create_export({ status = "SUCCESS", scope = "PROFILE_ATTRIBUTES", parts = 3, part_size = 400000 })
    local expected = 0
    for _, f in ipairs(e.files) do expected = expected + tonumber(tm:file(f.id).records) end
    local before, n = threads(), 0
    for _ in c.exports.records(e) do n = n + 1 end
    c:close()
    tm:stop()
    assert.equal(expected, n)
    assert.equal(before, settle(threads, before))
  end)

  it("holds a paused stream while its consumer waits, then reads it whole", function()
    local c = new_client()
    local e = m:create_export(BIG)
    local reader = assert(c.exports.open(e.files[1]))
    local first = assert(reader:read(100))
    -- The consumer stops for a while: the thread fills the ring and waits,
    -- it does not drop or overwrite what was not read yet.
    scheduler.sleep(0.3)
    local got = { first }
    repeat
      local chunk, err = reader:read(65536)
      assert.is_nil(err)
      got[#got + 1] = chunk
    until not chunk
    local path = h.tmpname()
    h.write(path, table.concat(got))
    local sum, size = m:file_sha256(e.files[1].id)
    assert.equal(size, #table.concat(got))
    assert.equal(sum, h.sha256(path))
    os.remove(path)
    c:close()
  end)

  it("goes on when the stream fills its ring between the reader finding nothing and its wait", function()
    local core = require("batchexport.core")
    local stream = require("batchexport.stream")
    local c = new_client()
    local e = m:create_export(BIG)
    local reader = assert(c.exports.open(e.files[1]))
    local fields = assert(stream.fields({ "custom_id" }))
    -- The C reader's first "nothing of use yet" is held back until the
    -- thread has filled the ring and paused: the reader must then wait for
    -- more than it was shown, not for more than the full ring holds now.
    local real, held_back = reader.core, false
    reader.core = setmetatable({}, { __index = function(_, name)
      local method = real[name]
      if type(method) ~= "function" then return method end
      return function(_, ...)
        local results = table.pack(method(real, ...))
        if results[1] == false and not held_back then
          held_back = true
          local last, still = -1, 0
          while still < 5 and not reader.transfer:done() do
            scheduler.sleep(0.02)
            local now = reader.transfer:pending()
            still = now == last and still + 1 or 0
            last = now
          end
          assert.is_true(last > 0, "the thread filled the ring")
        end
        return table.unpack(results, 1, results.n)
      end
    end })
    -- A wait that never ends fails here rather than hanging the run.
    local deadline = core.now() + 20
    debug.sethook(function() if core.now() > deadline then error("the reader waits for ever") end end, "", 1000)
    local ok, n = pcall(function()
      local count = 0
      while reader:next_values(fields) do count = count + 1 end
      return count
    end)
    debug.sethook()
    assert.is_true(ok, tostring(n))
    assert.is_true(held_back, "the reader found nothing of use once")
    assert.equal(select(1, reader:count()), n)
    c:close()
  end)
end)
