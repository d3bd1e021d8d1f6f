--- A client for Batch's Export APIs: the v2 Exports API and the legacy 1.0
-- Export API, over a libcurl C core.
--
-- Functions return their result, or `nil, err` where `err` is an error object
-- (see `errors`); iterators raise `err` itself. Every network call blocks in a
-- plain script, yields inside a task (`spawn`) and never blocks an nginx
-- worker (OpenResty).
--
-- @module batchexport
-- @usage
-- local batchexport = require("batchexport")
-- local client = batchexport.assert(batchexport.from_env())   -- BATCH_REST_KEY, BATCH_PROJECT_KEY...
-- for export in client.exports.list({ limit = 10 }) do print(export.id, export.status) end
local client = require("batchexport.client")
local errors = require("batchexport.errors")
local scheduler = require("batchexport.scheduler")

local M = {
  --- `"batchexport x.y.z"`.
  _VERSION = "batchexport 0.1.0",
}

--- Options of `new` and `from_env`. Every one is optional; a call that needs a
-- key the client was not given fails with a `config` error.
-- @table options
-- @field rest_key the REST API key (both APIs)
-- @field project_key the project key (v2 calls)
-- @field api_key the app's Live API key (legacy 1.0 calls; it travels in the URL path and is shown as `***`)
-- @field base_url API root (default `"https://api.batch.com"`); `http://` only to loopback unless `allow_http`
-- @field api_version the v2 version in the path (default `"2.11"`)
-- @field timeout seconds for one whole request (default `0`: none)
-- @field connect_timeout seconds to connect (default `10`)
-- @field low_speed_limit bytes a second below which a transfer is stalled (default `1`)
-- @field low_speed_time seconds a stalled transfer is given (default `60`)
-- @field max_attempts requests per call, the first included (default `5`)
-- @field backoff_base first retry pause bound, seconds (default `0.5`)
-- @field backoff_max longest retry pause bound, seconds (default `30`)
-- @field max_retry_after longest `Retry-After` waited for, seconds (default `300`)
-- @field ssl_verify `false` turns TLS verification off (default `true`)
-- @field ca_file a CA bundle (PEM) instead of the system store
-- @field proxy a proxy URL (default: libcurl's `https_proxy`...)
-- @field user_agent the `User-Agent` header
-- @field logger `function(level, line)`, one line a request (`debug`) and a retry (`warn`), keys masked
-- @field max_body cap on a JSON response held in memory, bytes (default 16 MiB)
-- @field max_record cap on one record of an exported file, bytes (default 64 MiB)
-- @field allow_http allow `http://` to a host that is not loopback (default `false`)
-- @usage
-- local client = batchexport.assert(batchexport.new({
--   rest_key = os.getenv("BATCH_REST_KEY"), project_key = os.getenv("BATCH_PROJECT_KEY"),
--   timeout = 0, connect_timeout = 5, max_attempts = 3,
--   logger = function(level, line) io.stderr:write(level, " ", line, "\n") end,
-- }))

--- Creates a client.
-- Unknown or mistyped options are refused with a message that names them;
-- values are never echoed. `new` never raises.
-- @function new
-- @tparam[opt] table options see `options`
-- @return a client: `client.exports` (v2), `client.legacy` (1.0), `client:close()`
-- @error a `config` error naming every bad option
-- @usage
-- local client, err = batchexport.new({
--   rest_key = os.getenv("BATCH_REST_KEY"), project_key = os.getenv("BATCH_PROJECT_KEY"),
-- })
-- if not client then print(tostring(err)) end
M.new = client.new

-- Each option from_env reads, and the variable it reads it from.
local ENVIRONMENT = {
  { "rest_key", "BATCH_REST_KEY" },
  { "project_key", "BATCH_PROJECT_KEY" },
  { "api_key", "BATCH_API_KEY" },
  { "base_url", "BATCH_BASE_URL" },
  { "api_version", "BATCH_API_VERSION" },
  { "ca_file", "BATCH_CA_FILE" },
  { "proxy", "BATCH_PROXY" },
}

--- Creates a client with the options not given taken from the environment:
-- `BATCH_REST_KEY`, `BATCH_PROJECT_KEY`, `BATCH_API_KEY`, `BATCH_BASE_URL`,
-- `BATCH_API_VERSION`, `BATCH_CA_FILE` and `BATCH_PROXY` (an empty variable
-- counts as unset). The options given win; the table is not changed.
-- In OpenResty, nginx passes a variable only if `nginx.conf` names it (`env BATCH_REST_KEY;`).
-- @tparam[opt] table options see `options`
-- @return a client
-- @error a `config` error; its message names the variables that were read
-- @usage
-- local client = batchexport.assert(batchexport.from_env({ max_attempts = 3 }))
function M.from_env(options)
  if options ~= nil and type(options) ~= "table" then return client.new(options) end
  local merged, read = {}, {}
  for k, v in pairs(options or {}) do merged[k] = v end
  for _, pair in ipairs(ENVIRONMENT) do
    local name, variable = pair[1], pair[2]
    local value = os.getenv(variable)
    if merged[name] == nil and value and value ~= "" then
      merged[name] = value
      read[#read + 1] = variable
    end
  end
  local c, err = client.new(merged)
  if not c and #read > 0 then
    err.message = err.message .. " (read from the environment: " .. table.concat(read, ", ") .. ")"
  end
  return c, err
end

--- Like Lua's `assert`, on every Lua version: returns all its arguments when
-- the first is true, else raises the second, the error object itself (the
-- `assert` of PUC Lua 5.1 and 5.2 refuses a table message). An uncaught error object
-- prints its one line on Lua 5.2+ and LuaJIT; PUC Lua 5.1's interpreter
-- prints `(error object is not a string)` instead (see the README).
-- @param v a function's first result
-- @param[opt] err its error
-- @param ... further results, returned too
-- @return v, err, ...
-- @raise err (or `"assertion failed!"` when it is nil)
-- @usage
-- local id = batchexport.assert(client.exports.create({ export_type = "ATTRIBUTES", attributes = { "$language" } }))
function M.assert(v, err, ...)
  if v then return v, err, ... end
  if err == nil then err = "assertion failed!" end
  error(err, 0)
end

--- Whether a value is a batchexport error object (of a kind).
-- @param v any value
-- @tparam[opt] string kind `config`, `validation`, `network`, `timeout`, `http`,
-- `api`, `decode`, `export_failed` or `expired`
-- @treturn boolean
-- @usage
-- local ok, e = pcall(function() for r in client.exports.records(id) do end end)
-- if not ok and batchexport.is_error(e, "network") then retry_later() end
M.is_error = errors.is

--- Starts a task: `fn(...)` runs as a coroutine from the next `step`, and
-- every network call and pause inside it yields.
-- @function spawn
-- @tparam function fn the task's body
-- @param ... its arguments
-- @return a task: `task:status()`, `task:result()`, `task:cancel()`, `task:wait([timeout])`
-- @usage
-- local task = batchexport.spawn(function() return client.exports.wait_for(id) end)
-- batchexport.run()
-- local ok, export = task:result()
M.spawn = scheduler.spawn

--- In an nginx request, closes every transfer the request started and cancels
-- its tasks: call it from `ngx.on_abort`.
-- @function abandon
-- @usage
-- ngx.on_abort(function() batchexport.abandon() ngx.exit(499) end)
M.abandon = scheduler.abandon

--- Advances every transfer and every task that can go on; waits at most
-- `timeout` seconds when none can. Not from inside a task.
-- @function step
-- @tparam[opt=0] number timeout seconds
-- @treturn integer the number of tasks still alive
-- @usage
-- while running do batchexport.step(0); update(); render() end
M.step = scheduler.step

--- Steps until every task has ended. A task's error stays on the task.
-- @function run
-- @usage
-- batchexport.run()
M.run = scheduler.run

--- Pauses: yields inside a task, blocks elsewhere.
-- @function sleep
-- @tparam number seconds
-- @usage
-- batchexport.sleep(0.5)
M.sleep = scheduler.sleep

return M
