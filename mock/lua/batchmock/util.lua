-- Deterministic randomness and ids: everything the mock invents (ids, history,
-- file contents) derives from the seed, so two runs with the same seed agree.
local bit = require("bit")
local bxor, lshift, rshift = bit.bxor, bit.lshift, bit.rshift

local M = {}

local ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz" -- Batch ids use lowercase base32-ish

function M.hash(...)
  local parts = { ... }
  for i = 1, select("#", ...) do parts[i] = tostring(parts[i]) end
  return ngx.md5(table.concat(parts, "\0"))
end

-- `prefix_` + 32 chars, e.g. export_063bc4w4x8e363yem6wfnxc5c13c0n46
function M.id(prefix, ...)
  local raw = ngx.sha1_bin(table.concat({ ... }, "\0") .. "a") .. ngx.sha1_bin(table.concat({ ... }, "\0") .. "b")
  local out = {}
  for i = 1, 32 do
    local b = raw:byte(i) % 32
    out[i] = ALPHABET:sub(b + 1, b + 1)
  end
  return prefix .. table.concat(out)
end

function M.uuid(...)
  local h = M.hash("uuid", ...)
  -- version 4 / variant bits so it looks like what Batch returns
  return string.format("%s-%s-4%s-%s%s-%s", h:sub(1, 8), h:sub(9, 12), h:sub(14, 16),
    ("89ab"):sub(tonumber(h:sub(17, 17), 16) % 4 + 1, tonumber(h:sub(17, 17), 16) % 4 + 1),
    h:sub(18, 20), h:sub(21, 32))
end

-- xorshift32: fast, good enough for fake data, identical across LuaJIT builds.
local Rng = {}
Rng.__index = Rng

function M.rng(...)
  local h = M.hash(...)
  local s = tonumber(h:sub(1, 8), 16)
  if s == 0 then s = 0x9e3779b9 end
  local r = setmetatable({ s = bit.tobit(s) }, Rng)
  -- the first outputs of xorshift after a seed are poorly mixed
  for _ = 1, 8 do r:next() end
  return r
end

function Rng:next()
  local x = self.s
  x = bxor(x, lshift(x, 13))
  x = bxor(x, rshift(x, 17))
  x = bxor(x, lshift(x, 5))
  self.s = x
  return x % 4294967296 -- unsigned
end

-- integer in [lo, hi]
function Rng:int(lo, hi)
  return lo + self:next() % (hi - lo + 1)
end

function Rng:float()
  return self:next() / 4294967296
end

function Rng:chance(p)
  return self:float() < p
end

function Rng:pick(t)
  return t[self:next() % #t + 1]
end

function Rng:hex(n)
  local out = {}
  for i = 1, n do
    local d = self:next() % 16
    out[i] = ("0123456789abcdef"):sub(d + 1, d + 1)
  end
  return table.concat(out)
end

function Rng:alnum(n)
  local out = {}
  for i = 1, n do
    local d = self:next() % 32
    out[i] = ALPHABET:sub(d + 1, d + 1)
  end
  return table.concat(out)
end

function M.trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

function M.startswith(s, p) return s:sub(1, #p) == p end

return M
