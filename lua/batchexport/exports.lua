--- batchexport.exports: the v2 Exports API, as client.exports.
--   create(request) -> id          view(id) -> export
--   list(opts) -> iterator over exports, across pages, fetched lazily
--   pages(opts) -> iterator over whole pages, for checkpointing next_from
--   wait_for(id, opts) -> export once SUCCESS
--   records(export_or_id) -> iterator over every record of every part
--   open(file) -> reader on one file       download(export_or_id, opts) -> paths
--   sync(opts) -> summary of what landed (batchexport.sync)
local core = require("batchexport.core")
local documents = require("batchexport.documents")
local errors = require("batchexport.errors")
local files = require("batchexport.files")
local options = require("batchexport.options")
local request = require("batchexport.request")
local scheduler = require("batchexport.scheduler")
local stream = require("batchexport.stream")
local sync = require("batchexport.sync")
local validate = require("batchexport.validate")

local M = {}

local OK_REDIRECT = request.OK_REDIRECT

--- The link a download answer (v2 307, legacy 302) points to, parsed by
-- libcurl and resolved against the request's URL: absolute http(s), no
-- user-info, no downgrade from an https base_url to plain http. Returns the
-- URL as parsed (that is what is fetched, without any credential), or nil,
-- err. A Location is never a template: its text is sent as it is.
function M.location(client, res)
  local loc = res.headers and res.headers.location
  local u, why
  if loc then u, why = core.parse_url(loc, res.url ~= "" and res.url or client.base_url) end
  if not u then
    return nil, errors.new("decode", "the download answer has no usable Location header"
      .. (why and (": " .. why) or ""), { status = res.status })
  end
  if u.user then
    return nil, errors.new("decode", "the download answer's Location carries user-info: refused", { status = res.status })
  end
  if u.scheme == "http" and assert(core.parse_url(client.base_url)).scheme == "https" then
    return nil, errors.new("network", "the download link downgrades to plain http: refused", { status = res.status })
  end
  return u.url
end

local DOWNLOAD_OPTIONS = {
  dir = options.DIR,
  progress = { "function" },
  parallel = { "number", options.whole(1, 16), "expected a whole number from 1 to 16" },
  deadline = options.DEADLINE,
}

local function download_options(given)
  local opts, err = options.check(given, DOWNLOAD_OPTIONS, "validation")
  if not opts then return nil, err end
  return { dir = opts.dir or ".", progress = opts.progress, parallel = opts.parallel or 2, deadline = opts.deadline }
end

local RECORDS_OPTIONS = {
  fields = { "table" },
  deadline = options.DEADLINE,
}
local VALUES_OPTIONS = {
  deadline = options.DEADLINE,
}

--- Checks an id before it goes into a URL: printable, no spaces, bounded.
function M.check_id(id, what)
  what = what or "id"
  if type(id) ~= "string" then
    return errors.new("validation", what .. ": expected a string, got " .. type(id))
  end
  if not documents.token(id) then
    return errors.new("validation", what .. ": must be 1 to 256 printable characters without spaces")
  end
end

--- exports.parts(export) -> its files in part order (a new list).
function M.parts(export)
  local parts = {}
  for i, f in ipairs(export.files or {}) do parts[i] = f end
  table.sort(parts, function(a, b) return a.part < b.part end)
  return parts
end

--- exports.part_path(dir, export_id, part) -> where download saves that
-- part, and where instead when its bytes are gzip.
function M.part_path(dir, export_id, part)
  local path = ("%s/%s-%d.json"):format(dir, files.safe_name(export_id), part)
  return path, path .. ".gz"
end

local function v2_url(client, path, query)
  local url = client.base_url .. "/" .. client.api_version .. path
  if query then url = url .. "?" .. query end
  return url
end

local LIST_OPTIONS = {
  limit = { "number", options.whole(1, 100), "expected a whole number from 1 to 100" },
  -- The rule the C pager applies to a server's next_from.
  from = { "string", documents.cursor,
    "expected a cursor of 1 to 1024 printable characters without spaces" },
  deadline = options.DEADLINE,
}

