-- A resumable listing: walks every export page by page and saves the
-- cursor (`next_from`) after each page, so a job that is stopped (killed,
-- redeployed, out of time) goes on where it left off the next time instead
-- of starting over. The state file is replaced atomically (write, then
-- rename), so a crash never leaves half a cursor.
--
--   eval "$(bin/batchexport-mock start)"       # or real keys in BATCH_*
--   LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;" LUA_CPATH="$PWD/build/?.so;;" \
--     lua5.4 examples/list_resume.lua STATE_FILE [max_pages] [page_size=50]
--
-- With max_pages it stops after that many pages (as if interrupted) and
-- exits 75 ("come back later"); run it again to resume. When the listing is
-- complete it prints the totals, removes STATE_FILE and exits 0.
local batchexport = require("batchexport")

local state_file = assert(arg[1], "usage: list_resume.lua STATE_FILE [max_pages] [page_size]")
local max_pages = tonumber(arg[2])
local page_size = tonumber(arg[3]) or 50

local client = batchexport.assert(batchexport.new({
  base_url = os.getenv("MOCK_API_URL") or os.getenv("BATCH_BASE_URL"),
  rest_key = os.getenv("BATCH_REST_KEY"),
  project_key = os.getenv("BATCH_PROJECT_KEY"),
}))

-- The state: the cursor and the running totals, one `key value` a line.
local function load()
  local state = { cursor = nil, seen = 0, pages = 0, by_status = {} }
  local f = io.open(state_file, "r")
  if not f then return state end
  for line in f:lines() do
    local k, v = line:match("^(%S+) (.*)$")
    if k == "cursor" then state.cursor = v
    elseif k == "seen" or k == "pages" then state[k] = tonumber(v)
    elseif k and k:match("^status%.") then state.by_status[k:sub(8)] = tonumber(v) end
  end
  f:close()
  return state
end

local function save(state)
  local tmp = state_file .. ".tmp"
  local f = assert(io.open(tmp, "w"))
  f:write("cursor ", state.cursor, "\n", "seen ", state.seen, "\n", "pages ", state.pages, "\n")
  for status, n in pairs(state.by_status) do f:write("status.", status, " ", n, "\n") end
  f:close()
  assert(os.rename(tmp, state_file))
end

local state = load()
if state.cursor then
  print(string.format("resuming after %d page(s), %d export(s), from cursor %s", state.pages, state.seen, state.cursor))
else
  print("starting from the newest export")
end

local pages_this_run = 0
local ok, err = pcall(function()
  for page in client.exports.pages({ limit = page_size, from = state.cursor }) do
    for _, export in ipairs(page.exports) do
      state.seen = state.seen + 1
      state.by_status[export.status] = (state.by_status[export.status] or 0) + 1
    end
    state.pages = state.pages + 1
    pages_this_run = pages_this_run + 1
    print(string.format("page %d: %d export(s)", state.pages, page.count))
    if not page.next_from then
      state.cursor = nil
      return
    end
    state.cursor = page.next_from
    save(state)                                  -- the checkpoint
    if max_pages and pages_this_run >= max_pages then return end
  end
end)
if not ok then
  io.stderr:write(tostring(err), "\n")         -- the saved cursor is still good: run again
  os.exit(1)
end

if state.cursor then
  print(string.format("stopped after %d page(s) this run; cursor saved to %s", pages_this_run, state_file))
  os.exit(75)
end

os.remove(state_file)
print(string.format("done: %d export(s) in %d page(s)", state.seen, state.pages))
local statuses = {}
for status in pairs(state.by_status) do statuses[#statuses + 1] = status end
table.sort(statuses)
for _, status in ipairs(statuses) do print(string.format("  %-8s %d", status, state.by_status[status])) end
