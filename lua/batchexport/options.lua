--- batchexport.options: the one checker of every options table the library
-- takes: batchexport.new, each call's options, wait_for, sync and
-- validate's. A rule set maps each option's name to a rule:
--
--   { type, accept, says }
--   type    the Lua type the value must have; nil when accept alone decides
--           (a duration is a string or a number)
--   accept  nil, or a predicate on a value of that type
--   says    the problem, after "name: ", when accept refuses the value
--
-- An option taken in several places has one rule object, shared (DEADLINE,
-- DIR, and wait's interval and max_interval, which sync passes on), so it is
-- held to the same bounds and named with the same words everywhere.
local errors = require("batchexport.errors")
local suggest = require("batchexport.suggest")

local M = {}

--- options.whole(lo, hi) -> a predicate: a whole number from lo to hi.
-- Written as what is accepted, so NaN fails.
function M.whole(lo, hi)
  return function(v) return v >= lo and v <= hi and v == math.floor(v) end
end

--- options.positive(v) -> whether v is a finite number of seconds > 0.
function M.positive(v)
  return v > 0 and v < math.huge
end

--- The rule of the `deadline` option, wherever it is taken.
M.DEADLINE = { "number", M.positive, "expected a number of seconds greater than 0" }

--- The rule of the `dir` option (download, sync): the folder files land in.
M.DIR = { "string", function(v) return v ~= "" end, "expected a folder name" }

local function names_of(rules)
  local names = {}
  for name in pairs(rules) do names[#names + 1] = name end
  table.sort(names)
  return names
end

-- The problem with one value, or nil. The value itself is never shown: a
-- mistyped option may well hold a key.
local function problem(name, value, rule)
  if type(value) == "string" and value:find("\0", 1, true) then
    -- C would read the NUL as the end of the string.
    return name .. ": must not contain a NUL byte"
  end
  if rule[1] and type(value) ~= rule[1] then
    return name .. ": expected a " .. rule[1] .. ", got " .. type(value)
  end
  if rule[2] and not rule[2](value) then return name .. ": " .. rule[3] end
end

--- options.problems(opts, rules) -> the sorted list of what is wrong with
-- opts (a table) under rules; empty when nothing is.
function M.problems(opts, rules)
  local found, names = {}, nil
  for name, value in pairs(opts) do
    local rule = rules[name]
    if rule then
      found[#found + 1] = problem(tostring(name), value, rule)
    else
      names = names or names_of(rules)
      local best = suggest.closest(tostring(name), names)
      found[#found + 1] = 'unknown option "' .. tostring(name) .. '"'
        .. (best and (' (did you mean "' .. best .. '"?)') or "")
    end
  end
  table.sort(found)
  return found
end

--- options.check(opts, rules, kind [, caller]) -> opts ({} for nil), or
-- nil and an error of that kind naming every problem (err.problems).
-- caller names the function when opts is not a table at all.
function M.check(opts, rules, kind, caller)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    return nil, errors.new(kind, (caller and (caller .. ": ") or "") .. "expected a table of options, got "
      .. type(opts))
  end
  local found = M.problems(opts, rules)
  if #found > 0 then return nil, M.error(kind, found) end
  return opts
end

--- options.error(kind, problems [, what]) -> the error naming every
-- problem (of `what`, when given: "invalid export request").
function M.error(kind, problems, what)
  return errors.new(kind, (what and (what .. ": ") or "") .. table.concat(problems, "; "), { problems = problems })
end

return M
