--- batchexport.exports: the v2 Exports API, as client.exports.
--   create(request) -> id          view(id) -> export
--   list(opts) -> iterator over exports, across pages, fetched lazily
--   pages(opts) -> iterator over whole pages, for checkpointing next_from
--   wait_for(id, opts) -> export once SUCCESS
--   records(export_or_id) -> iterator over every record of every part
--   open(file) -> reader on one file       download(export_or_id, opts) -> paths
local core = require("batchexport.core")
local errors = require("batchexport.errors")
local files = require("batchexport.files")
local json = require("batchexport.json")
local request = require("batchexport.request")
local scheduler = require("batchexport.scheduler")
local stream = require("batchexport.stream")
local validate = require("batchexport.validate")

local M = {}

local OK_CREATE = request.OK_CREATE
local OK_GET = request.OK_GET
local OK_REDIRECT = request.OK_REDIRECT

--- The link a download answer points to, checked: absolute http(s), and no
-- downgrade from https to plain http.
function M.location(client, res)
  local loc = res.headers and res.headers.location
  if loc and loc:sub(1, 1) == "/" then loc = client.base_url:match("^https?://[^/]+") .. loc end
  if not loc or not loc:match("^https?://[^%s]+$") then
    return nil, errors.new("decode", "the download answer has no usable Location header", { status = res.status })
  end
  if loc:match("^http://") and client.base_url:match("^https://") then
    return nil, errors.new("network", "the download link downgrades to plain http: refused", { status = res.status })
  end
  return loc
end

local function whole_in(lo, hi)
  return function(v) return v == math.floor(v) and v >= lo and v <= hi end
end

local DOWNLOAD_OPTIONS = {
  dir = { "string", function(v) return v ~= "" end, "a folder name" },
  progress = { "function", nil, "a function" },
  parallel = { "number", whole_in(1, 16), "a whole number from 1 to 16" },
}

local function download_options(options)
  local opts, err = errors.options(options, DOWNLOAD_OPTIONS)
  if not opts then return nil, err end
  return { dir = opts.dir or ".", progress = opts.progress, parallel = opts.parallel or 2 }
end

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

local LIST_OPTIONS = {
  limit = { "number", whole_in(1, 100), "a whole number from 1 to 100" },
  from = { "string", function(v) return M.check_id(v) == nil end,
    "a cursor of 1 to 256 printable characters without spaces" },
}

local function list_options(options)
  local opts, err = errors.options(options, LIST_OPTIONS)
  if not opts then return nil, err end
  return core.pager(math.floor(opts.limit or 100), opts.from)
end

