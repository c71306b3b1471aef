-- Init files: $XDG_CONFIG_HOME/gt/init.lua, <town>/.gt/init.lua and <rig>/.gt/init.lua, run in
-- that order; a broken one is reported and gt goes on without it (docs/hooks.md).
local helpers = require("helpers")
local witness = require("witness")
local user_code = require("user_code")

local gt_rig, init, pat = user_code.gt, user_code.init, user_code.pat

-- Each level says it loaded, registers a post_spawn hook, and checks that a global set by the
-- user's init file does not leak into the others.
local function say_level(level)
  return ([[
print("%s init, shared = " .. tostring(shared))
shared = "%s"
gt.hooks.on("post_spawn", function(ctx) print("%s hook for " .. ctx.name) end)
]]):format(level, level, level)
end

local function spawned(fx, name)
  return ("polecat %s spawned in rig demo\n  branch  %s\n  path    %s/polecats/%s/demo\n"):format(
    name, witness.agent(fx, name).branch, fx.rig, name)
end

describe("init files", function()
  local fx, paths
  before_each(function()
    fx = user_code.fixture()
    paths = {}
    for _, level in ipairs({ "user", "town", "rig" }) do paths[level] = init(fx, level, say_level(level)) end
  end)

  it("run user, then town, then rig; their hooks run in that order", function()
    local code, out, err = gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.equal("user init, shared = nil\ntown init, shared = nil\nrig init, shared = nil\n" ..
      "user hook for a\ntown hook for a\nrig hook for a\n" .. spawned(fx, "a"), out)
  end)

  it("are listed by gt hooks list, each hook with its file and line", function()
    init(fx, "rig", say_level("rig") ..
      'gt.hooks.on("pre_remove", function() end)\ngt.hooks.on("post_spawn", function() end)\n')
    local code, out, err = gt_rig(fx, { "hooks", "list" })
    assert.equal(0, code, err)
    assert.equal("user init, shared = nil\ntown init, shared = nil\nrig init, shared = nil\n" ..
      user_code.hooks_table({ { "post_spawn", paths.user .. ":3" }, { "post_spawn", paths.town .. ":3" },
        { "post_spawn", paths.rig .. ":3" }, { "post_spawn", paths.rig .. ":5" },
        { "pre_remove", paths.rig .. ":4" } }), out)
    code, out, err = gt_rig(fx, { "hooks", "list", "--json" })
    assert.equal(0, code, err)
    local list = require("gt.json").decode(out:match("\n(%[.*)$"))
    assert.same({ event = "pre_remove", file = paths.rig, line = 4, where = paths.rig .. ":4" }, list[5])
  end)

  it("of the town and the rig are found from the current directory, and from GT_TOWN and GT_RIG",
    function()
      local function levels(opts)
        local r = helpers.run({ gt.executable, "hooks", "list" },
          { cwd = opts.cwd, env = user_code.env(fx, opts.env) })
        assert.equal(0, r.code, r.stderr)
        local seen = {}
        for level in r.stdout:gmatch("(%a+) init,") do seen[#seen + 1] = level end
        return table.concat(seen, " ")
      end
      assert.equal("user town rig", levels({ cwd = fx.rig .. "/.gt" }))
      assert.equal("user town", levels({ cwd = fx.town }))
      assert.equal("user", levels({ cwd = fx.dir }))
      assert.equal("user town rig", levels({ cwd = fx.dir, env = { GT_TOWN = fx.town, GT_RIG = "demo" } }))
      -- From deep inside a polecat's worktree.
      assert.equal(0, (gt_rig(fx, { "--clean", "polecat", "add", "a" })))
      assert.equal("user town rig", levels({ cwd = fx.rig .. "/polecats/a/demo/src" }))
    end)

  describe("when one is broken", function()
    it("with a syntax error, reports it in one line; commands that run hooks refuse, others go on", function()
      helpers.write(paths.town, "print('town')\nx = = 1\n")
      local problem = paths.town .. ":2: unexpected symbol near '='"
      local code, out, err = gt_rig(fx, { "polecat", "add", "a" })
      assert.equal(1, code)
      assert.equal("gt: init file failed, going on without it: " .. problem .. "\n" ..
        "gt: polecat add: refusing to run without the hooks of an init file that did not load: " ..
        problem .. "; fix it, or run gt --clean to go on without user code\n", err)
      assert.equal("user init, shared = nil\nrig init, shared = nil\n", out)
      assert.is_nil(witness.agent(fx, "a"))
      assert.same({}, witness.ls(fx.rig .. "/polecats"))
      -- A read-only command goes on, with the warning.
      code, out, err = gt_rig(fx, { "polecat", "list" })
      assert.equal(0, code, err)
      assert.equal("gt: init file failed, going on without it: " .. problem .. "\n", err)
      assert.equal("user init, shared = nil\nrig init, shared = nil\nno polecats\n", out)
      -- gt --clean runs without user code at all.
      code, out, err = gt_rig(fx, { "--clean", "polecat", "add", "a" })
      assert.equal(0, code, err)
      assert.equal("", err)
      assert.equal(spawned(fx, "a"), out)
    end)

    it("with a require of a module that is not there, says so in one line", function()
      helpers.write(paths.town, "require('no.such.module')\n")
      local code, _, err = gt_rig(fx, { "polecat", "list" })
      assert.equal(0, code, err)
      assert.equal("gt: init file failed, going on without it: " .. paths.town ..
        ":1: module 'no.such.module' not found\n", err)
    end)

    it("with an error while it runs, drops the hooks and commands it registered before", function()
      helpers.write(paths.user, [[
gt.hooks.on("post_spawn", function() error("must not run") end)
gt.commands.register({ name = "hello", summary = "Hi.", run = function() return 0 end })
gt.commands.override("polecat add", function() error("must not run") end)
local settings = nil
print(settings.colour)
]])
      local problem = "gt: init file failed, going on without it: " .. paths.user ..
        ":5: attempt to index a nil value (local 'settings')\n"
      local code, out, err = gt_rig(fx, { "hooks", "list" })
      assert.equal(0, code, err)
      assert.equal(problem, err)
      assert.equal("town init, shared = nil\nrig init, shared = nil\n" ..
        user_code.hooks_table({ { "post_spawn", paths.town .. ":3" }, { "post_spawn", paths.rig .. ":3" } }), out)

      code, out, err = gt_rig(fx, { "hello" })
      assert.equal(2, code)
      assert.equal(problem .. "gt: unknown command 'hello' (see gt help)\n", err)

      code, out, err = gt_rig(fx, { "polecat", "add", "a" })
      assert.equal(1, code)
      assert.matches("^" .. problem:gsub("%p", "%%%0") .. "gt: polecat add: refusing to run", err)
      assert.equal("town init, shared = nil\nrig init, shared = nil\n", out)
    end)

    it("gt doctor lists it and exits 1", function()
      helpers.write(paths.rig, "gt.hooks.on('post_spawn', function() end)\nerror('rig init is broken')\n")
      local problem = paths.rig .. ":2: rig init is broken"
      local code, out, err = gt_rig(fx, { "doctor" })
      assert.equal(1, code)
      assert.equal("gt: init file failed, going on without it: " .. problem .. "\n", err)
      assert.equal("user init, shared = nil\ntown init, shared = nil\nproblem init: " .. problem .. "\n", out)
      code, out = gt_rig(fx, { "doctor", "--json" })
      assert.equal(1, code)
      local report = require("gt.json").decode(out:match("\n({.*)$"))
      assert.is_false(report.ok)
      assert.same({ { kind = "init", severity = "error", path = paths.rig, message = problem, fixed = false } },
        report.problems)
      -- Mended, it loads again.
      init(fx, "rig", say_level("rig"))
      code, out, err = gt_rig(fx, { "doctor" })
      assert.equal(0, code, err)
      assert.matches("\nno problems found\n$", out)
    end)

    it("with a mistake in a call to gt, names the line of the call", function()
      helpers.write(paths.user, 'print("ok")\ngt.hooks.on("post_spwan", function() end)\n')
      helpers.write(paths.town, 'gt.commands.register({ name = "hello", summary = "no run" })\n')
      helpers.write(paths.rig, 'gt.commands.override("polecat sweep", function() end)\n')
      local code, out, err = gt_rig(fx, { "hooks", "list" })
      assert.equal(0, code, err)
      assert.equal("ok\nno hooks\n", out)
      assert.equal("gt: init file failed, going on without it: " .. paths.user .. ":2: unknown hook " ..
        "event 'post_spwan' (events: pre_spawn, post_spawn, pre_remove, post_remove)\n" ..
        "gt: init file failed, going on without it: " .. paths.town .. ":1: command hello needs a run " ..
        "function\n" ..
        "gt: init file failed, going on without it: " .. paths.rig .. ":1: no command polecat sweep to " ..
        "override\n", err)
    end)

    it("as bytecode, refuses it (init files are loaded as text)", function()
      helpers.write(paths.user, string.dump(assert(load('print("bytecode ran")'))))
      local code, out, err = gt_rig(fx, { "hooks", "list" })
      assert.equal(0, code, err)
      assert.not_matches("bytecode ran", out)
      assert.matches("^gt: init file failed, going on without it: " .. pat(paths.user) ..
        ": attempt to load a binary chunk %(mode is 't'%)\n$", err)
    end)
  end)

  it("none runs with --clean, nor do module overrides", function()
    helpers.write(user_code.lua_dir(fx, "user") .. "/gt/commands/polecat.lua", "error('not with --clean')\n")
    local code, out, err = gt_rig(fx, { "--clean", "polecat", "add", "a" })
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.equal(spawned(fx, "a"), out)
    code, out, err = gt_rig(fx, { "--clean", "hooks", "list" })
    assert.equal(0, code, err)
    assert.equal("no hooks\n", out)
  end)
end)
