-- Mock time: real time scaled by `speed` and moved by `advance`, shared by all
-- workers, so the lifecycle, link expiry and lookbacks all agree on "now".
local json = require("batchmock.json")

local M = {}
local dict = ngx.shared.mock

local function read()
  local raw = dict:get("clock")
  if not raw then return { ar = ngx.now(), am = ngx.now(), sp = 1 } end
  return json.fast_decode(raw)
end

function M.reset(speed)
  ngx.update_time()
  local t = ngx.now()
  dict:set("clock", json.fast_encode({ ar = t, am = t, sp = speed or 1 }))
end

function M.now()
  ngx.update_time()
  local c = read()
  return c.am + (ngx.now() - c.ar) * c.sp
end

function M.speed() return read().sp end

-- Rebase so the change applies from this instant on, not retroactively.
function M.set_speed(sp)
  local now = M.now()
  ngx.update_time()
  dict:set("clock", json.fast_encode({ ar = ngx.now(), am = now, sp = sp }))
end

function M.advance(s)
  local c = read()
  c.am = c.am + s
  dict:set("clock", json.fast_encode(c))
  return M.now()
end

-- days from 1970-01-01 for a civil date (proleptic Gregorian)
local function days_from_civil(y, m, d)
  y = (m <= 2) and (y - 1) or y
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function valid_date(y, m, d, H, Mi, S)
  if m < 1 or m > 12 or d < 1 or H > 23 or Mi > 59 or S > 60 then return false end
  local mdays = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
  if m == 2 and (y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0)) then return d <= 29 end
  return d <= mdays[m]
end

local function epoch(y, m, d, H, Mi, S)
  return days_from_civil(y, m, d) * 86400 + H * 3600 + Mi * 60 + S
end
M.epoch = epoch

-- RFC 3339 with a mandatory offset (Z or ±hh:mm); fractional seconds allowed.
function M.parse_rfc3339(s)
  if type(s) ~= "string" then return nil end
  local y, m, d, H, Mi, S, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  y, m, d, H, Mi, S = tonumber(y), tonumber(m), tonumber(d), tonumber(H), tonumber(Mi), tonumber(S)
  if not valid_date(y, m, d, H, Mi, S) then return nil end
  local frac = 0
  local f, rest2 = rest:match("^%.(%d+)(.*)$")
  if f then frac = tonumber("0." .. f); rest = rest2 end
  local off
  if rest == "Z" or rest == "z" then
    off = 0
  else
    local sign, oh, om = rest:match("^([+-])(%d%d):(%d%d)$")
    if not sign then return nil end
    oh, om = tonumber(oh), tonumber(om)
    if oh > 23 or om > 59 then return nil end
    off = (oh * 3600 + om * 60) * (sign == "+" and 1 or -1)
  end
  return epoch(y, m, d, H, Mi, S) + frac - off
end

-- Legacy 1.0 dates: exactly YYYY-MM-ddTHH:mm:ss, UTC, no offset.
function M.parse_legacy(s)
  if type(s) ~= "string" then return nil end
  local y, m, d, H, Mi, S = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)$")
  if not y then return nil end
  y, m, d, H, Mi, S = tonumber(y), tonumber(m), tonumber(d), tonumber(H), tonumber(Mi), tonumber(S)
  if not valid_date(y, m, d, H, Mi, S) then return nil end
  return epoch(y, m, d, H, Mi, S)
end

function M.rfc3339(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end

function M.legacy(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t))
end

return M