local function list_options(given)
  local opts, err = options.check(given, LIST_OPTIONS, "validation")
  if not opts then return nil, err end
  return core.pager(math.floor(opts.limit or 100), opts.from), opts.deadline
end

function M.bind(client)
  -- Both api.f(x) and api:f(x) work.
  local api, args, needs_keys = request.api_table(client, "rest_key", "project_key")

  -- Internal functions take `c`, the call's context (request.call): the
  -- client, with the deadline of the public call that started them.
  local function get(c, path, query, check, ...)
    return request.document(c, { method = "GET", url = v2_url(client, path, query), auth = "v2" }, check, ...)
  end

  local function create(c, body, now)
    local ok, problems = validate.export_request(body, now and { now = now } or nil)
    if not ok then return nil, options.error("validation", problems, "invalid export request") end
    local err = needs_keys()
    if err then return nil, err end
    return request.create(c, { url = v2_url(client, "/profiles/export"), auth = "v2" }, body, documents.created)
  end

  --- exports.create(request) -> id, or nil, err
  function api.create(...)
    return create(request.call(client), (args(...)))
  end

  local function view(c, id)
    local err = M.check_id(id) or needs_keys()
    if err then return nil, err end
    return get(c, "/exports/view", "id=" .. core.escape(id), documents.export, id)
  end

  --- exports.view(id) -> export, or nil, err
  function api.view(...)
    return view(request.call(client), (args(...)))
  end

  -- Fetches the page the pager asks for and feeds it; raises on failure.
  local function fetch_page(c, pager)
    local checked, err, res = get(c, "/exports/list", pager:query(), documents.page)
    if not checked then client:raise(err) end
    local page, why = pager:feed(checked)
    if not page then client:raise(errors.new("decode", why, { status = res.status })) end
    return page
  end

  -- The pager, and the call's context: its deadline runs from here to the
  -- end of the listing.
  local function start(opts)
    local pager, deadline = list_options(opts)
    local err = not pager and deadline or needs_keys()
    if err then client:raise(err) end
    return pager, request.call(client, deadline)
  end

  --- exports.list(opts) -> iterator over exports; raises err on failure
  function api.list(...)
    local pager, c = start(args(...))
    return function()
      while true do
        local item = pager:next()
        if item then return item end
        if item == nil then return nil end
        fetch_page(c, pager)
      end
    end
  end

  --- exports.pages(opts) -> iterator over pages {exports, count, has_more,
  -- next_from}; a saved next_from resumes with pages{from = next_from}.
  function api.pages(...)
    local pager, c = start(args(...))
    return function()
      if pager:done() then return nil end
      return fetch_page(c, pager)
    end
  end

  -- A function returning a fresh storage link for a file id.
  local function link_for(c, file_id)
    return function()
      local res, err = request.perform(c, { method = "GET", auth = "v2",
        url = v2_url(client, "/exports/download", "id=" .. core.escape(file_id)) }, OK_REDIRECT)
      if not res then return nil, err end
      return M.location(client, res)
    end
  end

  -- The export to read: a table as view or list returns it (checked again:
  -- it may have been changed since), or an id to view. Returns the export
  -- and its files in part order, or nil, err.
  local function finished_export(c, export_or_id)
    local err = needs_keys()
    if err then return nil, err end
    local export
    export, err = request.resolve(c, export_or_id, documents.export, view)
    if not export then return nil, err end
    if export.status ~= "SUCCESS" then
      return nil, errors.new("validation", "export " .. export.id .. " is " .. export.status
        .. ", not SUCCESS: its files are not ready (see exports.wait_for)", { export = export })
    end
    return export, M.parts(export)
  end

  -- Waits for export id within c's deadline (request.wait cuts the wait's
  -- timeout to it).
  local function wait_on(c, id, wait_opts)
    return request.wait(c, function(o)
      return require("batchexport.wait").export(c, { view = function(x) return view(c, x) end }, id, o)
    end, wait_opts)
  end

  local function open_file(c, file, export_id)
    local entry, err = { id = file }, nil
    if type(file) == "table" then entry, err = documents.file(file) end
    err = err or M.check_id(entry.id, "file id") or needs_keys()
    if err then return nil, err end
    local label = (export_id and ("export " .. export_id .. " ") or "") ..
      (type(entry.part) == "number" and ("part %d"):format(entry.part) or ("file " .. entry.id))
    return stream.open(c, { link = link_for(c, entry.id), format = "json", label = label, size = entry.size })
  end

  --- exports.open(file) -> reader on one file (an entry of export.files, or
  -- a file id): reader:records(), :lines(), :read(n), :close().
  function api.open(...)
    local file = args(...)
    return open_file(request.call(client), file)
  end

  -- An iterator over every record of every part, parts in order: tables
  -- (only the fields of a compiled projection, when given), or with values
  -- the record's number (across parts, from 1) and one value a field.
  -- Buffered records come straight from C (stream.iterator); this Lua side
  -- waits, resumes, raises and moves to the next part. When a part starts,
  -- the next one is opened and started too (prefetch): its link is fetched
  -- and its first bytes arrive, into its own bounded buffer, while this
  -- part is read. The closing value (Lua 5.4's generic for) closes both
  -- readers on an early exit.
  local function every_part(c, export_or_id, fields, values)
    local export, parts = finished_export(c, export_or_id)
    if not export then client:raise(parts) end
    local method = values and "next_values" or "next_record"
    local cursor = { false, 0 }
    local i, base, reader, ahead = 0, 0, nil, nil
    local advance

    local function settle(first, ...)
      if first ~= nil then
        if values then return base + first, ... end
        return first, ...
      end
      if ... ~= nil then client:raise((...)) end
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
        reader, err = open_file(c, parts[i], export.id)
        if not reader then client:raise(err) end
      end
      reader:prefetch()
      if parts[i + 1] then
        local nxt = open_file(c, parts[i + 1], export.id)
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
    return stream.iterator(c, cursor, fields, values, fallback, tick), nil, nil, closer
  end

  --- exports.records(export_or_id [, {fields = {...}, deadline = s}]) ->
  -- iterator over every record of every file, parts in order, decoded (only
  -- the listed fields, with fields); raises err on failure.
  function api.records(...)
    local export_or_id, given = args(...)
    local opts, err = options.check(given, RECORDS_OPTIONS, "validation")
    if not opts then client:raise(err) end
    local fields
    if opts.fields then
      fields, err = stream.fields(opts.fields)
      if not fields then client:raise(err) end
    end
    return every_part(request.call(client, opts.deadline), export_or_id, fields, false)
  end

  --- exports.values(export_or_id, fields [, {deadline = s}]) -> iterator
  -- over every record of every file giving the record's number (counted
  -- across parts, from 1) and one value a listed field, without building
  -- tables; raises err.
  function api.values(...)
    local export_or_id, list, given = args(...)
    local opts, err = options.check(given, VALUES_OPTIONS, "validation")
    if not opts then client:raise(err) end
    local fields
    fields, err = stream.fields(list)
    if not fields then client:raise(err) end
    return every_part(request.call(client, opts.deadline), export_or_id, fields, true)
  end

  --- exports.download(export_or_id, {dir, progress, parallel}) -> the paths
  -- written, one a part, or nil, err. progress(done, total, part) gets
  -- overall bytes and the part's {part, done, total}.
  function api.download(...)
    local export_or_id, given = args(...)
    local opts, err = download_options(given)
    if not opts then return nil, err end
    local c = request.call(client, opts.deadline)
    local export, parts = finished_export(c, export_or_id)
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
      local path, gzip_path = M.part_path(opts.dir, export.id, f.part)
      jobs[i] = function()
        return files.save(c, { link = link_for(c, f.id), path = path, size = f.size,
          label = ("export %s part %d"):format(export.id, f.part),
          progress = function(n) report(f, n) end, gzip_path = gzip_path })
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
    -- A client closed while the parts were on their way is why they failed.
    if first_err then return nil, client:check_open() or first_err end
    return paths
  end

  -- What sync needs of this API (batchexport.sync).
  local function sync_driver(opts, snapshot)
    local body
    if snapshot then
      body = { export_type = "ATTRIBUTES", attributes = opts.attributes, identifiers = opts.identifiers }
    else
      body = { export_type = "EVENTS", events = opts.events, identifiers = opts.identifiers,
        orchestration_ids = opts.orchestration_ids }
    end
    local function body_for(range)
      local b = {}
      for k, v in pairs(body) do b[k] = v end
      if range then b.from, b.to = sync.stamp(range.from), sync.stamp(range.to) end
      return b
    end
    local function same_list(a, b)
      if a == nil or b == nil then return a == b end
      if type(a) ~= "table" or type(b) ~= "table" or #a ~= #b then return false end
      for i = 1, #a do if a[i] ~= b[i] then return false end end
      return true
    end
    -- Whether an export listed by the server is the one a dead run created.
    local function is_ours(e, range, at)
      local r = type(e.request) == "table" and e.request or {}
      if r.export_type ~= body.export_type or not same_list(r.events, body.events)
        or not same_list(r.attributes, body.attributes) then return false end
      if range then return r.from == sync.stamp(range.from) and r.to == sync.stamp(range.to) end
      local t = type(e.request_date) == "string" and validate.parse_rfc3339(e.request_date)
      return t and t >= at - 1 or false
    end
    return {
      -- The request is checked before the run touches the folder or the network.
      check = function(now)
        local ok, problems = validate.export_request(body_for(not snapshot and { from = now - 60, to = now } or nil),
          { now = now })
        if ok then return nil end
        return options.error("validation", problems, "invalid export request")
      end,
      kind = snapshot and "attributes" or "events",
      snapshot = snapshot,
      request = body,
      create = function(c, range) return create(c, body_for(range), opts.now) end,
      -- The export a run died before saving the id of: among the newest
      -- (the list is newest first), stopping at those older than the run.
      find = function(c, range, at)
        local pager = core.pager(100)
        for _ = 1, 5 do
          if pager:done() then break end
          local ok, page = pcall(fetch_page, c, pager)
          if not ok then return nil, page end
          local older = false
          for _, e in ipairs(page.exports or {}) do
            if is_ours(e, range, at) then return e.id end
            local t = type(e.request_date) == "string" and validate.parse_rfc3339(e.request_date)
            if t and t < at - 60 then older = true end
          end
          if older then break end
        end
        return nil
      end,
      wait = wait_on,
      parts = M.parts,
      open_raw = function(c, file, label)
        local err = M.check_id(file.id, "file id")
        if err then return nil, err end
        return stream.open(c, { link = link_for(c, file.id), format = "raw", compression = "none",
          label = label, size = file.size })
      end,
    }
  end

  --- exports.sync(opts) -> a summary of what landed, or nil, err. Events
  -- (opts.events) land range by range; attributes (opts.attributes) land
  -- as dated snapshots, the last opts.keep kept. See batchexport.sync.
  function api.sync(...)
    local opts, err, snapshot = sync.options((args(...)))
    if not opts then return nil, err end
    err = needs_keys()
    if err then return nil, err end
    return sync.run(client, request.call(client, opts.deadline), sync_driver(opts, snapshot), opts)
  end

  --- exports.wait_for(id, opts) -> the export once SUCCESS, or nil, err
  -- (export_failed once ERROR, timeout past opts.timeout).
  function api.wait_for(...)
    local id, opts = args(...)
    local deadline, rest, err = request.take_deadline(opts)
    if err then return nil, err end
    return wait_on(request.call(client, deadline), id, rest)
  end

  return api
end

return M
