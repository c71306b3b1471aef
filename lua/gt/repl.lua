--- gt.repl: the REPL for rig administration (gt repl), in the spirit of lua.c: an expression
--- prints its value ("return <line>" is tried first), a statement runs, an incomplete one
--- continues on the next line, an error is printed and the session goes on. Line editing,
--- history and Tab completion come from gt.readline; without a terminal, statements are read
--- from stdin with no prompts, and the exit status is 1 if any failed.
local fs = require("gt.fs")
local sys = require("gt.sys")
local errors = require("gt.errors")
local locate = require("gt.locate")
local readline = require("gt.readline")
local helpers = require("gt.repl_helpers")

local repl = {}

-- Pretty-printing ----------------------------------------------------------------------------

local KEYWORDS = {}
for word in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do KEYWORDS[word] = true end

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not KEYWORDS[s]
end

-- Names first, then numbers, then the rest.
local TYPE_RANK = { string = 1, number = 2, boolean = 3 }

local function key_order(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return (TYPE_RANK[ta] or 4) < (TYPE_RANK[tb] or 4) end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local function scalar(v)
  local t = type(v)
  if t == "string" then return ("%q"):format(v):gsub("\\\n", "\\n") end
  if t == "number" then return tostring(v) end
  if t == "function" then
    local info = debug.getinfo(v, "S")
    if info.what == "C" then return "<function (C)>" end
    return ("<function %s:%d>"):format(info.short_src, info.linedefined)
  end
  return tostring(v)
end

--- Formats a value for people: tables nested and sorted (the list part first, in order), gt
--- objects by their __tostring, long lists cut after opts.max_items (20) with a count, nesting
--- cut at opts.max_depth (4), cycles marked.
function repl.pretty(value, opts)
  opts = opts or {}
  local max_items, max_depth = opts.max_items or 20, opts.max_depth or 4
  local seen = {}
  local function fmt(v, depth, indent)
    if type(v) ~= "table" then return scalar(v) end
    local mt = getmetatable(v)
    if type(mt) == "table" and mt.__tostring then return tostring(v) end
    if seen[v] then return "<cycle>" end
    if next(v) == nil then return "{}" end
    if depth >= max_depth then return "{...}" end
    seen[v] = true
    local items = {}
    local n = #v
    for i = 1, math.min(n, max_items) do items[#items + 1] = fmt(v[i], depth + 1, indent .. "  ") end
    if n > max_items then items[#items + 1] = ("... (%d more, %d in all)"):format(n - max_items, n) end
    local keys = {}
    for k in pairs(v) do
      if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
    end
    table.sort(keys, key_order)
    local shown = 0
    for _, k in ipairs(keys) do
      shown = shown + 1
      if shown > max_items then
        items[#items + 1] = ("... (%d more fields)"):format(#keys - max_items)
        break
      end
      local label = is_identifier(k) and k or "[" .. scalar(k) .. "]"
      items[#items + 1] = label .. " = " .. fmt(v[k], depth + 1, indent .. "  ")
    end
    seen[v] = nil
    local one_line = "{ " .. table.concat(items, ", ") .. " }"
    if #one_line <= 80 and not one_line:find("\n", 1, true) then return one_line end
    return "{\n" .. indent .. "  " .. table.concat(items, ",\n" .. indent .. "  ") .. "\n" .. indent .. "}"
  end
  return fmt(value, 0, "")
end

-- Completion ---------------------------------------------------------------------------------

--- The value an expression like "gt.git" or "rig" names in env, or nil. Only names joined
--- by dots are followed: completing never calls a function.
local function resolve(env, path)
  if not path:match("^[%a_][%w_.]*$") or path:find("..", 1, true) or path:sub(-1) == "." then
    return nil
  end
  local value = env
  for name in path:gmatch("[^.]+") do
    if not is_identifier(name) then return nil end
    local t = type(value)
    if t ~= "table" and t ~= "userdata" and t ~= "string" then return nil end
    local ok, v = pcall(function() return value[name] end)
    if not ok then return nil end
    value = v
  end
  return value
end

--- Adds the names reachable by indexing `value` (its fields, and through metatables' __index
--- tables) to `out`; with methods_only, only functions.
local function fields(value, methods_only, out)
  local seen = {}
  local function add_table(t, depth)
    if depth > 5 or seen[t] then return end
    seen[t] = true
    for k, v in pairs(t) do
      if is_identifier(k) and (not methods_only or type(v) == "function") then out[k] = true end
    end
    local mt = getmetatable(t)
    if type(mt) == "table" and type(mt.__index) == "table" then add_table(mt.__index, depth + 1) end
  end
  if type(value) == "table" then
    add_table(value, 0)
  else
    local mt = getmetatable(value)
    if type(mt) == "table" and type(mt.__index) == "table" then add_table(mt.__index, 0) end
  end
end

--- Returns the completions of `word` in env: globals, keywords, fields of tables and methods
--- of objects ("rig:fe" -> "rig:fetch"), gt's modules ("gt.sn" -> "gt.snapshot").
function repl.complete(env, word)
  local prefix, sep, partial = word:match("^(.-)([.:])([%w_]*)$")
  local names = {}
  if not prefix then
    partial = word
    fields(env, false, names)
    for k in pairs(KEYWORDS) do names[k] = true end
  else
    local value = resolve(env, prefix)
    if value == nil then return {} end
    fields(value, sep == ":", names)
    if value == rawget(env, "gt") or value == gt then
      for _, m in ipairs(gt._modules()) do
        local sub = m:match("^gt%.([%w_]+)$")
        if sub then names[sub] = true end
      end
    end
  end
  local out = {}
  for name in pairs(names) do
    if name:sub(1, #partial) == partial then out[#out + 1] = (prefix and prefix .. sep or "") .. name end
  end
  table.sort(out)
  return out
end

-- Evaluation ---------------------------------------------------------------------------------

--- Compiles `src` as an expression, else as a statement. Returns the chunk, or nil, the error
--- and whether the input is only incomplete: more lines may finish it, as a statement ("for i
--- = 1, 3 do") or as an expression ("1 +", where lua.c gives up).
function repl.compile(src, env)
  local chunk, expr_err = load("return " .. src, "=stdin", "t", env)
  if chunk then return chunk end
  local err
  chunk, err = load(src, "=stdin", "t", env)
  if chunk then return chunk end
  return nil, err, err:sub(-5) == "<eof>" or expr_err:sub(-5) == "<eof>"
end

--- Runs `chunk`; returns true and its results (packed), or false and the error message.
function repl.execute(chunk)
  local results = table.pack(xpcall(chunk, function(e)
    if errors.is(e) then return e.message end
    return tostring(e)
  end))
  if not results[1] then return false, results[2] end
  return true, table.pack(table.unpack(results, 2, results.n))
end

-- The session --------------------------------------------------------------------------------

--- Makes the environment statements run in: `gt`, `town`, `rig`, the helpers, and _G behind.
function repl.environment(town, rig)
  local env = setmetatable({ gt = gt, town = town, rig = rig }, { __index = _G })
  for name, h in pairs(helpers.make(town, rig)) do env[name] = h.fn end
  return env
end

local function banner(town, rig)
  local where
  if rig then
    where = ("rig %s of town %s"):format(rig.name, town.root)
  elseif town then
    where = ("town %s (no rig: use --rig NAME)"):format(town.root)
  else
    where = "no town (use --town DIR)"
  end
  return ("gt %s repl: %s\n.help lists the helpers; Ctrl-D leaves."):format(gt.version, where)
end

local function dot_command(line, out, town, rig)
  local cmd = line:match("^%s*%.(%a+)%s*$")
  if cmd == "help" then
    out(helpers.help(town, rig))
    return true
  elseif cmd == "exit" or cmd == "quit" then
    return true, true
  end
  out("unknown command ." .. tostring(cmd) .. " (try .help)")
  return true
end

--- Runs a session. opts: town, rig (objects or nil), input (a function returning the next line
--- or nil, for scripts; default: the terminal when stdin is one, else stdin), interactive.
--- Returns the exit status: 1 if any statement failed, else 0.
function repl.run(opts)
  local town, rig = opts.town, opts.rig
  local env = repl.environment(town, rig)
  local interactive = opts.interactive
  if interactive == nil then interactive = sys.isatty("stdin") and sys.isatty("stdout") end
  local history
  if interactive then
    history = locate.state_home() .. "/gt/history"
    fs.mkdir_p(history:match("^(.*)/"))
    if not fs.stat(history) then
      local f = io.open(history, "a")
      if f then f:close() end
    end
    readline.truncate_history(history, 1000)
    readline.read_history(history)
    readline.set_completer(function(word) return repl.complete(env, word) end)
    io.stdout:write(banner(town, rig), "\n")
  end
  local read = opts.input or function(continued)
    if interactive then return readline.read(continued and ">> " or "gt> ") end
    return io.stdin:read("l")
  end
  local function out(s) io.stdout:write(s, "\n") io.stdout:flush() end
  local function err_out(s) io.stdout:flush() io.stderr:write(s, "\n") io.stderr:flush() end

  local failed = false
  local buffer
  while true do
    local line = read(buffer ~= nil)
    if line == nil then -- end of input
      if buffer then
        local _, err = repl.compile(buffer, env)
        err_out("error: " .. tostring(err))
        failed = true
      end
      if interactive then out("") end
      break
    end
    if line == false then -- Ctrl-C: drop what was typed
      buffer = nil
    elseif not buffer and line:match("^%s*%.%a+%s*$") then
      local _, leave = dot_command(line, out, town, rig)
      if interactive then readline.add_history(line); readline.append_history(history) end
      if leave then break end
    elseif buffer or line:match("%S") then
      buffer = buffer and (buffer .. "\n" .. line) or line
      local chunk, cerr, incomplete = repl.compile(buffer, env)
      if not incomplete then
        if interactive then
          readline.add_history(buffer)
          readline.append_history(history)
        end
        buffer = nil
        if not chunk then
          err_out("error: " .. cerr)
          failed = true
        else
          local ok, results = repl.execute(chunk)
          if not ok then
            err_out("error: " .. tostring(results))
            failed = true
            if gt._arm_interrupt then gt._arm_interrupt() end
          elseif results.n > 0 then
            local parts = {}
            for i = 1, results.n do parts[i] = repl.pretty(results[i]) end
            out(table.concat(parts, "\t"))
          end
        end
      end
    end
  end
  if readline then readline.set_completer(nil) end
  return failed and 1 or 0
end

return repl