function M.bind(client)
  -- Both api.f(x) and api:f(x) work.
  local api, args = request.api_table()

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

  -- A function returning a fresh storage link for a file id.
  local function link_for(file_id)
    return function()
      local res, err = request.perform(client, { method = "GET", auth = "v2",
        url = v2_url(client, "/exports/download", "id=" .. core.escape(file_id)) }, OK_REDIRECT)
      if not res then return nil, err end
      return M.location(client, res)
    end
  end

  -- The export to read: a table as view returns it, or an id to view.
  local function finished_export(export_or_id)
    local export = export_or_id
    if type(export_or_id) ~= "table" then
      local err
      export, err = api.view(export_or_id)
      if not export then return nil, err end
    end
    if export.status ~= "SUCCESS" then
      return nil, errors.new("validation", "export " .. tostring(export.id) .. " is " .. tostring(export.status)
        .. ", not SUCCESS: its files are not ready (see exports.wait_for)", { export = export })
    end
    local parts = {}
    for _, f in ipairs(export.files or {}) do
      local err = M.check_id(f.id, "file id")
      if err then return nil, err end
      parts[#parts + 1] = f
    end
    table.sort(parts, function(a, b) return (a.part or 0) < (b.part or 0) end)
    return export, parts
  end

  local function open_file(file, export_id)
    local id = type(file) == "table" and file.id or file
    local err = M.check_id(id, "file id") or needs_keys()
    if err then return nil, err end
    local part = type(file) == "table" and tonumber(file.part)
    local label = (export_id and ("export " .. export_id .. " ") or "") ..
      (part and string.format("part %d", part) or ("file " .. id))
    return stream.open(client, { link = link_for(id), format = "json", label = label,
      size = type(file) == "table" and type(file.size) == "number" and file.size or nil })
  end

  --- exports.open(file) -> reader on one file (an entry of export.files, or
  -- a file id): reader:records(), :lines(), :read(n), :close().
  function api.open(...)
    return open_file(args(...))
  end

  -- An iterator over every record of every part, parts in order: tables
  -- (only the fields of a compiled projection, when given), or with values
  -- the record's number (across parts, from 1) and one value a field.
  -- Buffered records come straight from C (core.iterator); this Lua side
  -- waits, resumes, raises and moves to the next part. When a part starts,
  -- the next one is opened and started too (prefetch): its link is fetched
  -- and its first bytes arrive, into its own bounded buffer, while this
  -- part is read. The closing value (Lua 5.4's generic for) closes both
  -- readers on an early exit.
  local function every_part(export_or_id, fields, values)
    local export, parts = finished_export(export_or_id)
    if not export then errors.raise(parts) end
    local method = values and "next_values" or "next_record"
    local cursor = { false, 0 }
    local i, base, reader, ahead = 0, 0, nil, nil
    local advance

    local function settle(first, ...)
      if first ~= nil then
        if values then return base + first, ... end
        return first, ...
      end
      if ... ~= nil then errors.raise((...)) end
      base = base + reader:count()
      reader:close()
      reader = nil
      return advance()
    end

    function advance()
      i = i + 1
      if i > #parts then
        cursor[1] = false
        return nil
      end
      reader, ahead = ahead, nil
      if not reader then
        local err
        reader, err = open_file(parts[i], export.id)
        if not reader then errors.raise(err) end
      end
      reader:prefetch()
      if parts[i + 1] then
        local nxt = open_file(parts[i + 1], export.id)
        ahead = nxt and nxt:prefetch()
      end
      cursor[1], cursor[2] = reader.core, base
      return settle(reader[method](reader, fields))
    end

    local function fallback()
      if reader then return settle(reader[method](reader, fields)) end
      if i > #parts then return nil end
      return advance()
    end

    -- A part may be read from its buffer without ever waiting on the
    -- network: step the loop now and then so the next part's request goes
    -- out and its first bytes arrive.
    local function tick()
      if ahead and ahead:starting() then scheduler.loop:perform() end
      return i < #parts or reader == nil
    end

    local closer = setmetatable({}, { __close = function()
      if reader then reader:close() end
      if ahead then ahead:close() end
    end })
    return core.iterator(cursor, fields, values, fallback, tick), nil, nil, closer
  end

  local RECORDS_OPTIONS = {
    fields = { "table", nil, "a list of fields" },
  }

  --- exports.records(export_or_id [, {fields = {...}}]) -> iterator over
  -- every record of every file, parts in order, decoded (only the listed
  -- fields, with fields); raises err on failure.
  function api.records(...)
    local export_or_id, options = args(...)
    local opts, err = errors.options(options, RECORDS_OPTIONS)
    if not opts then errors.raise(err) end
    local fields
    if opts.fields then
      fields, err = stream.fields(opts.fields)
      if not fields then errors.raise(err) end
    end
    return every_part(export_or_id, fields, false)
  end

  --- exports.values(export_or_id, fields) -> iterator over every record of
  -- every file giving the record's number (counted across parts, from 1)
  -- and one value a listed field, without building tables; raises err.
  function api.values(...)
    local export_or_id, list = args(...)
    local fields, err = stream.fields(list)
    if not fields then errors.raise(err) end
    return every_part(export_or_id, fields, true)
  end

  --- exports.download(export_or_id, {dir, progress, parallel}) -> the paths
  -- written, one a part, or nil, err. progress(done, total, part) gets
  -- overall bytes and the part's {part, done, total}.
  function api.download(...)
    local export_or_id, options = args(...)
    local opts, err = download_options(options)
    if not opts then return nil, err end
    local export, parts = finished_export(export_or_id)
    if not export then return nil, parts end
    local ok, why = core.mkdir(opts.dir)
    if not ok then return nil, errors.new("config", why) end
    local total, done = 0, {}
    for _, f in ipairs(parts) do total = total + (f.size or 0) end
    local function report(f, n)
      done[f.part] = n
      if opts.progress then
        local sum = 0
        for _, v in pairs(done) do sum = sum + v end
        opts.progress(sum, total, { part = f.part, done = n, total = f.size })
      end
    end
    local jobs = {}
    for i, f in ipairs(parts) do
      local base = opts.dir .. "/" .. files.safe_name(export.id) .. "-" .. math.floor(tonumber(f.part) or i)
      jobs[i] = function()
        return files.save(client, { link = link_for(f.id), path = base .. ".json", size = f.size,
          label = string.format("export %s part %d", export.id, tonumber(f.part) or i),
          progress = function(n) report(f, n) end,
          rename = function(tmp) return files.is_gzip(tmp) and base .. ".json.gz" or base .. ".json" end })
      end
    end
    local paths, first_err = {}, nil
    for i, res in ipairs(scheduler.gather(jobs, opts.parallel)) do
      if res[1] and res[2] then
        paths[i] = res[2]
      elseif not first_err then
        first_err = res[1] and res[3] or errors.new("network", tostring(res[2]))
      end
    end
    if first_err then return nil, first_err end
    return paths
  end

  --- exports.wait_for(id, opts) -> the export once SUCCESS, or nil, err
  -- (export_failed once ERROR, timeout past opts.timeout).
  function api.wait_for(...)
    local id, opts = args(...)
    return require("batchexport.wait").export(client, api, id, opts)
  end

  return api
end

return M
