-- A .gt/hooks.lua committed in the managed project runs only once `gt trust` recorded its real
-- path and SHA-256 in $XDG_STATE_HOME/gt/trust; a changed file needs new trust (docs/hooks.md).
local helpers = require("helpers")
local witness = require("witness")
local user_code = require("user_code")

local gt_rig, init = user_code.gt, user_code.init

local HOOKS = [[
gt.hooks.on("post_spawn", function(ctx) print("repo post_spawn " .. ctx.name) end)
gt.hooks.on("pre_remove", function(ctx) print("repo pre_remove " .. ctx.name) end)
gt.hooks.on("post_remove", function(ctx) print("repo post_remove " .. ctx.name) end)
]]

local function spawned(fx, name)
  return ("polecat %s spawned in rig demo\n  branch  %s\n  path    %s/polecats/%s/demo\n"):format(
    name, witness.agent(fx, name).branch, fx.rig, name)
end

--- The hook file in polecat `name`'s worktree.
local function hook_file(fx, name)
  return fx.rig .. "/polecats/" .. name .. "/demo/.gt/hooks.lua"
end

local function untrusted(path, why)
  return ("gt: warning: %s is %s, so it was not run (read it, then: gt trust %s)\n"):format(path,
    why or "not trusted", path)
end

--- The SHA-256 of file `path` as sha256sum computes it.
local function sha256sum(path)
  local r = helpers.run({ "sha256sum", path })
  assert.equal(0, r.code, r.stderr)
  return r.stdout:match("^(%x+)  ")
end

--- Spawns polecat `name`; returns stdout and stderr (the spawn must succeed).
local function add(fx, name, args)
  local full = { "polecat", "add", name }
  for _, a in ipairs(args or {}) do table.insert(full, 1, a) end
  local code, out, err = gt_rig(fx, full)
  assert.equal(0, code, err)
  return out, err
end

--- Trusts the hook file of polecat `name`.
local function trust(fx, name)
  local code, out, err = gt_rig(fx, { "trust", hook_file(fx, name) })
  assert.equal(0, code, err)
  return out
end

