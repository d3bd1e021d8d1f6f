--- batchexport.cli.manpage: batchexport(1) in roff, from the command's own
-- definitions (batchexport.cli.args), so the man page, --help and the
-- completions cannot disagree. `make man` writes it to batchexport.1:
--
--   lua5.4 -e 'io.write(require("batchexport.cli.manpage").render())' > batchexport.1
local args = require("batchexport.cli.args")

local M = {}

-- Text as roff: backslashes kept, hyphens not hyphenation points, no line
-- taken for a request.
local function roff(s)
  s = tostring(s):gsub("\\", "\\e"):gsub("%-", "\\-")
  return (s:gsub("\n([.'])", "\n\\&%1"):gsub("^([.'])", "\\&%1"))
end

local function option_label(o)
  local names = {}
  for i, name in ipairs(o.names) do names[i] = "\\fB" .. roff(name) .. "\\fR" end
  local label = table.concat(names, ", ")
  if o.argname then label = label .. " \\fI" .. roff(o.argname) .. "\\fR" end
  return label
end

local function options(out, list)
  for _, o in ipairs(list) do
    out[#out + 1] = ".TP"
    out[#out + 1] = option_label(o)
    out[#out + 1] = roff(o.description)
  end
end

local function table_rows(out, rows)
  for _, row in ipairs(rows) do
    out[#out + 1] = ".TP"
    out[#out + 1] = "\\fB" .. roff(row[1]) .. "\\fR"
    out[#out + 1] = roff(row[2])
  end
end

--- manpage.render() -> the whole page.
function M.render()
  local out = {
    '.TH BATCHEXPORT 1 "" "batchexport" "User Commands"',
    ".SH NAME",
    "batchexport \\- Batch's Export APIs (v2 Exports and legacy 1.0) from the command line",
    ".SH SYNOPSIS",
    ".B batchexport",
    "[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGUMENTS\\fR] [\\fIOPTIONS\\fR]",
    ".SH DESCRIPTION",
    "stdout carries the result (ids, tables, paths, records; JSON with \\fB\\-\\-json\\fR); stderr carries "
      .. "progress, notes and the one\\-line error. Global options may come anywhere on the line; "
      .. "short flags combine (\\fB\\-qv\\fR) and \\fB\\-\\-opt=value\\fR works.",
    ".SH COMMANDS",
  }
  local root = args.walk(function(path, _, info)
    out[#out + 1] = ".SS \"" .. roff("batchexport " .. info.usage:gsub("^batchexport ", ""):gsub("%s+", " "))
      .. "\""
    out[#out + 1] = roff(info.description)
    local own = {}
    for _, o in ipairs(info.options) do
      if o.names[1] ~= "-h" then own[#own + 1] = o end
    end
    options(out, own)
    if info.epilog then
      out[#out + 1] = ".PP"
      out[#out + 1] = roff(info.epilog)
    end
  end)
  out[#out + 1] = ".SH GLOBAL OPTIONS"
  options(out, args.describe_options(root))
  out[#out + 1] = ".SH FILES"
  out[#out + 1] = ".TP"
  out[#out + 1] = "\\fI~/.config/batchexport/config\\fR"
  out[#out + 1] = roff(args.CREDENTIALS)
  out[#out + 1] = ".SH ENVIRONMENT"
  table_rows(out, args.ENVIRONMENT)
  out[#out + 1] = ".SH EXIT STATUS"
  table_rows(out, args.EXIT_STATUS)
  out[#out + 1] = ".SH SEE ALSO"
  out[#out + 1] = "The README's command section; \\fBbatchexport COMMAND \\-\\-help\\fR."
  return table.concat(out, "\n") .. "\n"
end

return M
