-- Instance state. Everything mutable lives in lua_shared_dicts so any number
-- of workers agree; the start options are read once in init_by_lua (master)
-- and inherited by every worker, which is what `reset` returns to.
local json = require("batchmock.json")
local clock = require("batchmock.clock")

local M = {}
local dict = ngx.shared.mock
local logdict = ngx.shared.mocklog

local start_cfg

local DEFAULTS = {
  speed = 1,
  link_ttl = 1200,
  created = 2,
  pending = 3,
  running = 10,
  history = 260,
  legacy_history = 12,
  seed = 1,
  list_retention_days = 120,
  legacy_retention_days = 180,
  legacy_file_ttl_days = 30,
}

function M.init(path)
  local fh = assert(io.open(path, "rb"))
  local cfg = assert(json.fast_decode(fh:read("*a")))
  fh:close()
  for k, v in pairs(DEFAULTS) do if cfg[k] == nil then cfg[k] = v end end
  start_cfg = cfg
  M.seed()
end

function M.start_cfg() return start_cfg end

function M.cfg()
  local ctx = ngx.get_phase() ~= "init" and ngx.ctx or nil
  if ctx and ctx.mock_cfg then return ctx.mock_cfg end
  local raw = dict:get("cfg")
  local cfg = raw and json.fast_decode(raw) or start_cfg
  if ctx then ctx.mock_cfg = cfg end
  return cfg
end

local SETTABLE = {
  speed = "number", link_ttl = "number", created = "number", pending = "number", running = "number",
}

-- returns the new config or nil, message
function M.update_cfg(changes)
  local cfg = M.cfg()
  local copy = {}
  for k, v in pairs(cfg) do copy[k] = v end
  for k, v in pairs(changes) do
    if not SETTABLE[k] then return nil, "unknown config key '" .. tostring(k) .. "' (settable: speed, link_ttl, created, pending, running)" end
    if type(v) ~= SETTABLE[k] or v < 0 or (k == "speed" and v <= 0) then
      return nil, "config '" .. k .. "' must be a " .. (k == "speed" and "positive" or "non-negative") .. " number"
    end
    copy[k] = v
  end
  if changes.speed then clock.set_speed(changes.speed) end
  dict:set("cfg", json.fast_encode(copy))
  if ngx.get_phase() ~= "init" then ngx.ctx.mock_cfg = nil end
  return copy
end

-- Back to the start: dictionaries emptied, history re-seeded from the seed.
-- Files on disk stay: their names are content hashes, so they are still valid.
function M.seed()
  dict:flush_all()
  dict:flush_expired()
  logdict:flush_all()
  logdict:flush_expired()
  dict:set("cfg", json.fast_encode(start_cfg))
  if ngx.get_phase() ~= "init" then ngx.ctx.mock_cfg = nil end
  clock.reset(start_cfg.speed)
  -- created ids differ after each reset so stale ids held by a test are 404
  dict:set("epoch", string.format("%.6f", ngx.now()))
  require("batchmock.exports").seed_history()
  require("batchmock.legacy").seed_history()
  if ngx.get_phase() ~= "init" then require("batchmock.exports").warm() end
end

M.reset = M.seed

function M.epoch() return dict:get("epoch") or "0" end

function M.get(key)
  local raw = dict:get(key)
  return raw and json.fast_decode(raw) or nil
end

function M.put(key, value)
  local ok, err = dict:set(key, json.fast_encode(value))
  if not ok then ngx.log(ngx.ERR, "shared dict full storing ", key, ": ", err) end
  return ok
end

function M.incr(key)
  return dict:incr(key, 1, 0)
end

M.dict = dict
M.logdict = logdict

return M
