-- gt.hooks in-process: registering (and what a mistake in it says), listing, running (order,
-- folder, the error that stops a run), hooks scoped to one polecat, and the checkpoints gt.usercode
-- rolls a broken file back with. Hooks are defined in chunks loaded under a file's name, as
-- an init file is, so that their file and line are known. The registrations are module state:
-- each test starts from none and puts back what was there. The record of init files that did not
-- load cannot be cleared: those tests run in a fresh gt process.
local hooks = require("gt.hooks")
local errors = require("gt.errors")
local fs = require("gt.fs")
local helpers = require("helpers")

--- Runs `source` as the file `path` (its chunk name; the file need not exist) with `...`;
--- returns what it returned.
local function user_file(path, source, ...)
  return assert(load(source, "@" .. path, "t"))(...)
end

--- Calls fn(...) and returns the error it raised; fails the test if it raised none.
local function raised(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "no error was raised")
  return e
end

local NONE = { pre_spawn = {}, post_spawn = {}, pre_remove = {}, post_remove = {} }

--- The {event, where, only} of every registration, in the order they run.
local function listed(event)
  local out = {}
  for i, h in ipairs(hooks.list(event)) do
    assert.equal(h.file .. ":" .. h.line, h.where)
    out[i] = { h.event, h.where, h.only }
  end
  return out
end

