-- The lazy `gt` table (lua/gt/main.lua): gt.<module> loads gt's own top-level modules (those
-- gt._modules() names) through require, raising require's error when one fails to load; any
-- other key is nil and loads nothing.
local helpers = require("helpers")

local gt_ = helpers.gt
-- The source tree, for lua/.
local ROOT = require("gt.fs").realpath(debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") .. "/../..")

local function pat(s) return (s:gsub("%p", "%%%0")) end

describe("gt.<module>", function()
  local dir, rt, broken
  -- A copy of lua/ (GT_RUNTIME) where one built-in module does not compile: gt.names, or another
  -- top-level Lua module if gt -l loads that one before the script runs.
  before_each(function()
    dir = helpers.tmpdir("lazy")
    rt = dir .. "/lua"
    assert.equal(0, helpers.run({ "cp", "-R", ROOT .. "/lua", rt }).code)
    helpers.write(dir .. "/probe.lua", [[
      local found = {}
      for _, name in ipairs(gt._modules()) do
        local sub = name:match("^gt%.([%w_]+)$")
        local f = sub and io.open(arg[1] .. "/gt/" .. sub .. ".lua")
        if f then f:close() end
        if f and not package.loaded[name] then found[#found + 1] = sub end
      end
      table.sort(found)
      for _, sub in ipairs(found) do
        if sub == "names" then found[1] = sub end
      end
      io.write(found[1] or "")
    ]])
    local code, out, err = gt_({ "-l", dir .. "/probe.lua", rt }, { env = { GT_RUNTIME = rt } })
    assert.equal(0, code, err)
    assert.is_true(out ~= "", "every top-level built-in Lua module is loaded before the script runs")
    broken = out
    local path = rt .. "/gt/" .. broken .. ".lua"
    helpers.write(path, "local = 1\n" .. assert(helpers.read(path)))
  end)

  it("raises the error of a built-in module that fails to load, naming its file", function()
    helpers.write(dir .. "/s.lua", ("print(gt.%s.valid)\n"):format(broken))
    local code, out, err = gt_({ "-l", dir .. "/s.lua" }, { env = { GT_RUNTIME = rt } })
    assert.equal(1, code)
    assert.equal("", out)
    local file = ("%s/gt/%s.lua"):format(rt, broken)
    -- Lua shortens a long chunk name to "...<its last 57 characters>" in the second line.
    assert.matches(("^gt: error loading module 'gt%%.%s' from file '%s':\n\t[^\n]*/gt/%s%%.lua:1: " ..
      "<name> expected near '='\n"):format(broken, pat(file), broken), err)
    assert.not_matches("attempt to index a nil value", err)
  end)

  it("raises it again on the next use; unknown keys are nil and load nothing; gt.fs works", function()
    helpers.write(dir .. "/s.lua", [[
      local broken = ...
      package.preload["gt.nonexistent_xyz"] = function() error("gt.nonexistent_xyz was loaded") end
      print(gt.nonexistent_xyz, rawget(gt, "nonexistent_xyz"), gt[1], gt[true], gt.commands_polecat)
      print(gt.fs == require("gt.fs"), rawget(gt, "fs") == require("gt.fs"), gt.fs.cwd() ~= nil)
      for _ = 1, 2 do
        local ok, err = pcall(function() return gt[broken] end)
        print(ok, (err:gsub("\n.*", "")))
      end
      print(rawget(gt, broken))
    ]])
    local code, out, err = gt_({ "-l", dir .. "/s.lua", broken }, { env = { GT_RUNTIME = rt } })
    assert.equal(0, code, err)
    assert.equal("", err)
    local loading = ("false\terror loading module 'gt.%s' from file '%s/gt/%s.lua':\n"):format(broken, rt, broken)
    assert.equal("nil\tnil\tnil\tnil\tnil\ntrue\ttrue\ttrue\n" .. loading .. loading .. "nil\n", out)
  end)

end)

describe("gt.<module> with the built-in Lua", function()
  local dir
  before_each(function() dir = helpers.tmpdir("lazy") end)

  it("loads top-level modules only, through package.searchers", function()
    -- package.preload is the first searcher: a module it provides is the one gt.<module> gives.
    helpers.write(dir .. "/s.lua", [[
      local sub
      for _, name in ipairs(gt._modules()) do
        local s = name:match("^gt%.([%w_]+)$")
        if s and not package.loaded[name] and not package.preload[name] then sub = s break end
      end
      package.preload["gt." .. sub] = function() return { marker = "preloaded" } end
      print(gt[sub].marker, gt.commands == require("gt.commands"), gt["commands.polecat"])
    ]])
    local code, out, err = gt_({ "-l", dir .. "/s.lua" }, { env = { GT_RUNTIME = false } })
    assert.equal(0, code, err)
    assert.equal("preloaded\ttrue\tnil\n", out)
  end)

  it("honours a user's override of a module (gt repl)", function()
    local config = dir .. "/config"
    helpers.write(config .. "/gt/lua/gt/json.lua", 'return { marker = "user json" }\n')
    local r = helpers.run({ gt.executable, "repl" }, { cwd = dir, stdin = "gt.json.marker\ngt.nonexistent_xyz\n",
      env = { XDG_CONFIG_HOME = config, GT_RUNTIME = false } })
    assert.equal(0, r.code, r.stderr)
    assert.equal('"user json"\nnil\n', r.stdout)
  end)
end)
