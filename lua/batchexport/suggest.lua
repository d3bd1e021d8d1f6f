--- batchexport.suggest: "did you mean" for a mistyped name. One edit
-- distance for the whole library: the options of `new`, the fields of a
-- request body, the keys of the command's config file.
local M = {}

-- Names longer than this are not compared: nobody mistypes a 65-letter key.
local MAX_NAME = 64

--- suggest.distance(a, b [, limit]) -> the edits (insert, delete, replace,
-- swap of two neighbours) that turn a into b, counted up to limit + 1
-- (limit: 2).
function M.distance(a, b, limit)
  limit = limit or 2
  if math.abs(#a - #b) > limit then return limit + 1 end
  local before, prev = {}, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur, ca = { [0] = i }, a:sub(i, i)
    for j = 1, #b do
      local cb = b:sub(j, j)
      local d = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca == cb and 0 or 1))
      if i > 1 and j > 1 and ca == b:sub(j - 1, j - 1) and a:sub(i - 1, i - 1) == cb then
        d = math.min(d, before[j - 2] + 1)
      end
      cur[j] = d
    end
    before, prev = prev, cur
  end
  return math.min(prev[#b], limit + 1)
end

--- suggest.closest(name, candidates) -> the candidate nearest to name, or
-- nil: within two edits, ignoring case (a difference of case alone counts
-- as one), and closer than the candidate's own length (so "xy" suggests
-- nothing for "to"). candidates is a list; the first wins a tie.
function M.closest(name, candidates)
  if type(name) ~= "string" or #name > MAX_NAME then return nil end
  local lower, best, best_d = name:lower(), nil, nil
  for _, c in ipairs(candidates) do
    local d = M.distance(lower, c:lower())
    if d == 0 and name ~= c then d = 1 end
    if d <= 2 and d < #c and (best_d == nil or d < best_d) then best, best_d = c, d end
  end
  return best
end

return M
