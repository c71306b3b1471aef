-- gt.startup: the prescan of the global options (in-process), and, in fresh gt processes with
-- user folders of their own (gt.startup puts a searcher in package.searchers and keeps module
-- state), the folders of user code found for a command and the module overrides it loads:
-- rig over town over user over the built-ins, a broken one skipped with a one-line warning, a
-- gt module that is no table refused, a folder the user does not own not run. The towns and
-- rigs are folders with the files that mark them (.gt/town.lua, .gt/rig.lua): gt.startup finds
-- them by those files alone.
local startup = require("gt.startup")
local errors = require("gt.errors")
local fs = require("gt.fs")
local helpers = require("helpers")

--- Calls fn(...) and returns the gt error it raised; fails the test if it raised none.
local function gt_error(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "no error was raised")
  assert.is_true(errors.is(e), "not a gt error: " .. tostring(e))
  return e
end

describe("gt.startup", function()
  describe("prescan", function()
    it("reads --clean, --verbose and -v, --town and --rig, with a value apart or after =", function()
      assert.same({}, startup.prescan({}))
      assert.same({}, startup.prescan({ "polecat", "list" }))
      assert.same({ clean = true, verbose = true }, startup.prescan({ "--clean", "polecat", "list", "-v" }))
      assert.same({ verbose = true }, startup.prescan({ "--verbose" }))
      assert.same({ town = "/t", rig = "demo" }, startup.prescan({ "--town", "/t", "polecat", "--rig", "demo", "add" }))
      assert.same({ town = "/t=x", rig = "web" }, startup.prescan({ "--town=/t=x", "--rig=web" }))
      -- The last one given wins; the word after --town is its value, whatever it looks like.
      assert.same({ town = "/b" }, startup.prescan({ "--town=/a", "--town", "/b" }))
      assert.same({ town = "--clean" }, startup.prescan({ "--town", "--clean" }))
      -- Look-alikes are not these options.
      assert.same({}, startup.prescan({ "--towns=x", "-town", "--clean-up", "--rigs", "x" }))
    end)

    it("stops at --: what follows is a command's own", function()
      assert.same({ rig = "demo" }, startup.prescan({ "--rig", "demo", "hello", "--", "--clean", "--town=", "-v" }))
      assert.same({}, startup.prescan({ "--", "--town", "" }))
    end)

    it("refuses an empty --town or --rig (a usage error: it would mean the default)", function()
      local e = gt_error(startup.prescan, { "--town=" })
      assert.same({ "usage", 2, "--town needs a folder, not an empty string" }, { e.kind, e.exit, e.message })
      e = gt_error(startup.prescan, { "polecat", "list", "--town", "" })
      assert.equal("--town needs a folder, not an empty string", e.message)
      e = gt_error(startup.prescan, { "--rig=" })
      assert.same({ "usage", "--rig needs a name, not an empty string" }, { e.kind, e.message })
      e = gt_error(startup.prescan, { "--rig", "", "--town", "/t" })
      assert.equal("--rig needs a name, not an empty string", e.message)
    end)
  end)

  describe("in a fresh gt", function()
    local dir, town, rig, config, state
    before_each(function()
      dir = helpers.tmpdir("startup")
      town, config, state = dir .. "/town", dir .. "/config", dir .. "/state"
      rig = town .. "/demo"
      helpers.write(town .. "/.gt/town.lua", "return {}\n")
      helpers.write(rig .. "/.gt/rig.lua", "return {}\n")
      assert(fs.mkdir_p(rig .. "/polecats/a/demo/src"))
    end)

    --- Runs `body` in a child gt with this test's user folders; `own`: folders to record as
    --- the user's own first. Returns the result table (values, stderr).
    local function child(body, args, opts)
      opts = opts or {}
      local full = { table.concat(opts.own or {}, "\n"), body }
      for _, a in ipairs(args or {}) do full[#full + 1] = a end
      local res = helpers.lua_child([[
local own, body = ...
for d in own:gmatch("[^\n]+") do require("gt.trust").own(d) end
return assert(load(body, "=test", "t"))(select(3, ...))
]], full, {
        env = { XDG_CONFIG_HOME = config, XDG_STATE_HOME = state, GT_TOWN = opts.gt_town or false,
          GT_RIG = opts.gt_rig or false },
        cwd = opts.cwd })
      assert(res.ok, tostring(res.message) .. "\n" .. res.stderr)
      return res
    end

    describe("folders", function()
      local FOLDERS = [[
local town, rig = ...
local flags = { town = town ~= "-" and town or nil, rig = rig ~= "-" and rig or nil }
return require("gt.startup").folders(flags)
]]
      local function folders(town_flag, rig_flag, opts)
        local res = child(FOLDERS, { town_flag or "-", rig_flag or "-" }, opts)
        return res[1], res[2]
      end

      it("finds only the user's folder outside a town", function()
        local f, owned = folders(nil, nil, { cwd = dir })
        assert.same({ user = config .. "/gt" }, f)
        assert.same({}, owned)
        -- A --town that is not a town is no town of user code.
        f = folders(dir, nil, { cwd = dir })
        assert.same({ user = config .. "/gt" }, f)
      end)

      it("finds the town and rig of --town and --rig, owned or not", function()
        local f, owned = folders(town, "demo")
        assert.same({ user = config .. "/gt", town = town .. "/.gt", rig = rig .. "/.gt" }, f)
        assert.same({ town = false, rig = false }, owned)
        owned = select(2, folders(town, "demo", { own = { town } }))
        assert.same({ town = true, rig = false }, owned)
        f, owned = folders(town, "demo", { own = { town, rig } })
        assert.same({ user = config .. "/gt", town = town .. "/.gt", rig = rig .. "/.gt" }, f)
        assert.same({ town = true, rig = true }, owned)
      end)

      it("finds them from the current folder, deep in a polecat's worktree, by real path", function()
        assert.is_true(helpers.run({ "ln", "-s", town, dir .. "/alias" }).ok)
        local f, owned = folders(nil, nil, { cwd = dir .. "/alias/demo/polecats/a/demo/src", own = { rig } })
        assert.same({ user = config .. "/gt", town = town .. "/.gt", rig = rig .. "/.gt" }, f)
        assert.same({ town = false, rig = true }, owned)
        -- Through --town given as the link: the real path.
        f = folders(dir .. "/alias", "demo")
        assert.same({ user = config .. "/gt", town = town .. "/.gt", rig = rig .. "/.gt" }, f)
        -- And through GT_TOWN and GT_RIG.
        f = folders(nil, nil, { cwd = dir, gt_town = town, gt_rig = "demo" })
        assert.same({ user = config .. "/gt", town = town .. "/.gt", rig = rig .. "/.gt" }, f)
      end)

      it("finds no rig that is not one: no rig.lua, a name that is a path", function()
        assert(fs.mkdir_p(town .. "/plain/.gt"))
        for _, name in ipairs({ "plain", "missing", "../town/demo", "demo/polecats", ".gt" }) do
          local f, owned = folders(town, name)
          assert.same({ user = config .. "/gt", town = town .. "/.gt" }, f, name)
          assert.same({ town = false }, owned, name)
        end
      end)
    end)

    describe("module overrides", function()
      --- Writes module `name` of `level` ("rig", "town", "user") with `source`; returns its path.
      local function module(level, name, source)
        local root = ({ rig = rig .. "/.gt/lua", town = town .. "/.gt/lua", user = config .. "/gt/lua" })[level]
        local path = root .. "/" .. name:gsub("%.", "/") .. ".lua"
        helpers.write(path, source)
        return path
      end

      -- Runs startup.run for the town and rig, then requires modules (the arguments after the
      -- first) and says where each came from: its `from` field, "built-in", or the error.
      local REQUIRE = [[
local startup = require("gt.startup")
local verbose, town, rig = ...
startup.run({ town = town, rig = rig, verbose = verbose == "verbose" or nil })
local got = {}
for i = 4, select("#", ...) do
  local name = select(i, ...)
  local ok, m = pcall(require, name)
  if not ok then got[name] = "error: " .. tostring(m)
  elseif type(m) == "table" then got[name] = m.from or "built-in"
  else got[name] = m end
end
return got, startup.overrides, require("gt.usercode").problems
]]
      local function load_modules(opts, ...)
        local res = child(REQUIRE, { opts.verbose and "verbose" or "quiet", town, "demo", ... },
          { own = opts.own or { town, rig } })
        return res[1], res[2], res[3], res.stderr
      end

      it("takes a module from the rig, else the town, else the user, else the built-in", function()
        local paths = {}
        for _, level in ipairs({ "rig", "town", "user" }) do
          paths[level] = module(level, "gt.probe_all", ("return { from = %q }\n"):format(level))
        end
        for _, level in ipairs({ "town", "user" }) do
          module(level, "gt.probe_town", ("return { from = %q }\n"):format(level))
        end
        module("user", "gt.probe_user", 'return { from = "user" }\n')
        local names_path = module("user", "gt.names", 'return { from = "user" }\n')
        local branch_path = module("town", "gt.branch", 'return { from = "town" }\n')
        local got, overrides, problems, err = load_modules({ verbose = true }, "gt.probe_all", "gt.probe_town",
          "gt.probe_user", "gt.names", "gt.branch", "gt.filters")
        assert.same({ ["gt.probe_all"] = "rig", ["gt.probe_town"] = "town", ["gt.probe_user"] = "user",
          ["gt.names"] = "user", ["gt.branch"] = "town", ["gt.filters"] = "built-in" }, got)
        assert.same({ ["gt.probe_all"] = paths.rig, ["gt.probe_town"] = town .. "/.gt/lua/gt/probe_town.lua",
          ["gt.probe_user"] = config .. "/gt/lua/gt/probe_user.lua", ["gt.names"] = names_path,
          ["gt.branch"] = branch_path }, overrides)
        assert.same({}, problems)
        -- gt --verbose says where each came from.
        assert.equal("gt: module gt.probe_all comes from " .. paths.rig .. "\n" ..
          "gt: module gt.probe_town comes from " .. town .. "/.gt/lua/gt/probe_town.lua\n" ..
          "gt: module gt.probe_user comes from " .. config .. "/gt/lua/gt/probe_user.lua\n" ..
          "gt: module gt.names comes from " .. names_path .. "\n" ..
          "gt: module gt.branch comes from " .. branch_path .. "\n", err)
      end)

      it("cannot replace what gt loaded before the user's folders were known", function()
        module("user", "gt.errors", 'return { from = "user" }\n')
        module("rig", "gt.trust", 'return { from = "rig" }\n')
        local got, overrides, _, err = load_modules({ verbose = true }, "gt.errors", "gt.trust")
        assert.same({ ["gt.errors"] = "built-in", ["gt.trust"] = "built-in" }, got)
        assert.same({}, overrides)
        assert.equal("", err)
      end)

      it("skips a broken override with a one-line warning, and uses the next folder's or the built-in", function()
        local raising = module("rig", "gt.probe_a", "local x = 1\nerror('broken')\n")
        module("town", "gt.probe_a", 'return { from = "town" }\n')
        local syntax = module("rig", "gt.probe_b", "return {\n")
        module("user", "gt.probe_b", 'return { from = "user" }\n')
        local names = module("town", "gt.names", "return { from = 'town' } + 1\n")
        local folder = rig .. "/.gt/lua/gt/branch.lua"
        assert(fs.mkdir_p(folder))
        local got, overrides, problems, err = load_modules({}, "gt.probe_a", "gt.probe_b", "gt.names", "gt.branch")
        assert.same({ ["gt.probe_a"] = "town", ["gt.probe_b"] = "user", ["gt.names"] = "built-in",
          ["gt.branch"] = "built-in" }, got)
        assert.same({ ["gt.probe_a"] = town .. "/.gt/lua/gt/probe_a.lua",
          ["gt.probe_b"] = config .. "/gt/lua/gt/probe_b.lua" }, overrides)
        local why = {
          raising .. ":2: broken",
          syntax .. ":2: unexpected symbol near <eof>",
          names .. ":1: attempt to perform arithmetic on a table value",
          folder .. ": not a regular file (directory)",
        }
        local lines = {}
        for i, w in ipairs(why) do lines[i] = "gt: module override failed, going on without it: " .. w .. "\n" end
        assert.equal(table.concat(lines), err)
        assert.same({
          { kind = "override", path = raising, message = why[1] },
          { kind = "override", path = syntax, message = why[2] },
          { kind = "override", path = names, message = why[3] },
          { kind = "override", path = folder, message = why[4] },
        }, problems)
      end)

      it("refuses an override of a gt module that returns no table; another module may", function()
        local path = module("rig", "gt.probe_n", "return 42\n")
        module("town", "gt.probe_n", 'return { from = "town" }\n')
        local none = module("user", "gt.names", "local names = {}\n")
        module("user", "probe_plain", "return 42\n")
        local got, overrides, problems, err = load_modules({}, "gt.probe_n", "gt.names", "probe_plain")
        assert.same({ ["gt.probe_n"] = "town", ["gt.names"] = "built-in", probe_plain = 42 }, got)
        assert.same({ ["gt.probe_n"] = town .. "/.gt/lua/gt/probe_n.lua",
          probe_plain = config .. "/gt/lua/probe_plain.lua" }, overrides)
        assert.equal("gt: module override failed, going on without it: " .. path ..
          ": module gt.probe_n returned 42, not a table\n" ..
          "gt: module override failed, going on without it: " .. none ..
          ": module gt.names returned nil, not a table\n", err)
        assert.equal(2, #problems)
      end)

      -- An override runs through gt.usercode, as every user file does.
      it("drops what a broken override registered, and keeps its globals out of _G", function()
        module("user", "gt.probe_h", "leaked = true\ngt.hooks.on('pre_spawn', function() end)\nerror('late')\n")
        local res = child([[
require("gt.startup").run({})
local ok = pcall(require, "gt.probe_h")
return ok, #require("gt.hooks").list(), rawget(_G, "leaked")
]])
        assert.same({ false, 0 }, { res[1], res[2], res[3] })
      end)

      it("raises require's error when every override of a module without a built-in is broken", function()
        module("rig", "gt.probe_gone", "error('broken')\n")
        local got = load_modules({}, "gt.probe_gone")
        assert.equal("error: module 'gt.probe_gone' not found", got["gt.probe_gone"])
      end)

      it("does not load an override of a town the user does not own, unless the file is trusted", function()
        local path = module("town", "gt.probe_t", 'return { from = "town" }\n')
        module("user", "gt.probe_t", 'return { from = "user" }\n')
        module("rig", "gt.probe_r", 'return { from = "rig" }\n')
        local got, overrides, problems, err = load_modules({ own = { rig } }, "gt.probe_t", "gt.probe_r")
        assert.same({ ["gt.probe_t"] = "user", ["gt.probe_r"] = "rig" }, got)
        assert.equal(config .. "/gt/lua/gt/probe_t.lua", overrides["gt.probe_t"])
        local refusal = path .. " was not run: " .. town .. " is not a town or rig you made here " ..
          "(gt init, gt rig add); if it is yours: gt trust " .. town
        assert.equal("gt: " .. refusal .. "\n", err)
        assert.same({ { kind = "untrusted", path = path, message = refusal } }, problems)
        -- The file itself trusted: it loads.
        local res = helpers.lua_child('require("gt.trust").add(...)', { path }, { env = { XDG_STATE_HOME = state } })
        assert(res.ok, res.message)
        got, overrides, problems, err = load_modules({ own = { rig } }, "gt.probe_t")
        assert.equal(path, overrides["gt.probe_t"])
        assert.same({ ["gt.probe_t"] = "town" }, got)
        assert.same({}, problems)
        assert.equal("", err)
      end)
    end)

    describe("run", function()
      local RUN = [[
local startup = require("gt.startup")
local before = #package.searchers
startup.run(require("gt.startup").prescan({ ... }))
return #package.searchers - before, require("gt.usercode").enabled, require("gt.usercode").problems
]]
      --- Writes an init file of `level` that appends its name to the log file.
      local function init(path, name)
        helpers.write(path, ("local f = assert(io.open(%q, 'a')) f:write(%q) f:close()\n"):format(
          dir .. "/log", name .. "\n"))
      end

      it("runs the init files of the user, the town and the rig, in that order", function()
        init(rig .. "/.gt/init.lua", "rig")
        init(config .. "/gt/init.lua", "user")
        init(town .. "/.gt/init.lua", "town")
        local res = child(RUN, { "--town", town, "--rig", "demo", "polecat", "list" }, { own = { town, rig } })
        assert.same({ 1, true, {} }, { res[1], res[2], res[3] })
        assert.equal("", res.stderr)
        assert.equal("user\ntown\nrig\n", helpers.read(dir .. "/log"))
      end)

      it("with --clean, runs no user code and puts no searcher in place", function()
        init(config .. "/gt/init.lua", "user")
        init(town .. "/.gt/init.lua", "town")
        local res = child(RUN, { "--clean", "--town", town }, { own = { town } })
        assert.same({ 0, false, {} }, { res[1], res[2], res[3] })
        assert.is_nil(helpers.read(dir .. "/log"))
      end)
    end)
  end)
end)
