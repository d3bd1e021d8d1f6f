-- spec/support/client.lua: the library's client pointed at a mock, for the
-- specs that drive batchexport itself (spec/support/mock.lua never uses it).
--
--   local client = require("spec.support.client")
--   local c = client.new(m, client.QUICK, { max_attempts = 2 }, extra)
local batchexport = require("batchexport")

local M = {}

-- Retries a spec does not want to wait for: 10 ms, then at most 50 ms.
M.QUICK = { backoff_base = 0.01, backoff_max = 0.05 }

-- An option given as NONE is left out (e.g. a legacy client without a
-- project key).
M.NONE = setmetatable({}, { __tostring = function() return "client.NONE" end })

-- A client with the mock's keys and URL, then each table of options in
-- turn (later ones win; nil ones are skipped). Raises if new() refuses.
function M.new(m, ...)
  local opts = { rest_key = m.rest_key, project_key = m.project_key, api_key = m.api_key, base_url = m.api_url }
  for i = 1, select("#", ...) do
    for k, v in pairs(select(i, ...) or {}) do
      if v == M.NONE then opts[k] = nil else opts[k] = v end
    end
  end
  return assert(batchexport.new(opts))
end

return M
