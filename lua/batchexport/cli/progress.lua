--- batchexport.cli.progress: what `bin/batchexport` shows on stderr while it
-- works. On a terminal: one line redrawn in place with "\r" and "erase to end
-- of line" (ESC [K), at most 10 times a second, ended by a newline. Off a
-- terminal (a pipe, a file, CI) or with --quiet: no bar and no control
-- character at all; only plain one-line notes (status changes, a summary),
-- and none of those under --quiet.
--
--   local p = progress.new({ tty = true, quiet = false, width = 80, out = io.stderr })
--   local m = p:meter("export_x")     m:update(done, total)   m:finish()
--   local w = p:waiting("export_x")   w:status("RUNNING")     w:tick()   w:finish("SUCCESS")
--   p:note("a line")                  -- printed above the bar, which is then redrawn
local M = {}

local function now_default()
  local ok, core = pcall(require, "batchexport.core")
  if ok and core.now then return core.now end
  return os.clock
end

--- progress.printable(s) -> s with every control character (C0, DEL and
-- C1 as UTF-8) shown as "?": text a server sent must not move
-- the cursor, retitle the window or clear the screen.
function M.printable(s)
  return (tostring(s):gsub("[%c\127]", "?"):gsub("\194[\128-\159]", "?"))
end

--- "1.5 MiB", "512 B"
function M.bytes(n)
  n = tonumber(n) or 0
  if n < 1024 then return string.format("%d B", math.floor(n)) end
  local units = { "KiB", "MiB", "GiB", "TiB" }
  local i = 0
  repeat n = n / 1024; i = i + 1 until n < 1024 or i == #units
  return string.format(n < 10 and "%.1f %s" or "%.0f %s", n, units[i])
end

--- "0:07", "12:34", "1:02:03"
function M.duration(s)
  s = math.max(0, math.floor((tonumber(s) or 0) + 0.5))
  local h, m, sec = math.floor(s / 3600), math.floor(s / 60) % 60, s % 60
  if h > 0 then return string.format("%d:%02d:%02d", h, m, sec) end
  return string.format("%d:%02d", m, sec)
end

local P = {}
P.__index = P

--- progress.new(opts): opts.tty (draw a live line), opts.quiet (nothing but
-- errors), opts.width (columns), opts.out (default io.stderr), opts.now
-- (a clock in seconds).
function M.new(opts)
  opts = opts or {}
  local self = setmetatable({
    out = opts.out or io.stderr,
    quiet = opts.quiet and true or false,
    now = opts.now or now_default(),
    width = opts.width or 80,
    shown = nil,          -- the live line now on screen, if any
    live = nil,           -- the object that owns the live line
  }, P)
  self.tty = (opts.tty and not self.quiet) and true or false
  return self
end

function P:write(s)
  self.out:write(s)
  if self.out.flush then self.out:flush() end
end

-- Draws `text` as the live line (terminal only).
function P:draw(text)
  if not self.tty then return end
  text = M.printable(text)
  local max = self.width - 1
  if #text > max then text = text:sub(1, max) end
  self:write("\r" .. text .. "\27[K")
  self.shown = text
end

-- Removes the live line from the screen (terminal only).
function P:clear()
  if self.tty and self.shown then
    self:write("\r\27[K")
    self.shown = nil
  end
end

--- A plain line for the user (not under --quiet), printed above the live line.
function P:note(line)
  if self.quiet then return end
  local redraw = self.shown
  self:clear()
  self:write(M.printable(line) .. "\n")
  if redraw then self:draw(redraw) end
end

--- A line that is shown even under --quiet (warnings, errors).
function P:alert(line)
  local redraw = self.shown
  self:clear()
  self:write(M.printable(line) .. "\n")
  if redraw and not self.quiet then self:draw(redraw) end
end

-- Ends the live line: it stays on screen, followed by a newline.
function P:settle(text)
  if not self.tty then return end
  self:draw(text)
  self:write("\n")
  self.shown = nil
end

---------------------------------------------------------------------------
-- A byte meter for downloads: a bar when the total is known, bytes, rate
-- (over the last 3 seconds) and time left.

local Meter = {}
Meter.__index = Meter

function P:meter(label)
  local t = self.now()
  return setmetatable({ p = self, label = label, started = t, last_draw = -1, samples = { { t, 0 } },
    done = 0, total = nil }, Meter)
end

function Meter:rate(t)
  local s = self.samples
  while #s > 2 and t - s[2][1] >= 3 do table.remove(s, 1) end
  local first = s[1]
  local dt = t - first[1]
  if dt < 0.2 then return nil end
  return (self.done - first[2]) / dt
