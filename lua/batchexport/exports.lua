--- batchexport.exports: the v2 Exports API, as client.exports.
--   create(request) -> id          view(id) -> export
--   list(opts) -> iterator over exports, across pages, fetched lazily
--   pages(opts) -> iterator over whole pages, for checkpointing next_from
local core = require("batchexport.core")
local errors = require("batchexport.errors")
local json = require("batchexport.json")
local request = require("batchexport.request")
local validate = require("batchexport.validate")

local M = {}

local OK_CREATE = { [200] = true, [201] = true, [202] = true }
local OK_GET = { [200] = true }

--- Checks an id before it goes into a URL: printable, no spaces, bounded.
function M.check_id(id, what)
  what = what or "id"
  if type(id) ~= "string" then
    return errors.new("validation", what .. ": expected a string, got " .. type(id))
  end
  if id == "" or #id > 256 or id:find("[%c%s]") then
    return errors.new("validation", what .. ": must be 1 to 256 printable characters without spaces")
  end
end

local function v2_url(client, path, query)
  local url = client.base_url .. "/" .. client.api_version .. path
  if query then url = url .. "?" .. query end
  return url
end

local function list_options(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    return nil, errors.new("validation", "expected a table of options, got " .. type(opts))
  end
  local problems = {}
  for k in pairs(opts) do
    if k ~= "limit" and k ~= "from" then problems[#problems + 1] = 'unknown option "' .. tostring(k) .. '"' end
  end
  local limit = opts.limit or 100
  if type(limit) ~= "number" or limit ~= math.floor(limit) or limit < 1 or limit > 100 then
    problems[#problems + 1] = "limit: must be a whole number from 1 to 100"
  end
  if opts.from ~= nil then
    local err = M.check_id(opts.from, "from")
    if err then problems[#problems + 1] = err.message end
  end
  if #problems > 0 then
    table.sort(problems)
    return nil, errors.new("validation", table.concat(problems, "; "), { problems = problems })
  end
  return core.pager(math.floor(limit), opts.from)
end

function M.bind(client)
  local api = {}

  -- Both client.exports.view(id) and client.exports:view(id) work.
  local function args(first, ...)
    if first == api then return ... end
    return first, ...
  end

  local function needs_keys()
    return client:need("rest_key", "project_key")
  end

  local function get(path, query)
    return request.json(client, { method = "GET", url = v2_url(client, path, query), auth = "v2",
      headers = { "Accept: application/json" } }, OK_GET)
  end

  --- exports.create(request) -> id, or nil, err
  function api.create(...)
    local body = args(...)
    local ok, problems = validate.export_request(body)
    if not ok then
      return nil, errors.new("validation", "invalid export request: " .. table.concat(problems, "; "),
        { problems = problems })
    end
    local err = needs_keys()
    if err then return nil, err end
    local text, why = json.encode(body)
    if not text then return nil, errors.new("validation", "cannot encode the request as JSON: " .. why) end
    local doc, res = request.json(client, { method = "POST", url = v2_url(client, "/profiles/export"),
      auth = "v2", body = text, content_type = "application/json",
      headers = { "Accept: application/json" } }, OK_CREATE)
    if not doc then return nil, res end
    if type(doc.id) ~= "string" or doc.id == "" then
      return nil, errors.new("decode", "the create response has no export id", { status = res.status })
    end
    return doc.id
  end

  --- exports.view(id) -> export, or nil, err
  function api.view(...)
    local id = args(...)
    local err = M.check_id(id) or needs_keys()
    if err then return nil, err end
    local doc, res = get("/exports/view", "id=" .. core.escape(id))
    if not doc then return nil, res end
    return doc
  end

  -- Fetches the page the pager asks for and feeds it; raises on failure.
  local function fetch_page(pager)
    local doc, res = get("/exports/list", pager:query())
    if not doc then errors.raise(res) end
    local page, why = pager:feed(doc)
    if not page then errors.raise(errors.new("decode", why, { status = res.status })) end
    return page
  end

  local function start(opts)
    local pager, err = list_options(opts)
    err = err or needs_keys()
    if err then errors.raise(err) end
    return pager
  end

  --- exports.list(opts) -> iterator over exports; raises err on failure
  function api.list(...)
    local pager = start(args(...))
    return function()
      while true do
        local item = pager:next()
        if item then return item end
        if item == nil then return nil end
        fetch_page(pager)
      end
    end
  end

  --- exports.pages(opts) -> iterator over pages {exports, count, has_more,
  -- next_from}; a saved next_from resumes with pages{from = next_from}.
  function api.pages(...)
    local pager = start(args(...))
    return function()
      if pager:done() then return nil end
      return fetch_page(pager)
    end
  end

  return api
end

return M
