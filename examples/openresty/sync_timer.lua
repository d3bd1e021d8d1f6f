-- exports.sync from an OpenResty timer: every `every` seconds, land the new
-- events in `dir`. The waits ngx.sleep() between steps, so the worker keeps
-- serving requests meanwhile. Start it from one worker only, in nginx.conf:
--
--   init_worker_by_lua_block {
--       if ngx.worker.id() == 0 then
--           require("sync_timer").start({ dir = "/var/lib/batch", every = 3600 })
--       end
--   }
--
-- Should two nginx instances (or a cron job) sync the same folder, the
-- folder's lock lets one run at a time: the other returns err.locked and
-- tries again at its next tick.
local batchexport = require("batchexport")

local M = {}

local function tick(premature, opts)
  if premature then return end            -- nginx is shutting down
  local client, err = batchexport.new({
    rest_key = os.getenv("BATCH_REST_KEY"),
    project_key = os.getenv("BATCH_PROJECT_KEY"),
    base_url = os.getenv("MOCK_API_URL") or os.getenv("BATCH_BASE_URL"),
  })
  if not client then
    ngx.log(ngx.ERR, "sync: ", tostring(err))
    return
  end
  local summary
  summary, err = client.exports.sync({ dir = opts.dir, events = opts.events or { "email_open" },
    since = opts.since or "1d", lag = opts.lag or "15m", max_range = opts.max_range or "1d",
    interval = opts.interval })
  client:close()
  if not summary then
    ngx.log(err.locked and ngx.NOTICE or ngx.ERR, "sync: ", tostring(err))
  elseif summary.status == "landed" then
    ngx.log(ngx.NOTICE, "sync: landed ", #summary.landed, " range(s), watermark ", summary.watermark)
  end
end

--- sync_timer.start{dir = ..., every = seconds, events = {...}, since, lag, max_range,
-- interval (first pause between status checks)}
function M.start(opts)
  -- ngx.timer.every never runs two ticks of one timer at once.
  local ok, err = ngx.timer.every(opts.every or 3600, tick, opts)
  if not ok then ngx.log(ngx.ERR, "sync: cannot start the timer: ", err) end
  return ok, err
end

return M