describe("repository hooks (.gt/hooks.lua)", function()
  local fx
  before_each(function()
    fx = user_code.fixture({ fetch_always = true })
    helpers.push_commit(fx, ".gt/hooks.lua", HOOKS, "project hooks")
  end)

  it("untrusted, are reported and not run; the spawn goes on; gt doctor lists them", function()
    local out, err = add(fx, "a")
    assert.equal(spawned(fx, "a"), out)
    assert.equal(untrusted(hook_file(fx, "a")), err)
    assert.equal(HOOKS, helpers.read(hook_file(fx, "a")))
    assert.equal("working", witness.agent(fx, "a").state)
    local code
    code, out, err = gt_rig(fx, { "doctor" })
    assert.equal(1, code)
    assert.equal("", err)
    assert.equal(("problem demo/a: %s is not trusted (read it, then: gt trust %s)\n"):format(
      hook_file(fx, "a"), hook_file(fx, "a")), out)
    code, out, err = gt_rig(fx, { "polecat", "remove", "a" })
    assert.equal(0, code, err)
    assert.equal("removed polecat a\n", out)
    assert.equal(untrusted(hook_file(fx, "a")), err)
  end)

  it("trusted with gt trust, run; the trust file holds their sha256 and real path", function()
    add(fx, "a")
    local file = hook_file(fx, "a")
    -- A relative path, from inside the worktree: the real path is recorded.
    local code, out, err = gt_rig(fx, { "trust", ".gt/hooks.lua" }, { cwd = fx.rig .. "/polecats/a/demo" })
    assert.equal(0, code, err)
    local sha = sha256sum(file)
    assert.equal("trusted " .. file .. " (sha256 " .. sha .. ")\n", out)
    assert.equal(sha .. " " .. file .. "\n", helpers.read(fx.state .. "/gt/trust"))
    code, out = gt_rig(fx, { "trust", "--list" })
    assert.equal(0, code)
    assert.equal("SHA256" .. (" "):rep(58) .. "  FILE\n" .. sha .. "  " .. file .. "\n", out)
    code, out = gt_rig(fx, { "trust", "--list", "--json" })
    assert.equal(0, code)
    assert.same({ { sha = sha, path = file } }, require("gt.json").decode(out))
    code, out = gt_rig(fx, { "doctor" })
    assert.equal(0, code, out)
    assert.equal("no problems found\n", out)

    code, out, err = gt_rig(fx, { "polecat", "remove", "a" })
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.equal("repo pre_remove a\nrepo post_remove a\nremoved polecat a\n", out)
  end)

  it("trusted in one polecat, run for the others of the rig with the same file", function()
    add(fx, "a")
    trust(fx, "a")
    local out, err = add(fx, "b")
    assert.equal("", err)
    assert.equal("repo post_spawn b\n" .. spawned(fx, "b"), out)
    -- Each polecat's file runs for that polecat only.
    local code
    code, out, err = gt_rig(fx, { "polecat", "remove", "a", "b" })
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.equal("repo pre_remove a\nrepo pre_remove b\nrepo post_remove a\nrepo post_remove b\n" ..
      "removed polecat a\nremoved polecat b\n", out)
  end)

  it("changed in the worktree since they were trusted, are reported and not run", function()
    add(fx, "a")
    trust(fx, "a")
    local file = hook_file(fx, "a")
    helpers.write(file, HOOKS .. 'gt.hooks.on("pre_remove", function() error("keep it") end)\n')
    local code, out, err = gt_rig(fx, { "doctor" })
    assert.equal(1, code)
    assert.equal(("problem demo/a: %s is changed since it was trusted (read it, then: gt trust %s)\n")
      :format(file, file), out)
    code, out, err = gt_rig(fx, { "polecat", "remove", "--force", "--discard", "a" })
    assert.equal(0, code, err)
    assert.equal("removed polecat a\n  unsaved work discarded (--discard)\n", out)
    assert.equal(untrusted(file, "changed since it was trusted"), err)
    assert.equal("removed", witness.agent(fx, "a").state)
  end)

  it("changed by a new commit in origin, are reported and not run in a new polecat", function()
    add(fx, "a")
    trust(fx, "a")
    helpers.push_commit(fx, ".gt/hooks.lua", HOOKS .. "-- changed\n", "change the hooks")
    local out, err = add(fx, "b")
    assert.equal(spawned(fx, "b"), out)
    assert.equal(untrusted(hook_file(fx, "b"), "changed since it was trusted"), err)
    -- Trusting the new content runs it.
    trust(fx, "b")
    local code
    code, out, err = gt_rig(fx, { "polecat", "remove", "b" })
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.equal("repo pre_remove b\nrepo post_remove b\nremoved polecat b\n", out)
  end)

  it("gt trust --revoke withdraws the trust, also after the polecat is gone", function()
    add(fx, "a")
    trust(fx, "a")
    local file = hook_file(fx, "a")
    local code, out, err = gt_rig(fx, { "trust", "--revoke", file })
    assert.equal(0, code, err)
    assert.equal("no longer trusted: " .. file .. "\n", out)
    assert.equal("", helpers.read(fx.state .. "/gt/trust"))
    code, out = gt_rig(fx, { "trust", "--list" })
    assert.equal(0, code)
    assert.equal("no trusted files\n", out)
    out, err = add(fx, "b")
    assert.equal(spawned(fx, "b"), out)
    assert.equal(untrusted(hook_file(fx, "b")), err)

    -- Trust given in a, revoked through b's copy (the trust that covers it), a being gone.
    trust(fx, "a")
    code, out, err = gt_rig(fx, { "--clean", "polecat", "remove", "a" })
    assert.equal(0, code, err)
    code, out, err = gt_rig(fx, { "trust", "--revoke", "polecats/b/demo/.gt/hooks.lua" }, { cwd = fx.rig })
    assert.equal(0, code, err)
    assert.equal("", helpers.read(fx.state .. "/gt/trust"))
    -- And with a's path, once nothing is trusted.
    code, out, err = gt_rig(fx, { "trust", "--revoke", "polecats/a/demo/.gt/hooks.lua" }, { cwd = fx.rig })
    assert.equal(4, code)
    assert.equal("", out)
    assert.equal("gt: trust: " .. file .. " is not trusted\n", err)
  end)

  it("gt trust of a missing file fails, trusting nothing", function()
    local code, out, err = gt_rig(fx, { "trust", fx.dir .. "/nope.lua" })
    assert.equal(4, code)
    assert.equal("", out)
    assert.equal("gt: trust: no file " .. fx.dir .. "/nope.lua\n", err)
    assert.is_nil(helpers.read(fx.state .. "/gt/trust"))
  end)

  it("trusted, with a failing post_spawn, roll the spawn back, naming the file and line", function()
    helpers.push_commit(fx, ".gt/hooks.lua", "gt.hooks.on('post_spawn', function(ctx)\n" ..
      "  error('no ' .. ctx.name)\nend)\n", "strict hooks")
    add(fx, "a")
    trust(fx, "a")
    local code, out, err = gt_rig(fx, { "polecat", "add", "b" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal("gt: polecat add: b: post_spawn hook (" .. hook_file(fx, "b") .. ":2): no b\n", err)
    assert.same({ "a" }, witness.ls(fx.rig .. "/polecats"))
    assert.same({ "a" }, witness.records(fx))
    assert.same({ witness.agent(fx, "a").branch }, witness.branches(fx, "polecat/"))
    assert.equal("failed", witness.agent(fx, "b").state)
  end)

  it("trusted but failing to load, are reported, and what they registered is dropped", function()
    helpers.push_commit(fx, ".gt/hooks.lua", HOOKS .. "error('late')\n", "broken hooks")
    add(fx, "a")
    trust(fx, "a")
    local out, err = add(fx, "b")
    assert.equal(spawned(fx, "b"), out)
    assert.equal(("gt: warning: repository hooks %s failed to load, going on without them: %s:4: late\n")
      :format(hook_file(fx, "b"), hook_file(fx, "b")), err)
  end)

  it("do not run with --clean, nor do init files and module overrides", function()
    init(fx, "user", 'print("user init")\ngt.hooks.on("post_spawn", function() print("user hook") end)\n')
    init(fx, "town", 'print("town init")\n')
    init(fx, "rig", 'print("rig init")\ngt.commands.override("polecat add", function(orig, cmd)\n' ..
      '  print("wrapped") return orig(cmd)\nend)\n')
    local module = user_code.lua_dir(fx, "user") .. "/gt/commands/polecat.lua"
    add(fx, "a", { "--clean" })
    trust(fx, "a")
    -- They are all there: without --clean they run.
    helpers.write(module,
      'return { { name = "polecat list", summary = "Mine.", run = function() print("my list") return 0 end } }\n')
    local code, out, err = gt_rig(fx, { "polecat", "list" })
    assert.equal(0, code, err)
    assert.equal("user init\ntown init\nrig init\nmy list\n", out)
    assert.is_true(os.remove(module))
    out, err = add(fx, "b")
    assert.equal("", err)
    assert.equal("user init\ntown init\nrig init\nwrapped\nuser hook\nrepo post_spawn b\n" .. spawned(fx, "b"), out)

    helpers.write(module, 'return { { name = "polecat list", summary = "Mine.", run = function() return 9 end } }\n')
    out, err = add(fx, "c", { "--clean" })
    assert.equal("", err)
    assert.equal(spawned(fx, "c"), out)
    code, out, err = gt_rig(fx, { "--clean", "polecat", "remove", "b", "c" })
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.equal("removed polecat b\nremoved polecat c\n", out)
    code, out, err = gt_rig(fx, { "--clean", "polecat", "list" })
    assert.equal(0, code, err)
    assert.matches("^NAME +STATE", out)
  end)
end)
