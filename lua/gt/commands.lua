--- gt.commands: the command table. Each command is data: its name ("polecat add"), a summary,
--- its arguments, options and flags (help and completion are generated from them), what it
--- needs resolved before it runs ("town", "rig" or nothing), and a run function.
---
---   gt.commands.register({
---     name = "polecat sweep",
---     summary = "Remove every polecat whose work is safe elsewhere.",
---     arguments = { { "names", "Polecats to consider.", args = "*" } },
---     options = { { "--older-than", "Only those idle this long.", argname = "<days>" } },
---     flags = { { "--json", "Print JSON." } },
---     needs = "rig",
---     run = function(cmd) ... end,  -- cmd.args (parsed), cmd.town, cmd.rig; returns exit status
---   })
---   gt.commands.override("polecat add", function(orig, cmd) ... return orig(cmd) end)
---
--- `raw = true`: argparse leaves the words after the command as they are, options included, in
--- its one argument (args = "*"); the run function parses them (gt polecat run).
local output = require("gt.output")

local commands = {}

--- One-line summaries of the command groups ("gt rig ...", "gt polecat ...").
commands.groups = {
  rig = "Add and list rigs: the projects polecats work on.",
  polecat = "Spawn, list, inspect and remove polecats.",
  hooks = "Inspect the hooks user code registered.",
  salvage = "List, show, restore and drop the work gt saved.",
}

--- Modules holding the built-in commands, in the order help lists them.
commands.builtin_modules = { "gt.commands.town", "gt.commands.rig", "gt.commands.polecat",
  "gt.commands.session", "gt.commands.done", "gt.commands.sweep", "gt.commands.salvage",
  "gt.commands.admin", "gt.commands.shell", "gt.commands.repl", "gt.commands.ledger" }

local registry = {}
local order = {}
local loading_builtins = false

--- "file:line" of the user code calling into this module.
local function caller()
  for level = 3, 8 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.short_src ~= debug.getinfo(1, "S").short_src then
      local file = info.source:sub(1, 1) == "@" and info.source:sub(2) or info.short_src
      return file .. ":" .. (info.currentline or 0)
    end
  end
  return "?"
end

local function check_spec(spec, level)
  if type(spec) ~= "table" then error("a command spec must be a table", level) end
  local name = spec.name
  if type(name) ~= "string" or not name:match("^[%w][%w -]*$") or name:find("  ", 1, true)
      or name:match(" $") then
    error("a command name is words separated by single spaces, got " .. tostring(name), level)
  end
  if type(spec.run) ~= "function" then error("command " .. name .. " needs a run function", level) end
  for _, key in ipairs({ "arguments", "options", "flags" }) do
    if spec[key] ~= nil and type(spec[key]) ~= "table" then
      error(("command %s: %s must be a list"):format(name, key), level)
    end
  end
  if spec.needs ~= nil and spec.needs ~= "town" and spec.needs ~= "rig" then
    error(("command %s: needs must be \"town\" or \"rig\""):format(name), level)
  end
end

--- Registers the built-in commands (once, before any user command).
function commands.load_builtins()
  if commands._loaded then return end
  commands._loaded = true
  loading_builtins = true
  for _, mod in ipairs(commands.builtin_modules) do
    for _, spec in ipairs(require(mod)) do
      spec.source = "built-in"
      commands.register(spec)
    end
  end
  loading_builtins = false
end

--- Adds a command, or replaces the one of the same name (gt --verbose says so).
function commands.register(spec)
  commands.load_builtins()
  check_spec(spec, 3)
  if not loading_builtins then spec.source = spec.source or caller() end
  local old = registry[spec.name]
  if old then
    output.verbose("command '%s' from %s replaces the one from %s", spec.name, spec.source, old.source)
  else
    order[#order + 1] = spec.name
  end
  registry[spec.name] = spec
  return spec
end

--- Wraps command `name`: `fn(orig, cmd)` runs instead of it, and may call `orig(cmd)`.
function commands.override(name, fn)
  commands.load_builtins()
  local spec = registry[name]
  if not spec then error("no command " .. tostring(name) .. " to override", 2) end
  if type(fn) ~= "function" then error("override needs a function", 2) end
  local wrapped = {}
  for k, v in pairs(spec) do wrapped[k] = v end
  local orig = spec.run
  wrapped.run = function(cmd) return fn(orig, cmd) end
  wrapped.source = caller()
  output.verbose("command '%s' is wrapped by %s", name, wrapped.source)
  registry[name] = wrapped
  return wrapped
end

--- Returns the command called `name`, or nil.
function commands.get(name)
  commands.load_builtins()
  return registry[name]
end

--- Returns every command, in registration order.
function commands.all()
  commands.load_builtins()
  local list = {}
  for i, name in ipairs(order) do list[i] = registry[name] end
  return list
end

--- The table as it is now, for rollback (gt.usercode). The built-ins are not loaded for it:
--- loading a module override must not load every command module.
function commands.checkpoint()
  local snap = { loaded = commands._loaded, order = { table.unpack(order) }, registry = {} }
  for k, v in pairs(registry) do snap.registry[k] = v end
  return snap
end

--- Puts back the table of a checkpoint (a broken user file's commands are dropped; built-ins
--- it caused to load are loaded again when next needed).
function commands.rollback(snap)
  commands._loaded = snap.loaded
  for i = #order, 1, -1 do order[i] = nil end
  for i, n in ipairs(snap.order) do order[i] = n end
  for k in pairs(registry) do registry[k] = nil end
  for k, v in pairs(snap.registry) do registry[k] = v end
end

return commands
