--- gt.commands: the command table. Each command is data: its name ("polecat add"), a summary,
--- its arguments, options and flags (help and completion are generated from them), what it
--- needs resolved before it runs ("town", "rig" or nothing), and a run function.
---
---   {
---     name = "polecat add",
---     summary = "Spawn a polecat",
---     arguments = { { "name", "name of the polecat" } },
---     options = { { "--issue", "issue it works on", argname = "<id>" } },
---     flags = { { "--json", "print JSON" } },
---     needs = "rig",
---     run = function(cmd) ... end,  -- cmd.args (parsed), cmd.town, cmd.rig; returns exit status
---   }
local commands = {}

--- One-line summaries of the command groups ("gt rig ...", "gt polecat ...").
commands.groups = {
  rig = "Add and list rigs: the projects polecats work on.",
  polecat = "Spawn, list, inspect and remove polecats.",
}

--- Modules holding the built-in commands, in the order help lists them.
commands.builtin_modules = { "gt.commands.town", "gt.commands.rig", "gt.commands.polecat" }

local registry = {}
local order = {}

local function check_spec(spec, level)
  if type(spec) ~= "table" then error("command spec must be a table", level) end
  local name = spec.name
  if type(name) ~= "string" or not name:match("^[%w][%w -]*$") or name:find("  ", 1, true)
      or name:match(" $") then
    error("command name must be words separated by spaces, got " .. tostring(spec.name), level)
  end
  if type(spec.run) ~= "function" then error("command " .. spec.name .. " needs a run function", level) end
end

--- Adds (or replaces) a command.
function commands.register(spec)
  check_spec(spec, 3)
  if not registry[spec.name] then order[#order + 1] = spec.name end
  registry[spec.name] = spec
  return spec
end

--- Returns the command called `name`, or nil.
function commands.get(name)
  return registry[name]
end

--- Returns every command, in registration order.
function commands.all()
  local list = {}
  for i, name in ipairs(order) do list[i] = registry[name] end
  return list
end

--- Registers the built-in commands (once).
function commands.load_builtins()
  if commands._loaded then return end
  commands._loaded = true
  for _, mod in ipairs(commands.builtin_modules) do
    for _, spec in ipairs(require(mod)) do commands.register(spec) end
  end
end

return commands
