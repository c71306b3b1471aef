-- The layers of lua/gt (docs/design.md §5.3): a module requires only modules of its own layer
-- or of the layers below it, never one above. Read from the source, so that a new require that
-- points up fails here, as does a new module no layer names.
local fs = require("gt.fs")

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests/unit"
local root = fs.realpath(here .. "/../..")

--- Layers, bottom up.
local LAYERS = {
  { name = "C modules", "gt.fs", "gt.git", "gt.hash", "gt.ledger", "gt.pg", "gt.lock", "gt.proc",
    "gt.readline", "gt.snapshot", "gt.sys" },
  { name = "Lua utilities", "gt.errors", "gt.json", "gt.progress", "gt.output", "gt.names",
    "gt.branch", "gt.luafile", "gt.layout", "gt.locate", "gt.fault", "gt.files", "gt.hooks", "gt.trust",
    "gt.usercode", "gt.shell" },
  { name = "town and rig", "gt.store", "gt.filters", "gt.namepool", "gt.town", "gt.rig" },
  { name = "lifecycle", "gt.safety", "gt.salvage", "gt.reap", "gt.trash", "gt.session", "gt.polecat.spawn",
    "gt.polecat.journal", "gt.polecat.idle", "gt.polecat", "gt.sweep", "gt.stats", "gt.rig_remove",
    "gt.doctor" },
  { name = "commands and REPL", "gt.commands", "gt.commands.town", "gt.commands.ledger", "gt.commands.rig",
    "gt.commands.polecat", "gt.commands.session", "gt.commands.done", "gt.commands.sweep",
    "gt.commands.salvage", "gt.commands.admin", "gt.commands.shell",
    "gt.commands.repl", "gt.cli", "gt.manpage", "gt.repl",
    "gt.repl_helpers", "gt.startup", "gt.main" },
}

local layer_of = {}
for i, layer in ipairs(LAYERS) do
  for _, m in ipairs(layer) do layer_of[m] = i end
end

--- Every built-in Lua module: name -> path.
local function lua_modules()
  local found = {}
  local function walk(dir, prefix)
    for _, n in ipairs(assert(fs.dir(dir))) do
      local path = dir .. "/" .. n
      local st = fs.lstat(path)
      if st.type == "directory" and n ~= "_meta" then
        walk(path, prefix .. n .. ".")
      elseif n:match("%.lua$") then
        found[prefix .. n:gsub("%.lua$", "")] = path
      end
    end
  end
  walk(root .. "/lua/gt", "gt.")
  return found
end

--- The gt modules `path` requires by a literal name.
local function requires(path)
  local f = assert(io.open(path))
  local src = f:read("a")
  f:close()
  local list = {}
  for name in src:gmatch('require%(?%s*"(gt[%w_.]*)"') do
    if name:sub(-1) ~= "." then list[#list + 1] = name end -- require("gt." .. key) is no edge
  end
  return list
end

--- The requires of `modules` (name -> path) that point up, or at a module no layer names.
local function arrows_up(modules)
  local up = {}
  for name, path in pairs(modules) do
    for _, dep in ipairs(requires(path)) do
      local from, to = layer_of[name], layer_of[dep]
      if to == nil then
        up[#up + 1] = ("%s requires %s, which no layer names"):format(name, dep)
      elseif from and to > from then
        up[#up + 1] = ("%s (%s) requires %s (%s)"):format(name, LAYERS[from].name, dep, LAYERS[to].name)
      end
    end
  end
  table.sort(up)
  return up
end

describe("the layers of lua/gt", function()
  it("name every built-in module", function()
    local unnamed = {}
    for name in pairs(lua_modules()) do
      if not layer_of[name] then unnamed[#unnamed + 1] = name end
    end
    table.sort(unnamed)
    assert.same({}, unnamed)
  end)

  it("have no arrow going up", function()
    assert.same({}, arrows_up(lua_modules()))
  end)

  it("catch an arrow going up, and a require of an unknown module", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write('local cli = require("gt.cli")\nlocal x = require "gt.nowhere"\nlocal e = require("gt.errors")\n')
    f:close()
    local up = arrows_up({ ["gt.polecat"] = path })
    os.remove(path)
    assert.same({ "gt.polecat (lifecycle) requires gt.cli (commands and REPL)",
      "gt.polecat requires gt.nowhere, which no layer names" }, up)
  end)
end)