describe("gt.hooks", function()
  local saved, log
  before_each(function()
    saved = hooks.checkpoint()
    hooks.rollback(NONE)
    log = {}
  end)
  after_each(function()
    hooks.rollback(saved)
  end)

  --- Registers, from file `path`, a hook of `event` on each line from 1 that appends
  --- "<tag>" to the log; returns their unregister functions.
  local function logging(path, ...)
    local src = {}
    for i, ev in ipairs({ ... }) do
      src[i] = ("off[%d] = gt_hooks.on(%q, function(ctx) log[#log + 1] = %q end)"):format(i, ev, ev .. i)
    end
    local env = { gt_hooks = hooks, log = log, off = {} }
    assert(load(table.concat(src, "\n"), "@" .. path, "t", env))()
    return env.off
  end

  describe("on", function()
    it("refuses an unknown event, naming the caller's file and line and the events", function()
      local e = raised(user_file, "/u/init.lua", "local hooks = ...\n\nhooks.on('pre_spwan', function() end)\n", hooks)
      assert.equal("/u/init.lua:3: unknown hook event 'pre_spwan' " ..
        "(events: pre_spawn, post_spawn, pre_remove, post_remove)", e)
      e = raised(user_file, "/u/init.lua", "local hooks = ...\nhooks.on('a\\tb\\n', print)\n", hooks)
      assert.equal("/u/init.lua:2: unknown hook event 'a\\tb\\n' " ..
        "(events: pre_spawn, post_spawn, pre_remove, post_remove)", e)
      e = raised(user_file, "/u/init.lua", "local hooks = ...\nhooks.on(nil, print)\n", hooks)
      assert.matches("^/u/init%.lua:2: unknown hook event 'nil' ", e)
      assert.same({}, hooks.list())
    end)

    it("refuses what is not a function, naming the caller's file and line", function()
      for _, v in ipairs({ "'print'", "{}", "nil", "42" }) do
        local e = raised(user_file, "/u/init.lua", "local hooks = ...\nhooks.on('post_spawn', " .. v .. ")\n", hooks)
        assert.equal("/u/init.lua:2: a hook must be a function", e)
      end
      assert.same({}, hooks.list())
    end)
  end)

  describe("list", function()
    it("lists every event's hooks in the order they run, with file:line", function()
      logging("/u/init.lua", "post_remove", "pre_spawn", "post_spawn", "pre_spawn")
      logging("/t/.gt/init.lua", "pre_remove", "pre_spawn")
      assert.same({
        { "pre_spawn", "/u/init.lua:2" },
        { "pre_spawn", "/u/init.lua:4" },
        { "pre_spawn", "/t/.gt/init.lua:2" },
        { "post_spawn", "/u/init.lua:3" },
        { "pre_remove", "/t/.gt/init.lua:1" },
        { "post_remove", "/u/init.lua:1" },
      }, listed())
      assert.same({ { "pre_remove", "/t/.gt/init.lua:1" } }, listed("pre_remove"))
      local h = hooks.list("post_spawn")[1]
      assert.same({ event = "post_spawn", file = "/u/init.lua", line = 3, where = "/u/init.lua:3" }, h)
    end)

    it("names the line where a hook's function starts, and a chunk without a file by its name", function()
      user_file("/u/init.lua", [[
local hooks = ...
hooks.on("pre_spawn",

  function(ctx)
    return ctx
  end)
local function named() end
hooks.on("pre_spawn", named)
]], hooks)
      assert(load("local hooks = ...\nhooks.on('post_spawn', function() end)", "=(repl)"))(hooks)
      assert.same({ { "pre_spawn", "/u/init.lua:4" }, { "pre_spawn", "/u/init.lua:7" },
        { "post_spawn", "(repl):2" } }, listed())
    end)

    it("is empty for an event without hooks", function()
      logging("/u/init.lua", "pre_spawn")
      assert.same({}, hooks.list("post_remove"))
    end)
  end)

  describe("unregister", function()
    it("removes that registration only, once", function()
      local off = logging("/u/init.lua", "pre_spawn", "pre_spawn", "post_spawn")
      off[1]()
      assert.same({ { "pre_spawn", "/u/init.lua:2" }, { "post_spawn", "/u/init.lua:3" } }, listed())
      off[1]() -- again: nothing more goes
      assert.same({ { "pre_spawn", "/u/init.lua:2" }, { "post_spawn", "/u/init.lua:3" } }, listed())
      hooks.run("pre_spawn", {})
      assert.same({ "pre_spawn2" }, log)
    end)

    it("of a function registered twice, removes the registration it was returned for", function()
      local calls = 0
      local function fn() calls = calls + 1 end
      local first = hooks.on("post_remove", fn)
      local second = hooks.on("post_remove", fn)
      second()
      hooks.run("post_remove", {})
      assert.equal(1, calls)
      first()
      hooks.run("post_remove", {})
      assert.equal(1, calls)
      assert.same({}, hooks.list())
    end)
  end)

  describe("run", function()
    it("runs the event's hooks in registration order with the context table, and no others", function()
      logging("/u/init.lua", "pre_spawn", "post_spawn", "pre_spawn")
      logging("/r/.gt/init.lua", "pre_spawn")
      local ctx = { name = "a", start = "refs/remotes/origin/main" }
      hooks.on("pre_spawn", function(c)
        assert.equal(ctx, c)
        c.start = "v1.0"
      end)
      hooks.run("pre_spawn", ctx)
      assert.same({ "pre_spawn1", "pre_spawn3", "pre_spawn1" }, log)
      -- What a hook changes in the context is seen by the caller (pre_spawn may change start).
      assert.equal("v1.0", ctx.start)
    end)

    -- hooks.run walks a copy of the list: a "once" hook does not make it skip the next one.
    it("runs every hook of a run, though one unregisters itself as it runs", function()
      local off
      off = hooks.on("pre_spawn", function() log[#log + 1] = "once"; off() end)
      hooks.on("pre_spawn", function() log[#log + 1] = "always" end)
      hooks.run("pre_spawn", {})
      assert.same({ "once", "always" }, log)
      hooks.run("pre_spawn", {})
      assert.same({ "once", "always", "always" }, log)
    end)

    it("does nothing for an event without hooks", function()
      logging("/u/init.lua", "pre_spawn")
      hooks.run("post_remove", {})
      assert.same({}, log)
    end)

    it("runs hooks in opts.cwd and returns to the current folder, also after an error", function()
      local dir = helpers.tmpdir("hooks-cwd")
      local back = fs.cwd()
      local seen = {}
      hooks.on("post_spawn", function() seen[#seen + 1] = fs.cwd() end)
      hooks.run("post_spawn", {}, { cwd = dir })
      assert.same({ dir }, seen)
      assert.equal(back, fs.cwd())
      hooks.on("post_spawn", function() error("boom") end)
      raised(hooks.run, "post_spawn", {}, { cwd = dir })
      assert.same({ dir, dir }, seen)
      assert.equal(back, fs.cwd())
      -- Without opts.cwd, where gt is.
      hooks.run("pre_spawn", {})
      raised(hooks.run, "post_spawn", {})
      assert.same({ dir, dir, back }, seen)
    end)

    it("runs no hook when opts.cwd cannot be entered", function()
      logging("/u/init.lua", "post_spawn")
      local dir = helpers.tmpdir("hooks-cwd")
      local back = fs.cwd()
      local e = raised(hooks.run, "post_spawn", {}, { cwd = dir .. "/missing" })
      assert.is_true(errors.is(e))
      assert.equal("entering " .. dir .. "/missing: " .. dir .. "/missing: No such file or directory", e.message)
      assert.same({}, log)
      assert.equal(back, fs.cwd())
    end)

    it("stops at the first error, raising a gt error that names the event, file and line", function()
      user_file("/u/init.lua", [[
local hooks, log = ...
hooks.on("post_spawn", function() log[#log + 1] = "first" end)
hooks.on("post_spawn", function(ctx)
  log[#log + 1] = "second"
  error("no " .. ctx.name)
end)
hooks.on("post_spawn", function() log[#log + 1] = "third" end)
]], hooks, log)
      local e = raised(hooks.run, "post_spawn", { name = "a" })
      assert.is_true(errors.is(e))
      assert.same({ "failure", 1 }, { e.kind, e.exit })
      -- The line where it raised, not where the hook starts; the file's name said once.
      assert.equal("post_spawn hook (/u/init.lua:5): no a", e.message)
      assert.same({ "first", "second" }, log)
    end)

    it("names the line of the hook's file that was running when a deeper call raised", function()
      local lib = user_file("/lib/util.lua", "return { fail = function(why)\n  error(why)\nend }\n")
      user_file("/u/init.lua", [[
local hooks, lib = ...
local function check(ctx)
  if ctx.bad then error("bad " .. ctx.name, 0) end
end
hooks.on("pre_remove", function(ctx)
  check(ctx)
  lib.fail("from lib")
end)
]], hooks, lib)
      -- In a function of the same file: its line.
      local e = raised(hooks.run, "pre_remove", { name = "a", bad = true })
      assert.equal("pre_remove hook (/u/init.lua:3): bad a", e.message)
      -- In another file: the hook's line that called it; the other file's place is kept.
      e = raised(hooks.run, "pre_remove", { name = "a" })
      assert.equal("pre_remove hook (/u/init.lua:7): /lib/util.lua:2: from lib", e.message)
    end)

    it("names a file by its full path, where Lua shortens it", function()
      local path = "/home/ana/" .. ("very-long-folder-name/"):rep(5) .. ".config/gt/init.lua"
      user_file(path, "local hooks = ...\nhooks.on('post_remove', function()\n  error('could not notify')\nend)\n",
        hooks)
      local e = raised(hooks.run, "post_remove", {})
      assert.equal("post_remove hook (" .. path .. ":3): could not notify", e.message)
    end)

    it("keeps the kind of a gt error a hook raises; other errors are of opts.kind, else failure", function()
      user_file("/u/init.lua", [[
local hooks, errors = ...
hooks.on("pre_remove", function(ctx)
  if ctx.issue then error(errors.new("refused", "issue %s is open", ctx.issue)) end
  error("plain")
end)
]], hooks, errors)
      local e = raised(hooks.run, "pre_remove", { issue = "T-1" }, { kind = "busy" })
      assert.same({ "refused", 3, "pre_remove hook (/u/init.lua:3): issue T-1 is open" }, { e.kind, e.exit, e.message })
      e = raised(hooks.run, "pre_remove", {}, { kind = "refused" })
      assert.same({ "refused", 3, "pre_remove hook (/u/init.lua:4): plain" }, { e.kind, e.exit, e.message })
      e = raised(hooks.run, "pre_remove", {})
      assert.same({ "failure", 1, "pre_remove hook (/u/init.lua:4): plain" }, { e.kind, e.exit, e.message })
    end)

    it("says an error that is not a string", function()
      user_file("/u/init.lua", "local hooks = ...\nhooks.on('post_remove', function()\n  error(setmetatable({}, " ..
        "{ __tostring = function() return 'an object' end }))\nend)\n", hooks)
      local e = raised(hooks.run, "post_remove", {})
      assert.equal("post_remove hook (/u/init.lua:3): an object", e.message)
    end)
  end)

  describe("scope", function()
    it("runs a restricted hook only for its polecat; the others for every one", function()
      logging("/u/init.lua", "post_spawn")
      local before_repo = hooks.checkpoint()
      logging("/r/polecats/a/demo/.gt/hooks.lua", "post_spawn", "pre_remove")
      hooks.restrict(hooks.added_since(before_repo), "demo/a")
      assert.same({
        { "post_spawn", "/u/init.lua:1" },
        { "post_spawn", "/r/polecats/a/demo/.gt/hooks.lua:1", "demo/a" },
        { "pre_remove", "/r/polecats/a/demo/.gt/hooks.lua:2", "demo/a" },
      }, listed())
      hooks.run("post_spawn", {}, { scope = "demo/b" })
      hooks.run("post_spawn", {})
      assert.same({ "post_spawn1", "post_spawn1" }, log)
      hooks.run("post_spawn", {}, { scope = "demo/a" })
      hooks.run("pre_remove", {}, { scope = "demo/a" })
      assert.same({ "post_spawn1", "post_spawn1", "post_spawn1", "post_spawn1", "pre_remove2" }, log)
    end)
  end)

  describe("checkpoint, rollback, added_since", function()
    it("puts back the registrations of a checkpoint: new ones go, removed ones come back", function()
      local off = logging("/u/init.lua", "pre_spawn", "post_remove")
      local snap = hooks.checkpoint()
      off[1]()
      logging("/broken.lua", "pre_spawn", "post_spawn")
      assert.same({ { "pre_spawn", "/broken.lua:1" }, { "post_spawn", "/broken.lua:2" },
        { "post_remove", "/u/init.lua:2" } }, listed())
      hooks.rollback(snap)
      assert.same({ { "pre_spawn", "/u/init.lua:1" }, { "post_remove", "/u/init.lua:2" } }, listed())
      hooks.run("pre_spawn", {})
      assert.same({ "pre_spawn1" }, log)
      -- A checkpoint is not changed by later registrations: rolling back twice is the same.
      logging("/again.lua", "pre_spawn")
      hooks.rollback(snap)
      assert.same({ { "pre_spawn", "/u/init.lua:1" }, { "post_remove", "/u/init.lua:2" } }, listed())
    end)

    it("finds the registrations made since a checkpoint, of every event", function()
      logging("/u/init.lua", "pre_spawn")
      local snap = hooks.checkpoint()
      assert.same({}, hooks.added_since(snap))
      logging("/repo.lua", "pre_spawn", "post_remove", "pre_spawn")
      local found = {}
      for _, e in ipairs(hooks.added_since(snap)) do found[#found + 1] = e.file .. ":" .. e.line end
      table.sort(found)
      assert.same({ "/repo.lua:1", "/repo.lua:2", "/repo.lua:3" }, found)
    end)

    it("restricts only the registrations it is given", function()
      logging("/u/init.lua", "pre_remove")
      local snap = hooks.checkpoint()
      logging("/repo.lua", "pre_remove")
      hooks.restrict(hooks.added_since(snap), "demo/x")
      assert.same({ { "pre_remove", "/u/init.lua:1" }, { "pre_remove", "/repo.lua:1", "demo/x" } }, listed())
    end)
  end)

  describe("load_failed, check_loaded", function()
    it("refuse (exit 1) once an init file did not load, naming the first one", function()
      local res = helpers.lua_child([[
local hooks = require("gt.hooks")
hooks.check_loaded() -- nothing failed: no error
hooks.load_failed("/u/init.lua", "/u/init.lua:3: boom")
hooks.load_failed("/t/.gt/init.lua", "/t/.gt/init.lua:1: bang")
hooks.check_loaded()
]])
      assert.is_false(res.ok)
      assert.equal("failure", res.kind)
      assert.equal("refusing to run without the hooks of an init file that did not load: " ..
        "/u/init.lua:3: boom; fix it, or run gt --clean to go on without user code", res.message)
    end)

    it("do not refuse when every init file loaded", function()
      assert.equal("fine", helpers.in_child('require("gt.hooks").check_loaded() return "fine"'))
    end)
  end)
end)
