-- luacheck configuration: `make lint`. Each part is checked against the
-- Lua it runs on.

-- The library runs on PUC Lua 5.1 to 5.4 and LuaJIT: only what all of them
-- have ("min"), plus the names it probes for explicitly (`table.unpack or
-- unpack`, `math.tointeger and ...`).
std = "min"
read_globals = {
  "unpack",
  table = { fields = { "unpack", "pack" } },
  math = { fields = { "tointeger", "type" } },
  coroutine = { fields = { "close", "isyieldable" } },
}
-- OpenResty's `ngx` (the scheduler steps its loop between ngx.sleep()s and
-- keeps a request's transfers in ngx.ctx); handlers set ngx.status, ngx.header.
globals = { "ngx" }
-- Long lines are the project's style where a table row or a message reads
-- better whole; callbacks keep the arguments of their signature, used or not;
-- `not (x > 0)` is how a NaN is refused.
max_line_length = false
ignore = { "212", "581" }

-- The command's launcher and the examples: every Lua too. The OpenResty
-- example and the mock's handlers run in nginx (LuaJIT, `ngx`).
files["examples/openresty/"] = { std = "ngx_lua", globals = { "ngx" } }
files["mock/lua/"] = { std = "ngx_lua", globals = { "ngx" } }

-- The mock's launcher, and the spec support that starts it, are Lua 5.4.
files["bin/batchexport-mock"] = { std = "lua54" }

-- Specs: busted's globals, on every Lua the suite runs on (5.3 idioms are
-- shimmed on 5.1/5.2 by spec/support/compat.lua).
-- A spec may keep a call's results in variables it reuses, reading only some (311).
files["spec/"] = { std = "max+busted", ignore = { "311" } }
files["spec/support/compat.lua"] = { std = "lua51", globals = { "io", "table", "math" } }

-- The valgrind session drops references on purpose (x = nil) so that the
-- collector frees their userdata: the dropped value is "unused" (311).
files["tests/valgrind/"] = { ignore = { "311" } }
