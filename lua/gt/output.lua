--- gt.output: how gt talks to people and to programs.
--
-- People get aligned tables and short messages, in colour only on a terminal and never with
-- NO_COLOR; programs get `--json` with nothing but JSON on stdout. Messages and warnings go to
-- stderr, so stdout stays parseable. A progress line (gt.progress) is cleared before any of them.
local sys = require("gt.sys")
local progress = require("gt.progress")

-- gt.json is required where it is used: gt.output loads before the user's module overrides are
-- in place (gt.startup), and gt.json is one a user may override.
local output = {}

local function color_enabled(stream)
  local no_color = os.getenv("NO_COLOR")
  if no_color and no_color ~= "" then return false end
  return sys.isatty(stream)
end

local codes = { bold = "1", dim = "2", red = "31", green = "32", yellow = "33", cyan = "36" }

--- Wraps `text` in the ANSI colour `name` when `stream` ("stdout"/"stderr") is a colour terminal.
function output.color(name, text, stream)
  if not color_enabled(stream or "stdout") then return text end
  return ("\27[%sm%s\27[0m"):format(codes[name], text)
end

--- Prints a line on stdout.
function output.say(fmt, ...)
  progress.clear()
  io.stdout:write(select("#", ...) > 0 and fmt:format(...) or fmt, "\n")
end

--- Prints a warning on stderr ("gt: warning: ...").
function output.warn(fmt, ...)
  local msg = select("#", ...) > 0 and fmt:format(...) or fmt
  progress.clear()
  io.stdout:flush() -- what was said before comes first on a terminal
  io.stderr:write("gt: ", output.color("yellow", "warning", "stderr"), ": ", msg, "\n")
end

--- Prints an informational line on stderr (progress, notes around a command's result).
function output.note(fmt, ...)
  progress.clear()
  io.stdout:flush()
  io.stderr:write(select("#", ...) > 0 and fmt:format(...) or fmt, "\n")
end

--- Whether gt --verbose was given.
output.is_verbose = false

--- Prints a line on stderr when gt --verbose was given ("gt: <message>").
function output.verbose(fmt, ...)
  if not output.is_verbose then return end
  progress.clear()
  io.stdout:flush()
  io.stderr:write("gt: ", select("#", ...) > 0 and fmt:format(...) or fmt, "\n")
end

--- Writes `value` as JSON on stdout (one document, then a newline).
function output.json(value)
  progress.clear()
  io.stdout:write(require("gt.json").encode(value), "\n")
end

--- The first `max` items of `list`, for a message: "a, b, c, and 2 more".
function output.some(list, max)
  local shown = {}
  for i = 1, math.min(#list, max) do shown[i] = list[i] end
  local s = table.concat(shown, ", ")
  if #list > max then s = s .. (", and %d more"):format(#list - max) end
  return s
end

--- `n` with its noun, one or many: "1 file", "3 files".
function output.count(n, one, many)
  return ("%d %s"):format(n, n == 1 and one or many)
end

--- Formats rows as an aligned table. `columns` is a list of {key, title}; cells are strings.
--- The last column is not padded. Returns the lines (without trailing newlines).
function output.table(columns, rows)
  local ncol = #columns
  local cells, widths = {}, {}
  local wide = false -- a cell with multi-byte characters: pad by characters, not bytes
  local function width(s)
    if s:find("[\128-\255]") then wide = true; return utf8.len(s) or #s end
    return #s
  end
  local titles = {}
  for i, col in ipairs(columns) do titles[i] = col[2]; widths[i] = width(col[2]) end
  for r, row in ipairs(rows) do
    local line = {}
    for i = 1, ncol do
      local cell = tostring(row[columns[i][1]] or "")
      line[i] = cell
      local w = width(cell)
      if w > widths[i] then widths[i] = w end
    end
    cells[r] = line
  end
  -- Padded by hand: string.format refuses widths of three digits ("%-108s").
  local function render(line)
    local parts = {}
    for i = 1, ncol - 1 do
      local w = wide and (utf8.len(line[i]) or #line[i]) or #line[i]
      parts[i] = line[i] .. string.rep(" ", widths[i] - w)
    end
    parts[ncol] = line[ncol]
    -- Trailing blanks cut from the last non-blank: gsub("%s+$") is quadratic on padded lines.
    return table.concat(parts, "  "):match("^.*%S") or ""
  end
  local lines = { output.color("bold", render(titles)) }
  for r = 1, #cells do lines[r + 1] = render(cells[r]) end
  return lines
end

--- Prints a table made by output.table.
function output.print_table(columns, rows)
  local lines = output.table(columns, rows)
  lines[#lines + 1] = ""
  progress.clear()
  io.stdout:write(table.concat(lines, "\n"))
end

--- Prints a listing, the one way every list command and REPL helper shows rows: with
--- opts.json, `rows` as a JSON array; with no rows, opts.none ("no polecats"); else a table of
--- opts.columns ({key, title} pairs, as output.table), whose cells come from opts.cells(row)
--- (default: the row itself).
---@param rows table[]
---@param opts {json: boolean?, none: string, columns: table, cells: (fun(row: table): table)?}
function output.listing(rows, opts)
  if opts.json then
    output.json(require("gt.json").array(rows))
  elseif #rows == 0 then
    output.say("%s", opts.none)
  else
    local cells = rows
    if opts.cells then
      cells = {}
      for i, row in ipairs(rows) do cells[i] = opts.cells(row) end
    end
    output.print_table(opts.columns, cells)
  end
end

--- The columns of a listing of ledger events (output.event_cells).
output.EVENT_COLUMNS = { { "at", "AT" }, { "kind", "EVENT" }, { "data", "DATA" } }

--- The cells of a ledger event { at, kind, data } for a listing: its time, kind, and the plain
--- fields of its data as sorted key=value words.
function output.event_cells(e)
  local data = {}
  for k, v in pairs(e.data or {}) do
    if type(v) ~= "table" then data[#data + 1] = k .. "=" .. tostring(v) end
  end
  table.sort(data)
  return { at = os.date("%Y-%m-%d %H:%M:%S", e.at // 1000), kind = e.kind, data = table.concat(data, " ") }
end

local UNITS = { s = 1000, m = 60 * 1000, h = 3600 * 1000, d = 86400 * 1000, w = 7 * 86400 * 1000 }

--- Reads a duration a user wrote ("90s", "30m", "12h", "3d", "1w", "1h30m"): milliseconds, or
--- nil when `text` is not one (the caller says what it wanted).
function output.parse_duration(text)
  local total, rest = 0, tostring(text)
  repeat
    local n, unit, tail = rest:match("^(%d+)([smhdw])(.*)$")
    if not n or #n > 9 then return nil end
    total, rest = total + math.tointeger(tonumber(n)) * UNITS[unit], tail
  until rest == ""
  return total
end

--- Describes a duration in milliseconds briefly: "42s", "5m", "3h", "2d".
function output.age(ms)
  local s = ms // 1000
  if s < 60 then return s .. "s" end
  if s < 3600 then return s // 60 .. "m" end
  if s < 86400 then return s // 3600 .. "h" end
  return s // 86400 .. "d"
end

return output
