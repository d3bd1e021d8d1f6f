--- examples/openresty/handler.lua: batchexport inside an nginx worker.
-- Every call below would block a plain script; here each one yields to the
-- worker's event loop (batchexport steps its curl multi handle between
-- ngx.sleep()s), so one worker serves other requests while exports run.
local batchexport = require("batchexport")
local cjson = require("cjson.safe")

local M = {}

local client   -- one per worker: connections and TLS sessions are reused

local function get_client()
  if client then return client end
  local c, err = batchexport.new({
    base_url = os.getenv("MOCK_API_URL") or os.getenv("BATCH_BASE_URL") or "https://api.batch.com",
    rest_key = os.getenv("BATCH_REST_KEY"),
    project_key = os.getenv("BATCH_PROJECT_KEY"),
    api_key = os.getenv("BATCH_API_KEY"),
    logger = function(level, line)
      if level ~= "debug" then ngx.log(level == "warn" and ngx.WARN or ngx.INFO, line) end
    end,
  })
  if not c then return nil, err end
  client = c
  return client
end

local function reply(status, value)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode(value))
  return ngx.exit(status)
end

local function fail(err)
  local status = (err.kind == "validation" or err.kind == "config") and 400
    or (err.kind == "timeout" and 504) or 502
  return reply(status, { error = tostring(err), kind = err.kind })
end

local REQUEST = { export_type = "ATTRIBUTES", attributes = { "$email_address", "$language" },
  identifiers = { "custom_id" } }

local function wait_options(args)
  return {
    interval = tonumber(args.interval) or 1,
    max_interval = tonumber(args.max_interval) or 5,
    timeout = tonumber(args.timeout) or 300,
  }
end

-- If the client hangs up, stop at once: close this request's transfers and
-- tasks rather than leave them on the worker's loop (needs
-- `lua_check_client_abort on`, see nginx.conf).
local function stop_on_abort()
  ngx.on_abort(function()
    batchexport.abandon()
    ngx.exit(499)
  end)
end

--- GET /export[?interval=s&timeout=s]: create an export, wait for it, say how it went.
function M.export()
  stop_on_abort()
  local c, err = get_client()
  if not c then return fail(err) end
  local started = ngx.now()
  local id
  id, err = c.exports.create(REQUEST)
  if not id then return fail(err) end
  local export
  export, err = c.exports.wait_for(id, wait_options(ngx.req.get_uri_args()))
  if not export then return fail(err) end
  ngx.update_time()
  return reply(200, { id = export.id, status = export.status, files = #(export.files or {}),
    waited = ngx.now() - started })
end

--- GET /tasks?n=N: N exports created and waited for side by side, as tasks.
function M.tasks()
  stop_on_abort()
  local c, err = get_client()
  if not c then return fail(err) end
  local args = ngx.req.get_uri_args()
  local n = math.min(tonumber(args.n) or 3, 50)
  local opts = wait_options(args)
  local tasks = {}
  for i = 1, n do
    tasks[i] = batchexport.spawn(function()
      local id = assert(c.exports.create(REQUEST))
      local e, werr = c.exports.wait_for(id, opts)
      if not e then error(werr, 0) end
      return e.status
    end)
  end
  batchexport.run()   -- in nginx the scheduler's waits are ngx.sleep()s too
  local out = {}
  for i, t in ipairs(tasks) do
    local ok, v = t:result()
    out[i] = ok and v or tostring(v)
  end
  return reply(200, { results = out })
end

--- GET /records?id=EXPORT: every record of a finished export, counted. The
-- loop decodes for at most a slice (the client's `slice`, 2 ms) before it
-- lets the worker serve other requests (ngx.sleep(0)), so a fast link does
-- not hold the worker for the whole export.
function M.records()
  stop_on_abort()
  local c, err = get_client()
  if not c then return fail(err) end
  local id = ngx.req.get_uri_args().id
  local started = ngx.now()
  local ok, n = pcall(function()
    local count = 0
    for _ in c.exports.records(id) do count = count + 1 end
    return count
  end)
  if not ok then return fail(n) end
  ngx.update_time()
  return reply(200, { id = id, records = n, seconds = ngx.now() - started })
end

--- GET /download?id=EXPORT&dir=DIR: the export's files saved in DIR (default
-- the system's temporary folder). The bytes go to a temporary file as
-- they arrive; the final fsync, rename and folder fsync run on one of
-- nginx's worker threads (`thread_pool` in nginx.conf), not on the worker.
function M.download()
  stop_on_abort()
  local c, err = get_client()
  if not c then return fail(err) end
  local args = ngx.req.get_uri_args()
  local started = ngx.now()
  local paths
  paths, err = c.exports.download(args.id, { dir = args.dir or "/tmp" })
  if not paths then return fail(err) end
  ngx.update_time()
  return reply(200, { id = args.id, paths = paths, seconds = ngx.now() - started })
end

--- GET /stats: transfers still on this worker's loop.
function M.stats()
  local scheduler = require("batchexport.scheduler")
  return reply(200, { transfers = scheduler.loop:count(), tasks = scheduler.count() })
end

return M
