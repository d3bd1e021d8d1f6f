-- bin/batchexport run as a process against the mock: every sub-command's
-- output and exit status, bad usage, API errors, credentials and the config
-- file, and Ctrl-C during a download. (The terminal rendering is checked in
-- spec/cli_tty_spec.lua.)
local mock = require("spec.support.mock")
local cli = require("spec.support.cli")
local h = require("spec.support.helpers")
local cjson = require("cjson")

local sh_quote = mock.sh_quote
local unpack = table.unpack or unpack
local BIN = cli.BIN

local slurp, write, lines, sha256 = h.read, h.write, h.lines, h.sha256

describe("bin/batchexport", function()
  local m, home, tmp

  -- Runs the command in a clean environment (only PATH, HOME and what `env`
  -- gives; by default the mock's keys and URL). Returns code, stdout, stderr.
  local function run(args, env, stdin) return cli.run(m, tmp, { HOME = home }, args, env, stdin) end

  local function success_export(t)
    t = t or {}
    t.status = "SUCCESS"
    return m:create_export(t)
  end

  setup(function()
    m, tmp = mock.start({ workers = 1, speed = 50 }), h.tmpdir()
    home = h.emptydir(tmp .. "/home")
  end)
  teardown(function() if m then m:stop() end h.rmrf(tmp) end)
  before_each(function() m:reset() end)

  describe("help and usage", function()
    it("--help describes every command, the options and the exit codes", function()
      local code, out, err = run({ "--help" })
      assert.equal(0, code)
      assert.equal("", err)
      for _, word in ipairs({ "list", "view", "create", "wait", "download", "cat", "export", "legacy",
        "configure", "completion", "--base-url", "--json", "--quiet", "--verbose", "--profile", "--allow-http",
        "BATCH_REST_KEY", "BATCH_PROJECT_KEY", "BATCH_API_KEY", "BATCH_PROFILE", "chmod 600", "130" }) do
        assert.truthy(out:find(word, 1, true), word)
      end
      for _, c in ipairs({ "0", "1", "2", "3", "4", "5" }) do assert.matches("\n%s+" .. c .. "%s+%a", out) end
    end)

    it("each sub-command has its own --help, and `help COMMAND` gives the same", function()
      for _, cmd in ipairs({ { "list" }, { "view" }, { "create" }, { "wait" }, { "download" }, { "cat" },
        { "export" }, { "legacy" }, { "legacy", "create" }, { "legacy", "status" }, { "legacy", "wait" },
        { "legacy", "download" }, { "legacy", "rows" } }) do
        local args = { unpack(cmd) }
        args[#args + 1] = "--help"
        local code, out = run(args)
        assert.equal(0, code, table.concat(cmd, " "))
        assert.truthy(out:find("Usage: batchexport " .. table.concat(cmd, " "), 1, true), table.concat(cmd, " "))
        local code2, out2 = run({ "help", unpack(cmd) })
        assert.equal(0, code2)
        assert.equal(out, out2)
      end
    end)

    it("--version prints the library's version", function()
      local code, out = run({ "--version" })
      assert.equal(0, code)
      assert.matches("^batchexport %d+%.%d+%.%d+\n$", out)
    end)

    it("wrong usage: a clear message on stderr, nothing on stdout, exit 2", function()
      local cases = {
        { {}, "which command" },
        { { "lst" }, "unknown command 'lst'" },
        { { "list", "--bogus" }, "unknown option '--bogus'" },
        { { "list", "--limit", "x" }, "'--limit' expects a whole number" },
        { { "list", "--limit" }, "'--limit' requires an argument" },
        { { "list", "extra" }, "too many arguments" },
        { { "view" }, "missing argument 'ID'" },
        { { "view", "a", "b" }, "too many arguments" },
        { { "create" }, "'attributes' or 'events'" },
        { { "create", "profiles" }, "must be one of 'attributes', 'events'" },
        { { "create", "attributes" }, "needs --attributes and/or --identifiers" },
        { { "create", "attributes", "-a", "x", "--events", "push_sent" }, "--events does not apply" },
        { { "create", "events" }, "needs --events" },
        { { "export", "attributes", "-a", "x" }, "-o DIR" },
        { { "export", "attributes", "-a", "x", "-o", "d", "--cat" }, "can not be used together" },
        { { "download", "export_x", "-q", "-z" }, "unknown option '-z'" },
        { { "legacy" }, "which legacy command" },
        { { "legacy", "fetch", "x" }, "unknown command 'fetch'" },
        { { "legacy", "create" }, "missing argument 'KIND'" },
        { { "legacy", "create", "campaign" }, "unknown legacy export kind 'campaign'" },
        { { "wait", "export_x", "--timeout=-1" }, "'--timeout' expects a number of seconds" },
        { { "wait", "export_x", "--timeout", "0" }, "'--timeout' expects a number of seconds" },
        { { "help", "nope" }, "no help for 'nope'" },
      }
      for _, c in ipairs(cases) do
        local code, out, err = run(c[1])
        local what = table.concat(c[1], " ")
        assert.equal(2, code, what)
        assert.equal("", out, what)
        assert.truthy(err:find(c[2], 1, true), what .. ": " .. err)
        assert.matches("^batchexport", err, what)
        assert.truthy(err:find("--help", 1, true), what)
      end
      assert.equal(0, #m:log().requests)      -- none of these reached the API
    end)

    it("a request the library refuses before sending is a usage error (exit 2) that names every problem", function()
      local code, out, err = run({ "create", "events", "--events", "push_sent,nope", "-i", "email" })
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("events%[2%]", err)
      assert.matches("identifiers", err)
      assert.equal(1, #lines(err))
      assert.equal(0, #m:log().requests)
    end)

    it("options may come before the command, and --opt=value works", function()
      local code, out = run({ "--json", "list", "--limit=2" })
      assert.equal(0, code)
      assert.equal(2, cjson.decode(out).count)
    end)
  end)

  describe("credentials", function()
    it("a missing key is exit 2 with a message naming it", function()
      local code, out, err = run({ "list" }, { BATCH_REST_KEY = false })
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("rest_key", err)
      assert.equal(0, #m:log().requests)
    end)

    it("no key is ever printed, not even with --verbose or on errors", function()
      local e = success_export()
      local outputs = {}
      local function collect(args, env)
        local _, out, err = run(args, env)
        outputs[#outputs + 1] = out .. err
      end
      collect({ "-v", "list", "--limit", "3" })
      collect({ "-v", "view", e.id })
      collect({ "-v", "cat", e.id })
      collect({ "-v", "--json", "legacy", "status", "nope" })
      collect({ "-v", "legacy", "create", "userbase", "--ids", "custom_id" })
      collect({ "-v", "list" }, { BATCH_REST_KEY = "wrong_key_0123456789" })
      collect({ "-v", "list" }, { BATCH_REST_KEY = "has space" })
      local all = table.concat(outputs, "\n")
      assert.matches("GET http", all)                        -- --verbose did log requests
      assert.matches("/1.0/%*%*%*/export/", all)             -- the legacy key is masked
      for _, secret in ipairs({ m.rest_key, m.api_key, m.project_key, "wrong_key_0123456789", "has space" }) do
        assert.falsy(all:find(secret, 1, true), secret)
      end
    end)

    describe("the config file", function()
      local conf
      before_each(function() conf = tmp .. "/config" end)

      local function config_text(rest)
        return table.concat({
          "# batchexport config",
          "rest_key = " .. (rest or m.rest_key),
          "project_key = " .. m.project_key,
          'api_key = "' .. m.api_key .. '"',
          "base_url = " .. m.api_url,
          "",
        }, "\n")
      end

      it("gives keys and base_url when only its owner can read it", function()
        write(conf, config_text(), "600")
        local code, out, err = run({ "list", "--limit", "1" }, { BATCH_REST_KEY = false, BATCH_PROJECT_KEY = false,
          BATCH_API_KEY = false, BATCH_BASE_URL = false, BATCHEXPORT_CONFIG = conf })
        assert.equal(0, code, err)
        assert.matches("export_", out)
      end)

      it("is found at ~/.config/batchexport/config by default", function()
        assert(os.execute("mkdir -p " .. sh_quote(home .. "/.config/batchexport")))
        write(home .. "/.config/batchexport/config", config_text(), "600")
        local code, _, err = run({ "view", success_export().id }, false)
        os.remove(home .. "/.config/batchexport/config")
        assert.equal(0, code, err)
      end)

      it("is refused (exit 2, chmod advice, no value shown) when group or others can read it", function()
        for _, mode in ipairs({ "644", "640", "604", "660" }) do
          write(conf, config_text(), mode)
          local code, out, err = run({ "list" }, { BATCHEXPORT_CONFIG = conf })
          assert.equal(2, code, mode)
          assert.equal("", out)
          assert.matches("chmod 600", err)
          assert.falsy(err:find(m.rest_key, 1, true))
        end
        assert.equal(0, #m:log().requests)
      end)

      it("is refused when a line is not key = value or names an unknown key, without echoing values", function()
        write(conf, "rest_key = " .. m.rest_key .. "\nrest_kee = secret_value_42\n", "600")
        local code, _, err = run({ "list" }, { BATCHEXPORT_CONFIG = conf })
        assert.equal(2, code)
        assert.matches(":2: unknown key \"rest_kee\"", err)
        assert.falsy(err:find("secret_value_42", 1, true))
        write(conf, "just a line\n", "600")
        code, _, err = run({ "list" }, { BATCHEXPORT_CONFIG = conf })
        assert.equal(2, code)
        assert.matches(":1: expected key = value", err)
      end)

      it("an explicit --config that does not exist is exit 2", function()
        local code, _, err = run({ "--config", tmp .. "/nope", "list" })
        assert.equal(2, code)
        assert.matches("cannot read the config file", err)
      end)

      it("the environment overrides the file, and flags override both", function()
        write(conf, config_text("wrong_rest_key_in_file"), "600")
        local code = run({ "list", "--limit", "1" }, { BATCHEXPORT_CONFIG = conf, BATCH_BASE_URL = false })
        assert.equal(0, code)                                  -- BATCH_REST_KEY from env won
        code = run({ "list", "--limit", "1" }, { BATCHEXPORT_CONFIG = conf, BATCH_REST_KEY = false,
          BATCH_BASE_URL = false })
        assert.equal(1, code)                                  -- the file's wrong key: 401
        code = run({ "--base-url", m.api_url, "list", "--limit", "1" },
          { BATCH_BASE_URL = "http://127.0.0.1:9" })           -- the flag beats a dead env URL
        assert.equal(0, code)
      end)
    end)
  end)

  describe("list", function()
    it("lists every export across pages, newest first, one a line", function()
      local code, out, err = run({ "list" })
      assert.equal(0, code, err)
      local rows = lines(out)
      assert.matches("^ID%s+STATUS%s+SCOPE%s+REQUESTED%s+FILES$", rows[1])
      assert.equal(261, #rows)                              -- 260 seeded + header
      assert.matches("^export_%w+%s+%u+%s+PROFILE_%u+%s+%d%d%d%d%-", rows[2])
      assert.matches("260 export%(s%)", err)
      local pages = 0
      for _, r in ipairs(m:log().requests) do if r.path:match("/exports/list$") then pages = pages + 1 end end
      assert.equal(3, pages)                                 -- pages of 100
    end)

    it("--limit stops early and prints the cursor; --cursor resumes exactly there", function()
      local _, all = run({ "--json", "list" })
      all = cjson.decode(all).exports
      local code, out, err = run({ "list", "--limit", "5" })
      assert.equal(0, code)
      assert.equal(6, #lines(out))
      local cursor = err:match("next: batchexport list %-%-cursor '([^']+)'")
      assert.truthy(cursor, err)
      local code2, out2 = run({ "--json", "list", "--cursor", cursor, "--limit", "105" })
      assert.equal(0, code2)
      local doc = cjson.decode(out2)
      assert.equal(105, doc.count)
      assert.equal(all[6].id, doc.exports[1].id)
      assert.equal(all[110].id, doc.exports[105].id)
      assert.is_string(doc.next_from)
    end)

    it("--json: one document with every export and no next_from at the end", function()
      local code, out = run({ "list", "--json" })
      assert.equal(0, code)
      local doc = cjson.decode(out)
      assert.equal(260, doc.count)
      assert.equal(260, #doc.exports)
      assert.is_nil(doc.next_from)
    end)

    it("an API error is exit 1 with the error's one line, after the retries", function()
      m:fault({ path = "/2.11/exports/list", status = 500, times = 10 })
      local code, out, err = run({ "list" })
      assert.equal(1, code)
      assert.equal("", out)
      assert.equal(1, #lines(err))
      assert.matches("^batchexport: api 500 SERVER_ERROR: .* attempts%)$", err:gsub("\n$", ""))
    end)

    it("a server that cannot be reached is exit 1", function()
      local code, _, err = run({ "list" }, { BATCH_BASE_URL = "http://127.0.0.1:9" })
      assert.equal(1, code)
      assert.matches("^batchexport: network", err)
    end)
  end)

  describe("view", function()
    it("shows an export as text and as JSON", function()
      local e = success_export({ parts = 2 })
      local code, out = run({ "view", e.id })
      assert.equal(0, code)
      assert.matches("id%s+" .. e.id, out)
      assert.matches("status%s+SUCCESS", out)
      assert.matches("files%s+2 %(", out)
      assert.matches("part 1", out)
      local _, js = run({ "view", e.id, "--json" })
      local doc = cjson.decode(js)
      assert.equal(e.id, doc.id)
      assert.equal(2, #doc.files)
    end)

    it("an export with no files shows files as an empty JSON array", function()
      local e = m:create_export({ status = "RUNNING" })
      local _, js = run({ "view", e.id, "--json" })
      assert.matches('"files":%[%]', js)
    end)

    it("an unknown id is exit 1 with Batch's error on one line", function()
      local code, out, err = run({ "view", "export_nope" })
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("^batchexport: api 404 NOT_FOUND: ", err)
      assert.equal(1, #lines(err))
    end)
  end)

  describe("create", function()
    it("attributes: prints the id; the request maps the options", function()
      local code, out, err = run({ "create", "attributes", "-a", "$email_address,$language", "--attributes", "plan",
        "-i", "custom_id", "--segment", "SEG1" })
      assert.equal(0, code, err)
      local id = out:match("^(export_%w+)\n$")
      assert.truthy(id, out)
      local _, js = run({ "view", id, "--json" })
      local req = cjson.decode(js).request
      assert.same({ "$email_address", "$language", "plan" }, req.attributes)
      assert.same({ "custom_id" }, req.identifiers)
      assert.same({ segment = "SEG1" }, req.filter)
    end)

    it("events: --from as an age, --to now by default; --json gives {id}", function()
      local code, out, err = run({ "create", "events", "-e", "email_open,push_sent", "--from", "2d", "--json" })
      assert.equal(0, code, err)
      local id = cjson.decode(out).id
      local _, js = run({ "view", id, "--json" })
      local req = cjson.decode(js).request
      assert.equal("EVENTS", req.export_type)
      assert.same({ "email_open", "push_sent" }, req.events)
      assert.equal("now", req.to)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", req.from)
    end)

    it("--body takes the whole request from a file or stdin", function()
      write(tmp .. "/body.json", '{"export_type":"ATTRIBUTES","identifiers":["installation_ids"]}')
      local code, out = run({ "create", "--body", tmp .. "/body.json" })
      assert.equal(0, code)
      assert.matches("^export_", out)
      code, out = run({ "create", "--body", "-" }, nil, '{"export_type":"ATTRIBUTES","attributes":["$region"]}')
      assert.equal(0, code)
      assert.matches("^export_", out)
      code = run({ "create", "--body", "-" }, nil, "not json")
      assert.equal(2, code)
    end)

    it("an error the server reports is exit 1", function()
      m:fault({ method = "POST", path = "/2.11/profiles/export", status = 400,
        body = '{"error_message":"nope","error_code":"MALFORMED_PARAMETER"}' })
      local code, _, err = run({ "create", "attributes", "-i", "custom_id" })
      assert.equal(1, code)
      assert.matches("api 400 MALFORMED_PARAMETER: nope", err)
    end)
  end)

  describe("wait", function()
    it("waits until SUCCESS, noting status changes without control characters", function()
      local _, id = run({ "create", "attributes", "-i", "custom_id" })
      id = id:gsub("%s+$", "")
      local code, out, err = run({ "wait", id, "--interval", "0.1" })
      assert.equal(0, code, err)
      assert.equal("SUCCESS\n", out)
      assert.matches(id .. ": SUCCESS after %d+:%d%d", err)
      assert.falsy(err:find("[\r\27]"))
    end)

    it("--quiet prints only the result", function()
      local e = success_export()
      local code, out, err = run({ "wait", e.id, "-q" })
      assert.equal(0, code)
      assert.equal("SUCCESS\n", out)
      assert.equal("", err)
    end)

    it("an export that fails is exit 3; --json still prints it", function()
      m:plan({ outcome = "ERROR", duration = 2 })
      local _, id = run({ "create", "attributes", "-i", "custom_id" })
      id = id:gsub("%s+$", "")
      local code, out, err = run({ "wait", id, "--interval", "0.1", "--json" })
      assert.equal(3, code)
      assert.matches("export_failed", err)
      assert.equal("ERROR", cjson.decode(out).status)
    end)

    it("past --timeout is exit 5", function()
      m:plan({ duration = 100000 })
      local _, id = run({ "create", "attributes", "-i", "custom_id" })
      id = id:gsub("%s+$", "")
      local code, out, err = run({ "wait", id, "--interval", "0.1", "--timeout", "0.5" })
      assert.equal(5, code)
      assert.equal("", out)
      assert.matches("batchexport: timeout: export " .. id, err)
    end)
  end)

  describe("download", function()
    it("saves every part, verified against the mock's sha256, and prints the paths", function()
      local e = success_export({ parts = 3, part_size = 200000, gzip = true })
      local dir = tmp .. "/dl-" .. e.id
      local code, out, err = run({ "download", e.id, "-o", dir })
      assert.equal(0, code, err)
      local paths = lines(out)
      assert.equal(3, #paths)
      table.sort(e.files, function(a, b) return a.part < b.part end)
      for i, f in ipairs(e.files) do
        assert.equal(dir .. "/" .. e.id .. "-" .. i .. ".json.gz", paths[i])
        assert.equal((m:file_sha256(f.id)), sha256(paths[i]))
      end
      assert.matches("downloaded 3 file%(s%)", err)
      assert.falsy(err:find("[\r\27]"))
      local p = io.popen("ls -A " .. sh_quote(dir))
      assert.equal(3, #lines(p:read("a")))                   -- no temporary file left
      p:close()
    end)

    it("--json lists path, part and size", function()
      local e = success_export({ parts = 2 })
      local code, out = run({ "download", e.id, "-o", tmp .. "/dlj", "--json" })
      assert.equal(0, code)
      local doc = cjson.decode(out)
      assert.equal(e.id, doc.id)
      assert.equal(2, #doc.files)
      assert.equal(1, doc.files[1].part)
      assert.matches("%-1%.json$", doc.files[1].path)
      assert.is_number(doc.files[1].size)
    end)

    it("removes leftover temporary files of this export (only) before starting", function()
      local e = success_export()
      local dir = tmp .. "/dl-stale"
      os.execute("mkdir -p " .. sh_quote(dir))
      write(dir .. "/." .. e.id .. "-1.json.0badc0de.part", "partial")
      write(dir .. "/.export_other-1.json.0badc0de.part", "someone else's")
      local code, _, err = run({ "download", e.id, "-o", dir })
      assert.equal(0, code)
      assert.matches("removed 1 leftover temporary file", err)
      assert.is_nil(slurp(dir .. "/." .. e.id .. "-1.json.0badc0de.part"))
      assert.equal("someone else's", slurp(dir .. "/.export_other-1.json.0badc0de.part"))
    end)

    it("an export that is not SUCCESS: exit 2 (still running) or 3 (ERROR)", function()
      local running = m:create_export({ status = "RUNNING" })
      local code, _, err = run({ "download", running.id, "-o", tmp .. "/x" })
      assert.equal(2, code)
      assert.matches("is RUNNING, not SUCCESS.*batchexport wait", err)
      local failed = m:create_export({ status = "ERROR" })
      code, _, err = run({ "cat", failed.id })
      assert.equal(3, code)
      assert.matches("failed", err)
    end)

    it("Ctrl-C (SIGINT) during a stalled download: exit 130, no final file and no temporary file", function()
      local e = success_export({ parts = 2, part_size = 100000 })
      m:fault({ host = "storage", stall = 30, times = 4 })
      local dir = tmp .. "/dl-int"
      local vars = { "PATH=" .. sh_quote(os.getenv("PATH")), "HOME=" .. sh_quote(home),
        "BATCH_BASE_URL=" .. sh_quote(m.api_url), "BATCH_REST_KEY=" .. sh_quote(m.rest_key),
        "BATCH_PROJECT_KEY=" .. sh_quote(m.project_key) }
      local script = table.concat({
        "env -i " .. table.concat(vars, " ") .. " " .. BIN .. " download " .. e.id .. " -o " .. sh_quote(dir)
          .. " >/dev/null 2>" .. sh_quote(tmp .. "/int.err") .. " & pid=$!",
        -- wait until the transfers are under way (their temporary files exist)
        "i=0; while [ $i -lt 100 ] && ! ls -A " .. sh_quote(dir) .. " 2>/dev/null | grep -q part; do sleep 0.05; i=$((i+1)); done",
        "ls -A " .. sh_quote(dir) .. " | grep -c part",
        "kill -INT $pid; wait $pid; echo rc=$?",
      }, "\n")
      local started = mock.gettime()
      local p = assert(io.popen("sh -c " .. sh_quote(script)))
      local out = p:read("a")
      p:close()
      assert.truthy(tonumber(out:match("^(%d+)")) >= 1, out)  -- temporary files were there
      assert.equal("130", out:match("rc=(%d+)"))
      assert.truthy(mock.gettime() - started < 10)             -- not after the 30 s stall
      local ls = io.popen("ls -A " .. sh_quote(dir))
      assert.equal("", ls:read("a"))                           -- neither final nor temporary files
      ls:close()
      assert.matches("interrupted", slurp(tmp .. "/int.err"))
      m:clear_faults()
    end)
  end)

  describe("cat", function()
    it("prints every record of every part as one JSON line, in order, for array and gzip parts too", function()
      for _, plan in ipairs({ { parts = 2, format = "ndjson" }, { parts = 2, format = "array", gzip = true } }) do
        local e = success_export({ parts = plan.parts, format = plan.format, gzip = plan.gzip, part_size = 50000 })
        local want = 0
        for _, f in ipairs(e.files) do want = want + m:file(f.id).records end
        local code, out, err = run({ "cat", e.id })
        assert.equal(0, code, err)
        local rows = lines(out)
        assert.equal(want, #rows)
        for i = 1, #rows, 97 do
          assert.is_table(cjson.decode(rows[i]))
        end
        -- the first line is the first record of part 1, as the mock wrote it
        local path = m:file(e.files[1].id).path
        local f = assert(io.popen((plan.gzip and "gzip -dc " or "cat ") .. sh_quote(path)))
        local text = f:read("a")
        f:close()
        local first = plan.format == "array" and cjson.decode(text)[1] or cjson.decode(text:match("^[^\n]+"))
        assert.same(first, cjson.decode(rows[1]))
        assert.equal("", err)
      end
    end)

    it("--fields prints only those fields of each record, every record, in order", function()
      local e = success_export({ parts = 2, format = "ndjson", part_size = 50000 })
      local want = {}
      for _, f in ipairs(e.files) do
        local text = assert(io.open(m:file(f.id).path, "rb")):read("a")
        for line in text:gmatch("[^\n]+") do want[#want + 1] = cjson.decode(line) end
      end
      local code, out, err = run({ "cat", e.id, "--fields", "custom_id,attributes.nope", "--fields", "$language" })
      assert.equal(0, code, err)
      local rows = lines(out)
      assert.equal(#want, #rows)
      local with_id = 0
      for i = 1, #rows, 53 do
        local got = cjson.decode(rows[i])
        if got.custom_id ~= nil then with_id = with_id + 1 end
        local function value(v) if v ~= cjson.null then return v end end   -- JSON null is left out
        assert.same({ custom_id = value(want[i].custom_id), ["$language"] = value(want[i]["$language"]) }, got)
      end
      assert.truthy(with_id > 0, "no sampled record had a custom_id: the projection printed nothing")
    end)

    it("an empty export prints nothing and exits 0", function()
      local e = success_export({ empty = true })
      local code, out = run({ "cat", e.id })
      assert.equal(0, code)
      assert.equal("", out)
    end)
  end)

  describe("export", function()
    it("creates, waits and downloads in one go", function()
      m:plan({ parts = 2, part_size = 40000, duration = 3 })
      local dir = tmp .. "/exp"
      local code, out, err = run({ "export", "attributes", "-a", "$language", "-i", "custom_id", "-o", dir,
        "--interval", "0.1" })
      assert.equal(0, code, err)
      assert.equal(2, #lines(out))
      assert.matches("created export_%w+", err)
      assert.matches("SUCCESS after", err)
      for _, path in ipairs(lines(out)) do assert.truthy(slurp(path)) end
    end)

    it("--cat prints the records instead", function()
      m:plan({ part_size = 20000, duration = 3 })
      local code, out, err = run({ "export", "events", "-e", "push_open", "--from", "1d", "--cat", "--interval", "0.1" })
      assert.equal(0, code, err)
      local rows = lines(out)
      assert.truthy(#rows > 10)
      assert.equal("push_open", cjson.decode(rows[1]).event)
    end)

    it("a failed export is exit 3", function()
      m:plan({ outcome = "ERROR", duration = 2 })
      local code = run({ "export", "attributes", "-i", "custom_id", "--cat", "--interval", "0.1" })
      assert.equal(3, code)
    end)
  end)

  describe("legacy", function()
    local function create(args)
      local code, out, err = run(args)
      assert.equal(0, code, err)
      return (out:gsub("%s+$", ""))
    end

    it("create, status, wait, rows and download", function()
      m:legacy_plan({ rows = 20, duration = 3 })
      local rid = create({ "legacy", "create", "campaign_events", "--token", "camp_1", "-e", "push_sent,push_open",
        "--ids", "custom_id", "--from", "3d" })
      assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", rid)
      local code, out = run({ "legacy", "status", rid })
      assert.equal(0, code)
      assert.truthy(out:find("id               " .. rid, 1, true), out)
      assert.matches("uri%s+/1%.0/%*%*%*/export/campaign/camp_1/events", out)
      local js
      code, js = run({ "legacy", "status", rid, "--json" })
      assert.equal(rid, cjson.decode(js).id)

      code, out = run({ "legacy", "wait", rid, "--interval", "0.1" })
      assert.equal(0, code)
      assert.equal("SUCCESS\n", out)

      code, out = run({ "legacy", "rows", rid })
      assert.equal(0, code)
      local rows = lines(out)
      assert.equal("custom_id;event_date;event_type", rows[1])
      assert.equal(21, #rows)
      code, out = run({ "legacy", "rows", rid, "--json" })
      local first = cjson.decode(lines(out)[1])
      assert.is_string(first.custom_id)
      assert.is_string(first.event_type)
      code, out = run({ "legacy", "rows", rid, "--json", "--no-header" })
      assert.same({ "custom_id", "event_date", "event_type" }, cjson.decode(lines(out)[1]))
      code, out = run({ "legacy", "rows", rid, "--no-header" })
      assert.equal(20, #lines(out))

      local path = tmp .. "/legacy/out.csv"
      local err
      code, out, err = run({ "legacy", "download", rid, "-o", path })
      assert.equal(0, code, err)
      assert.equal(path .. "\n", out)
      assert.equal((m:file_sha256("lfile_" .. rid)), sha256(path))
    end)

    it("userbase takes no dates; a request the library refuses is exit 2", function()
      local code, _, err = run({ "legacy", "create", "userbase", "--from", "1d", "--ids", "custom_id" })
      assert.equal(2, code)
      assert.matches("snapshot", err)
      code, _, err = run({ "legacy", "create", "inapp_events", "--token", "t", "-e", "push_sent", "--ids", "custom_id" })
      assert.equal(2, code)
      assert.matches("events", err)
      create({ "legacy", "create", "userbase", "--ids", "install_id" })
    end)

    it("ERROR is exit 3, EXPIRED exit 4, an unknown id exit 1", function()
      m:legacy_plan({ outcome = "ERROR", duration = 1, error_msg = "campaign not found" })
      local rid = create({ "legacy", "create", "reachability", "--ids", "custom_id" })
      local code, out, err = run({ "legacy", "wait", rid, "--interval", "0.1" })
      assert.equal(3, code)
      assert.equal("ERROR\n", out)                           -- the final status, as on success
      assert.matches("campaign not found", err)
      m:legacy_plan({ outcome = "EXPIRED", duration = 1 })
      rid = create({ "legacy", "create", "userbase", "--ids", "custom_id" })
      code, out, err = run({ "legacy", "wait", rid, "--interval", "0.1" })
      assert.equal(4, code)
      assert.equal("EXPIRED\n", out)
      assert.matches("expired", err)
      local _
      code, _, err = run({ "legacy", "status", "no-such-request" })
      assert.equal(1, code)
      assert.matches("404", err)
    end)
  end)
end)
