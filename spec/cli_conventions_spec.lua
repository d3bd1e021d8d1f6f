-- bin/batchexport against the conventions gh, aws and curl have taught
-- (issue #14), each case run as a process: suggestions for typos, combined
-- short flags, --opt=value, `configure` and profiles, shell completion, the
-- man page, advice in the command's own terms, one meaning per word, and the
-- README's command section checked against the command's own definitions.
local mock = require("spec.support.mock")
local cli = require("spec.support.cli")
local h = require("spec.support.helpers")
local cjson = require("cjson")

local sh_quote = mock.sh_quote
local BIN = cli.BIN
local LUA_ENV = "LUA_PATH='lua/?.lua;lua/?/init.lua;./?.lua;;' LUA_CPATH='build/?.so;;'"

local slurp, write, lines, capture, mode_of = h.read, h.write, h.lines, h.capture, h.mode_of

describe("bin/batchexport conventions", function()
  local m, tmp, home

  -- Runs the command in a clean environment; returns code, stdout, stderr.
  local function run(args, env, stdin)
    return cli.run(m, tmp, { HOME = home, XDG_CONFIG_HOME = home .. "/.config" }, args, env, stdin)
  end

  local function usage_error(code, out, err, what)
    assert.equal(2, code, what)
    assert.equal("", out, what)
    assert.matches("Try 'batchexport[%w ]* %-%-help'%.\n$", err, what)
  end

  setup(function()
    m, tmp = mock.start({ workers = 1, speed = 50 }), h.tmpdir()
    home = h.emptydir(tmp .. "/home")
  end)
  teardown(function() if m then m:stop() end h.rmrf(tmp) end)
  before_each(function()
    m:reset()
    os.execute("rm -rf " .. sh_quote(home .. "/.config"))
  end)

  describe("parsing", function()
    it("a typo'd command gets a suggestion, at the top level and under legacy", function()
      local code, out, err = run({ "lsit" })
      usage_error(code, out, err, "lsit")
      assert.matches("unknown command 'lsit'", err)
      assert.matches("Did you mean 'list'%?", err)
      code, out, err = run({ "legacy", "stauts", "x" })
      usage_error(code, out, err, "legacy stauts")
      assert.matches("Did you mean 'status'%?", err)
      assert.equal(0, #m:log().requests)
    end)

    it("a typo'd option gets a suggestion, the command's own and a global one", function()
      local code, out, err = run({ "list", "--limt", "3" })
      usage_error(code, out, err, "--limt")
      assert.matches("unknown option '%-%-limt'", err)
      assert.matches("Did you mean '%-%-limit'%?", err)
      code, out, err = run({ "--jsn", "list" })
      usage_error(code, out, err, "--jsn")
      assert.matches("Did you mean '%-%-json'%?", err)
      assert.equal(0, #m:log().requests)
    end)

    it("short flags combine: -qv is --quiet and --verbose", function()
      local code, out, err = run({ "list", "--limit", "1", "-qv" })
      assert.equal(0, code, err)
      assert.equal(2, #lines(out))
      assert.matches("GET http", err)                        -- --verbose
      assert.falsy(err:find("export(s)", 1, true))           -- --quiet: no note
    end)

    it("--opt=value works for global and command options", function()
      local code, out, err = run({ "--base-url=" .. m.api_url, "list", "--limit=2", "--json" },
        { BATCH_BASE_URL = false })
      assert.equal(0, code, err)
      assert.equal(2, cjson.decode(out).count)
    end)

    it("--version prints the version; --version with anything else is a usage error", function()
      local code, out = run({ "--version" })
      assert.equal(0, code)
      assert.matches("^batchexport %d+%.%d+%.%d+\n$", out)
      code, out = run({ "--version", "extra" })
      assert.equal(2, code)
      assert.equal("", out)
    end)
  end)

  describe("one meaning per word", function()
    it("list takes the cursor as --cursor; list --from is refused with a pointer to --cursor", function()
      local code, out, err = run({ "list", "--limit", "2" })
      assert.equal(0, code)
      local cursor = err:match("next: batchexport list %-%-cursor '([^']+)'")
      assert.truthy(cursor, err)
      local code2, out2 = run({ "--json", "list", "--cursor", cursor, "--limit", "1" })
      assert.equal(0, code2)
      local _, all = run({ "--json", "list", "--limit", "3" })
      assert.equal(cjson.decode(all).exports[3].id, cjson.decode(out2).exports[1].id)
      m:clear_log()
      code, out, err = run({ "list", "--from", "7d" })
      usage_error(code, out, err, "list --from")
      assert.matches("%-%-cursor", err)
      assert.equal(0, #m:log().requests)
    end)

    it("--help says --limit caps the count while pages are 100 a request", function()
      local code, out = run({ "list", "--help" })
      assert.equal(0, code)
      assert.matches("%-%-limit N", out)
      assert.matches("at most N exports in all", out)
      assert.matches("%-%-cursor CURSOR", out)
    end)
  end)

  describe("advice in the command's own terms", function()
    it("a missing key names the variable and the config key to set, not batchexport.new", function()
      local code, out, err = run({ "list" }, { BATCH_REST_KEY = false, BATCH_PROJECT_KEY = false })
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("BATCH_REST_KEY", err)
      assert.matches("rest_key in the config file", err)
      assert.matches("BATCH_PROJECT_KEY", err)
      assert.falsy(err:find("batchexport.new", 1, true), err)
      assert.falsy(err:find("Try '", 1, true), err)
      code, out, err = run({ "legacy", "status", "x" }, { BATCH_API_KEY = false })
      assert.equal(2, code)
      assert.matches("BATCH_API_KEY or api_key in the config file", err)
      assert.equal(0, #m:log().requests)
    end)

    it("plain http to a remote host points to --allow-http, and is refused before any request", function()
      local code, out, err = run({ "list", "--base-url", "http://batch.invalid" })
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("%-%-allow%-http", err)
      assert.falsy(err:find("set allow_http = true", 1, true), err)
    end)

    it("a mistyped config key gets a suggestion, its value still unshown", function()
      local conf = tmp .. "/typo.conf"
      write(conf, "rest_kee = secret_value_42\n", "600")
      local code, _, err = run({ "list" }, { BATCHEXPORT_CONFIG = conf })
      assert.equal(2, code)
      assert.matches(":1: unknown key \"rest_kee\"; did you mean \"rest_key\"%?", err)
      assert.falsy(err:find("secret_value_42", 1, true))
    end)

    it("a bad setting names the flag, the variable and the config key that set it", function()
      local code, out, err = run({ "list", "--api-version", "x" })
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("%-%-api%-version %(BATCH_API_VERSION, api_version%)", err)
      local _
      code, _, err = run({ "list", "--ca-file", tmp .. "/no-such-ca.pem" })
      assert.equal(2, code)
      assert.matches("%-%-ca%-file %(BATCH_CA_FILE, ca_file%): cannot read", err)
      assert.equal(0, #m:log().requests)
    end)

    it("--allow-http and the allow_http config key let the library's guard pass", function()
      -- ::ffff:127.0.0.1 is this machine: no traffic leaves it.
      local url = m.api_url:gsub("^http://127%.0%.0%.1", "http://[::ffff:127.0.0.1]")
      local code, _, err = run({ "list", "--limit", "1", "--allow-http", "--base-url", url })
      assert.are_not.equal(2, code, err)
      assert.falsy(err:find("allow", 1, true), err)
      local conf = tmp .. "/allow.conf"
      write(conf, "allow_http = true\nbase_url = " .. url .. "\n", "600")
      code, _, err = run({ "list", "--limit", "1" }, { BATCH_BASE_URL = false, BATCHEXPORT_CONFIG = conf })
      assert.are_not.equal(2, code, err)
      write(conf, "allow_http = maybe\n", "600")
      code, _, err = run({ "list" }, { BATCHEXPORT_CONFIG = conf })
      assert.equal(2, code)
      assert.matches("allow_http", err)
    end)
  end)

  describe("configure and profiles", function()
    local conf_path
    before_each(function() conf_path = home .. "/.config/batchexport/config" end)

    it("asks for each key on stdin and writes a 0600 file in a new 0700 folder, printing no key", function()
      local code, out, err = run({ "configure" }, false, "rest_one\nproject_one\napi_one\n")
      assert.equal(0, code, err)
      assert.equal("700", mode_of(home .. "/.config/batchexport"))
      assert.equal("600", mode_of(conf_path))
      -- written by the library's atomic save: nothing else left beside it
      assert.same({ "config" }, h.ls(home .. "/.config/batchexport"))
      local text = slurp(conf_path)
      assert.matches("rest_key = rest_one", text)
      assert.matches("project_key = project_one", text)
      assert.matches("api_key = api_one", text)
      for _, secret in ipairs({ "rest_one", "project_one", "api_one" }) do
        assert.falsy((out .. err):find(secret, 1, true), secret)
      end
      assert.matches("REST API key", err)                    -- the prompts go to stderr
    end)

    it("a profile is its own [section]; --profile and BATCH_PROFILE choose it; env and flags still win", function()
      -- default profile: wrong keys; [acme]: the mock's keys.
      local code, _, err = run({ "configure" }, false, "wrong_rest\nwrong_project\nwrong_api\n")
      assert.equal(0, code, err)
      code, _, err = run({ "configure", "--profile", "acme" }, false,
        m.rest_key .. "\n" .. m.project_key .. "\n" .. m.api_key .. "\n")
      assert.equal(0, code, err)
      assert.equal("600", mode_of(conf_path))
      local text = slurp(conf_path)
      assert.matches("%[acme%]", text)
      assert.matches("rest_key = wrong_rest", text)          -- the default profile is kept
      local env = { BATCH_REST_KEY = false, BATCH_PROJECT_KEY = false, BATCH_API_KEY = false }
      code = run({ "list", "--limit", "1" }, env)
      assert.equal(1, code)                                  -- the default's wrong keys: 401
      code, _, err = run({ "--profile", "acme", "list", "--limit", "1" }, env)
      assert.equal(0, code, err)
      code, _, err = run({ "list", "--limit", "1", "--profile=acme" }, env)
      assert.equal(0, code, err)
      env.BATCH_PROFILE = "acme"
      code, _, err = run({ "list", "--limit", "1" }, env)
      assert.equal(0, code, err)
      env.BATCH_REST_KEY = "wrong_from_env"
      code = run({ "list", "--limit", "1" }, env)
      assert.equal(1, code)                                  -- the environment beats the profile
      code, _, err = run({ "--profile", "nope", "list" }, env)
      assert.equal(2, code)
      assert.matches("no profile 'nope'", err)
      assert.matches("acme", err)                            -- names those there are
    end)

    it("no answer at all (stdin empty) writes nothing", function()
      local code, _, err = run({ "configure" }, false, "")
      assert.equal(0, code, err)
      assert.matches("nothing to save", err)
      assert.is_nil(slurp(conf_path))
    end)

    it("a profile name that could not be a [section] is refused before anything is written", function()
      local code, out, err = run({ "configure", "--profile", "a]b" }, false, "k\n\n\n")
      usage_error(code, out, err, "--profile a]b")
      assert.is_nil(slurp(conf_path))
      code, out, err = run({ "list" }, { BATCH_PROFILE = "a b" })
      assert.equal(2, code)
      assert.matches("BATCH_PROFILE", err)
    end)

    it("an empty answer keeps the key already there", function()
      run({ "configure" }, false, "rest_one\nproject_one\napi_one\n")
      local code, _, err = run({ "configure" }, false, "\nproject_two\n\n")
      assert.equal(0, code, err)
      local text = slurp(conf_path)
      assert.matches("rest_key = rest_one", text)
      assert.matches("project_key = project_two", text)
      assert.matches("api_key = api_one", text)
    end)

    it("--verify checks the keys with one cheap call, and does not save keys Batch refuses", function()
      local code, _, err = run({ "configure", "--verify" }, { BATCH_REST_KEY = false, BATCH_PROJECT_KEY = false,
        BATCH_API_KEY = false }, m.rest_key .. "\n" .. m.project_key .. "\n" .. m.api_key .. "\n")
      assert.equal(0, code, err)
      assert.matches("verified", err)
      local before = slurp(conf_path)
      m:clear_log()
      code, _, err = run({ "configure", "--verify" }, { BATCH_REST_KEY = false, BATCH_PROJECT_KEY = false,
        BATCH_API_KEY = false }, "bad_rest_key\n\n\n")
      assert.equal(1, code)
      assert.matches("not saved", err)
      assert.falsy(err:find("bad_rest_key", 1, true))
      assert.equal(before, slurp(conf_path))
      assert.truthy(#m:log().requests <= 2)
    end)
  end)

  describe("completion and man page", function()
    it("completion bash loads into a real bash", function()
      local code, out = capture("cd " .. sh_quote(tmp) .. " && bash -c " ..
        sh_quote("source <(" .. os.getenv("PWD") .. "/" .. BIN .. " completion bash) && complete -p batchexport"))
      assert.equal(0, code, out)
      assert.matches("complete .*%-F _batchexport batchexport", out)
      local _, script = run({ "completion", "bash" })
      assert.matches('opts="%$opts %-h %-%-help %-%-limit %-%-cursor"', script)   -- list: no --from
      for _, word in ipairs({ "configure", "legacy", "--cursor", "--profile", "--allow-http" }) do
        assert.truthy(script:find(word, 1, true), word)
      end
    end)

    it("completion zsh and fish come from the same definitions; another shell is a usage error", function()
      for _, shell in ipairs({ "zsh", "fish" }) do
        local code, out = run({ "completion", shell })
        assert.equal(0, code)
        assert.truthy(out:find("cursor", 1, true), shell)
        assert.truthy(out:find("configure", 1, true), shell)
      end
      local code, out, err = run({ "completion", "tcsh" })
      usage_error(code, out, err, "tcsh")
    end)

    it("man -l renders batchexport.1, which is what `make man` generates from the definitions", function()
      local code, out = capture("MANPAGER=cat MANWIDTH=100 man -l batchexport.1 2>&1")
      assert.equal(0, code, out)
      for _, word in ipairs({ "NAME", "SYNOPSIS", "EXIT STATUS", "ENVIRONMENT", "FILES", "batchexport list",
        "batchexport legacy create", "batchexport configure", "--cursor", "--allow-http", "BATCH_PROFILE" }) do
        assert.truthy(out:find(word, 1, true), word)
      end
      local _, fresh = capture(LUA_ENV .. " lua5.4 -e 'io.write(require(\"batchexport.cli.manpage\").render())'")
      assert.equal(fresh, slurp("batchexport.1"))
    end)
  end)

  describe("a hostile server's text on the terminal", function()
    local function no_control(s, what)
      assert.falsy(s:gsub("\n", ""):find("%c"), what .. ": " .. s)
    end

    it("control characters in an export's fields are not written to the terminal (text output)", function()
      local body = cjson.encode({ id = "export_x\27[2J", status = "RUNNING\27]0;pwned\7", scope = "PROFILE_EVENTS",
        request_date = "2024-05-01T00:00:00Z\27[31m", files = {} })
      m:fault({ path = "/2.11/exports/view", status = 200, body = body, times = 2 })
      local _, out, err = run({ "view", "export_x" })
      no_control(out .. err, "view")
      m:fault({ path = "/2.11/exports/list", status = 200, times = 2,
        body = cjson.encode({ exports = cjson.decode("[" .. body .. "]"), count = 1, has_more = true,
          next_from = "c\27[2Jc" }) })
      _, out, err = run({ "list", "--limit", "1" })
      no_control(out .. err, "list")
    end)

    it("control characters in an error message are not written to the terminal", function()
      m:fault({ path = "/2.11/exports/view", status = 400, times = 2,
        body = '{"error_message":"bad\\u001b[2J\\u0007 request","error_code":"MALFORMED\\u001b[31m"}' })
      local code, out, err = run({ "view", "export_x" })
      assert.equal(1, code)
      assert.equal("", out)
      no_control(err, "error")
      assert.matches("bad", err)
    end)
  end)

  describe("the mismatches of issue #14", function()
    it("wait on an ERROR export prints the final status on stdout (exit 3)", function()
      local e = m:create_export({ status = "ERROR" })
      local code, out = run({ "wait", e.id, "--interval", "0.1" })
      assert.equal(3, code)
      assert.equal("ERROR\n", out)
    end)

    it("a wait timeout counts its status checks once", function()
      m:plan({ duration = 100000 })
      local _, id = run({ "create", "attributes", "-i", "custom_id" })
      id = id:gsub("%s+$", "")
      local code, _, err = run({ "wait", id, "--interval", "0.1", "--timeout", "0.5" })
      assert.equal(5, code)
      assert.matches("after [%d.]+ s %(%d+ status checks?%)\n$", err)
      assert.falsy(err:find("attempts", 1, true), err)
    end)

    it("download's usage shows -o DIR as optional", function()
      local code, out = run({ "download", "--help" })
      assert.equal(0, code)
      assert.matches("%[%-o DIR%]", out)
    end)

    it("-o out/ prints out/export_... with no double slash", function()
      local e = m:create_export({ status = "SUCCESS", parts = 1 })
      local code, out = run({ "download", e.id, "-o", tmp .. "/out/" })
      assert.equal(0, code)
      assert.equal(tmp .. "/out/" .. e.id .. "-1.json\n", out)
    end)

    it("errors that are not usage errors do not end with Try '... --help'", function()
      local failed = m:create_export({ status = "ERROR" })
      for _, args in ipairs({ { "view", "export_nope" }, { "cat", failed.id }, { "list", "--base-url", "http://batch.invalid" } }) do
        local code, _, err = run(args)
        assert.are_not.equal(0, code)
        assert.falsy(err:find("Try '", 1, true), table.concat(args, " ") .. ": " .. err)
      end
      local code, _, err = run({ "list" }, { BATCH_REST_KEY = false })
      assert.equal(2, code)
      assert.falsy(err:find("Try '", 1, true), err)
    end)

    it("the README's example error lines are the real ones", function()
      local readme = assert(slurp("README.md"))
      local section = assert(readme:match("\n## The `batchexport` command\n(.-)\n## "))
      local examples = 0
      for block in section:gmatch("```console\n(.-)```") do
        local cases = {}
        for line in block:gmatch("[^\n]*\n") do
          if line:sub(1, 2) == "$ " then
            cases[#cases + 1] = { cmdline = line:sub(3, -2), expected = "" }
          elseif #cases > 0 then
            cases[#cases].expected = cases[#cases].expected .. line
          end
        end
        for _, case in ipairs(cases) do
          examples = examples + 1
          local env, args = {}, {}
          for word in case.cmdline:gmatch("%S+") do
            local k, v = word:match("^([A-Z_]+)=(.*)$")
            if k and #args == 0 then env[k] = v ~= "" and v or false
            elseif word ~= "batchexport" or #args > 0 then args[#args + 1] = word end
          end
          local _, out, err = run(args, env)
          -- "…" in the README stands for a part that varies (an id, a time, a URL).
          local pattern = "^" .. case.expected:gsub("%p", "%%%0"):gsub("\226\128\166", ".-") .. "$"
          assert.matches(pattern, out .. err, case.cmdline)
        end
      end
      assert.truthy(examples >= 3, "the README shows example errors")
    end)
  end)

  describe("the README's command section and the definitions", function()
    local args_mod
    setup(function()
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      args_mod = require("batchexport.cli.args")
    end)

    local function section()
      local readme = assert(slurp("README.md"))
      return assert(readme:match("\n## The `batchexport` command\n(.-)\n## "))
    end

    it("the sub-commands table has a row for every command, naming only options it has", function()
      local commands = args_mod.commands()
      local rows = {}
      for cell in section():gmatch("\n| `([^`]+)` |") do rows[#rows + 1] = cell end
      for _, c in ipairs(commands) do
        local found = false
        for _, row in ipairs(rows) do
          if (row .. " "):sub(1, #c.path + 1) == c.path .. " " then
            found = true
            for opt in row:gmatch("(%-%-?[%a][%w-]*)") do
              assert.truthy(c.options[opt], c.path .. ": README names " .. opt)
            end
          end
        end
        assert.truthy(found, "README row for " .. c.path)
      end
    end)

    it("the options table lists exactly the global options", function()
      local global = args_mod.global_options()
      local in_readme = {}
      local options = assert(section():match("\n### Global options[^\n]*\n(.-)\n### "))
      for opt in options:gmatch("\n| `(%-%-[%w-]+)") do in_readme[opt] = true end
      for opt in options:gmatch("\n| `%-%a`, `(%-%-[%w-]+)") do in_readme[opt] = true end
      for name in pairs(global) do
        if name:sub(1, 2) == "--" then assert.truthy(in_readme[name], "README lacks " .. name) end
      end
      for name in pairs(in_readme) do assert.truthy(global[name], "not an option: " .. name) end
    end)
  end)
end)