end

function Meter:line(t, final)
  local p = self.p
  local parts = {}
  local total = self.total
  local elapsed = t - self.started
  local rate
  if final then rate = elapsed > 0 and self.done / elapsed or nil else rate = self:rate(t) end
  local amount = M.bytes(self.done) .. (total and total > 0 and (" / " .. M.bytes(total)) or "")
  parts[#parts + 1] = amount
  if rate then parts[#parts + 1] = M.bytes(rate) .. "/s" end
  if final then
    parts[#parts + 1] = "in " .. M.duration(elapsed)
  elseif rate and rate > 0 and total and total > self.done then
    parts[#parts + 1] = "ETA " .. M.duration((total - self.done) / rate)
  else
    parts[#parts + 1] = M.duration(elapsed)
  end
  local tail = table.concat(parts, "  ")
  local room = p.width - 1
  local function fit(label, space)
    if space >= #label then return label end
    if space < 8 then return label:sub(1, math.max(0, space)) end
    return label:sub(1, space - 2) .. ".."
  end
  if total and total > 0 then
    local frac = math.min(1, self.done / total)
    local rest = string.format("%3d%%  %s", math.floor(frac * 100), tail)
    -- The label's room is reckoned on the widest numbers, so it does not
    -- jitter as they change; a bar needs 10 columns, brackets and 2 spaces.
    local space = room - math.max(#rest, 48) - 14
    if space >= 12 then
      local label = fit(self.label, space)
      local bar_w = math.min(30, room - #label - math.max(#rest, 48) - 4)
      local fill = math.floor(frac * bar_w + 0.5)
      return string.format("%s [%s%s] %s", label, string.rep("#", fill), string.rep("-", bar_w - fill), rest)
    end
    space = room - #rest - 1
    if space < 8 then return rest end
    return fit(self.label, space) .. " " .. rest
  end
  return fit(self.label, room - #tail - 2) .. "  " .. tail
end

--- meter:update(done [, total]): redrawn at most 10 times a second.
function Meter:update(done, total)
  self.done = tonumber(done) or self.done
  if total and total > 0 then self.total = total end
  local t = self.p.now()
  local s = self.samples
  if t - s[#s][1] >= 0.1 then s[#s + 1] = { t, self.done } end
  if t - self.last_draw >= 0.1 then
    self.last_draw = t
    self.p:draw(self:line(t))
  end
end

--- meter:tick(): redraws with the clock moved on (a stalled transfer's rate falls).
function Meter:tick()
  self:update(self.done)
end

--- meter:finish(): the final line (100 %, average rate, time taken) and a newline.
function Meter:finish()
  local t = self.p.now()
  if self.total then self.done = math.max(self.done, self.total) end
  self.p:settle(self:line(t, true))
  return t - self.started
end

--- meter:abandon(): removes the line (after an error or an interrupt).
function Meter:abandon()
  self.p:clear()
end

---------------------------------------------------------------------------
-- A wait display: the export's status and the time elapsed, with a spinner
-- on a terminal; off a terminal, a note each time the status changes.

local Wait = {}
Wait.__index = Wait
local SPIN = { "|", "/", "-", "\\" }

function P:waiting(label)
  return setmetatable({ p = self, label = label, started = self.now(), state = nil, frame = 0, last_draw = -1 }, Wait)
end

function Wait:line(t)
  self.frame = self.frame % #SPIN + 1
  return string.format("%s %s: %s  %s", SPIN[self.frame], self.label, self.state or "checking",
    M.duration(t - self.started))
end

--- wait:status(s): a status from a check.
function Wait:status(s)
  if s ~= self.state then
    self.state = s
    if not self.p.tty then
      self.p:note(string.format("%s: %s (%s)", self.label, tostring(s), M.duration(self.p.now() - self.started)))
    end
  end
  self:tick(true)
end

--- wait:tick(): redraws the elapsed time (5 times a second at most).
function Wait:tick(force)
  if not self.p.tty then return end
  local t = self.p.now()
  if force or t - self.last_draw >= 0.2 then
    self.last_draw = t
    self.p:draw(self:line(t))
  end
end

--- wait:finish(final_status): "label: SUCCESS after 0:14" and a newline
-- (a note off a terminal).
function Wait:finish(final)
  local t = self.p.now()
  local text = string.format("%s: %s after %s", self.label, tostring(final), M.duration(t - self.started))
  if self.p.tty then self.p:settle(text) else self.p:note(text) end
  return t - self.started
end

function Wait:abandon()
  self.p:clear()
end

return M
