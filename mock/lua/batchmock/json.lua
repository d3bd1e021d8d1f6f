-- JSON for the mock: cjson cannot tell `[]` from `{}` and loses key order, and
-- the mock must both validate bodies exactly (an object where the schema wants
-- an array is an error) and answer with keys in the order Batch's pages show.
local cjson = require("cjson.safe")

local M = {}

local ARRAY = { __jsontype = "array" }
M.null = cjson.null

-- Raw JSON text spliced verbatim into an encoding (stored request bodies).
local RAW = {}
function M.raw(text) return setmetatable({ text = text }, RAW) end

function M.array(t) return setmetatable(t or {}, ARRAY) end

-- An object whose keys are emitted in `order` (missing or nil values are skipped).
function M.object(t, order)
  t = t or {}
  local mt = { __jsontype = "object", __order = order }
  return setmetatable(t, mt)
end

function M.is_array(v)
  local mt = type(v) == "table" and getmetatable(v)
  return mt == ARRAY or (mt and mt.__jsontype == "array") or false
end

function M.is_object(v)
  local mt = type(v) == "table" and getmetatable(v)
  return mt ~= nil and mt ~= false and mt.__jsontype == "object" or false
end

local escapes = {
  ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
}
local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end
M.quote = quote

local encode
local function encode_into(v, buf)
  local tv = type(v)
  if tv == "string" then
    buf[#buf + 1] = quote(v)
  elseif tv == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      buf[#buf + 1] = "null"
    elseif v == math.floor(v) and math.abs(v) < 2 ^ 53 then
      buf[#buf + 1] = string.format("%d", v)
    else
      buf[#buf + 1] = string.format("%.14g", v)
    end
  elseif tv == "boolean" then
    buf[#buf + 1] = v and "true" or "false"
  elseif v == nil or v == cjson.null then
    buf[#buf + 1] = "null"
  elseif tv == "table" then
    local mt = getmetatable(v)
    if mt == RAW then
      buf[#buf + 1] = v.text
    elseif mt == ARRAY or (mt and mt.__jsontype == "array")
        or (mt == nil and (#v > 0 or next(v) == nil)) then
      buf[#buf + 1] = "["
      for i = 1, #v do
        if i > 1 then buf[#buf + 1] = "," end
        encode_into(v[i], buf)
      end
      buf[#buf + 1] = "]"
    else
      buf[#buf + 1] = "{"
      local first = true
      local function emit(k, val)
        if val == nil then return end
        if not first then buf[#buf + 1] = "," end
        first = false
        buf[#buf + 1] = quote(tostring(k))
        buf[#buf + 1] = ":"
        encode_into(val, buf)
      end
      local order = mt and mt.__order
      if order then
        local seen = {}
        for _, k in ipairs(order) do seen[k] = true; emit(k, v[k]) end
        local rest = {}
        for k in pairs(v) do if not seen[k] then rest[#rest + 1] = k end end
        table.sort(rest, function(a, b) return tostring(a) < tostring(b) end)
        for _, k in ipairs(rest) do emit(k, v[k]) end
      else
        local keys = {}
        for k in pairs(v) do keys[#keys + 1] = k end
        table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
        for _, k in ipairs(keys) do emit(k, v[k]) end
      end
      buf[#buf + 1] = "}"
    end
  else
    error("cannot encode " .. tv .. " as JSON")
  end
end

function encode(v)
  local buf = {}
  encode_into(v, buf)
  return table.concat(buf)
end
M.encode = encode

-- Decoder: arrays and objects come back marked, objects remember key order, so
-- a request body can be validated strictly and echoed back as it was sent.
local byte, sub, find = string.byte, string.sub, string.find

local function decode_error(s, pos, msg)
  error({ json_error = string.format("%s at byte %d", msg, pos) }, 0)
end

local function skip_ws(s, pos)
  local _, e = find(s, "^[ \t\r\n]*", pos)
  return e + 1
end

local decode_value

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then
    return string.char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64)
  end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return string.char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
    0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

local function decode_string(s, pos)
  -- pos is at the opening quote
  local buf, i = {}, pos + 1
  while true do
    local j = find(s, '["\\%c]', i)
    if not j then decode_error(s, pos, "unterminated string") end
    local c = byte(s, j)
    if c < 32 then decode_error(s, j, "control character in string") end
    buf[#buf + 1] = sub(s, i, j - 1)
    if c == 34 then return table.concat(buf), j + 1 end
    local e = sub(s, j + 1, j + 1)
    local simple = ({ ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t' })[e]
    if simple then
      buf[#buf + 1] = simple
      i = j + 2
    elseif e == "u" then
      local hex = sub(s, j + 2, j + 5)
      if not hex:match("^%x%x%x%x$") then decode_error(s, j, "bad \\u escape") end
      local cp = tonumber(hex, 16)
      i = j + 6
      if cp >= 0xD800 and cp <= 0xDBFF and sub(s, i, i + 1) == "\\u" then
        local lo = tonumber(sub(s, i + 2, i + 5), 16)
        if lo and lo >= 0xDC00 and lo <= 0xDFFF then
          cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
          i = i + 6
        end
      end
      buf[#buf + 1] = utf8_char(cp)
    else
      decode_error(s, j, "bad escape")
    end
  end
end

function decode_value(s, pos, depth)
  if depth > 64 then decode_error(s, pos, "nesting too deep") end
  pos = skip_ws(s, pos)
  local c = sub(s, pos, pos)
  if c == "{" then
    local obj, order = {}, {}
    pos = skip_ws(s, pos + 1)
    if sub(s, pos, pos) == "}" then return M.object(obj, order), pos + 1 end
    while true do
      pos = skip_ws(s, pos)
      if sub(s, pos, pos) ~= '"' then decode_error(s, pos, "expected a string key") end
      local k
      k, pos = decode_string(s, pos)
      pos = skip_ws(s, pos)
      if sub(s, pos, pos) ~= ":" then decode_error(s, pos, "expected ':'") end
      local v
      v, pos = decode_value(s, pos + 1, depth + 1)
      if obj[k] == nil then order[#order + 1] = k end
      obj[k] = v
      pos = skip_ws(s, pos)
      local d = sub(s, pos, pos)
      if d == "}" then return M.object(obj, order), pos + 1 end
      if d ~= "," then decode_error(s, pos, "expected ',' or '}'") end
      pos = pos + 1
    end
  elseif c == "[" then
    local arr = {}
    pos = skip_ws(s, pos + 1)
    if sub(s, pos, pos) == "]" then return M.array(arr), pos + 1 end
    while true do
      local v
      v, pos = decode_value(s, pos, depth + 1)
      arr[#arr + 1] = v
      pos = skip_ws(s, pos)
      local d = sub(s, pos, pos)
      if d == "]" then return M.array(arr), pos + 1 end
      if d ~= "," then decode_error(s, pos, "expected ',' or ']'") end
      pos = pos + 1
    end
  elseif c == '"' then
    return decode_string(s, pos)
  elseif find(s, "^true", pos) then
    return true, pos + 4
  elseif find(s, "^false", pos) then
    return false, pos + 5
  elseif find(s, "^null", pos) then
    return cjson.null, pos + 4
  else
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if not num or num == "" or num == "-" then decode_error(s, pos, "unexpected character") end
    local n = tonumber(num)
    if not n then decode_error(s, pos, "bad number") end
    return n, pos + #num
  end
end

-- Returns value or nil, message.
function M.decode(s)
  if type(s) ~= "string" then return nil, "no body" end
  local ok, v, pos = pcall(decode_value, s, 1, 0)
  if not ok then
    return nil, type(v) == "table" and v.json_error or tostring(v)
  end
  pos = skip_ws(s, pos)
  if pos <= #s then return nil, string.format("trailing data at byte %d", pos) end
  return v
end

-- Fast paths for internal storage in shared dicts (no ordering needed).
M.fast_encode = cjson.encode
M.fast_decode = cjson.decode

return M
