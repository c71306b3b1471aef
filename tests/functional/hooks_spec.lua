-- Hooks registered by init files, run by the gt binary: each event, what an error in it means,
-- and the file and line every hook error names (docs/hooks.md).
local helpers = require("helpers")
local witness = require("witness")
local user_code = require("user_code")
local json = require("gt.json")
local _ -- discarded results (code, _, err = ...)

local gt_rig, init, pat = user_code.gt, user_code.init, user_code.pat

--- Checks that polecat `name` of `fx` was spawned and rolled back: nothing left but its history.
local function assert_rolled_back(fx, name, step)
  assert.same({}, witness.ls(fx.rig .. "/polecats"))
  assert.same({}, witness.branches(fx, "polecat/"))
  assert.same({}, witness.records(fx))
  assert.same({}, witness.worktrees(fx))
  assert.equal("failed", witness.agent(fx, name).state)
  assert.same({ "spawning", "spawned", "failed" }, witness.event_kinds(fx, name))
  local events = witness.events(fx, name)
  assert.equal(step, events[#events].data.step)
  assert.same({}, events[#events].data.undo_problems)
  assert.equal("rolled_back", witness.operations(fx, name)[1].status)
end

--- Spawns polecat `name` with the built-ins only (--clean); returns its worktree.
local function spawn_clean(fx, name)
  local code, _, err = gt_rig(fx, { "--clean", "polecat", "add", name })
  assert.equal(0, code, err)
  return fx.rig .. "/polecats/" .. name .. "/demo"
end

describe("hooks", function()
  local fx
  before_each(function() fx = user_code.fixture() end)

  describe("pre_spawn", function()
    it("vetoes the spawn with an error: nothing is made", function()
      local path = init(fx, "user", [[
gt.hooks.on("pre_spawn", function(ctx)
  error("no spawning " .. ctx.name .. " today")
end)
]])
      local before = witness.snapshot(fx)
      local code, out, err = gt_rig(fx, { "polecat", "add", "a" })
      assert.equal(1, code)
      assert.equal("", out)
      assert.equal("gt: polecat add: a: pre_spawn hook (" .. path .. ":2): no spawning a today\n", err)
      -- The hook runs under the polecat's lock: its file is all there is new.
      assert.same(before, witness.snapshot(fx, { "/.gt/locks/polecat-a.lock" }))
      assert.is_nil(witness.agent(fx, "a"))
      assert.same({}, witness.ls(fx.rig .. "/polecats"))
    end)

    it("chooses the exit status by raising a gt error", function()
      local path = init(fx, "user", [[
gt.hooks.on("pre_spawn", function(ctx)
  error(gt.errors.new("refused", "issue %s is open", ctx.issue))
end)
]])
      local code, out, err = gt_rig(fx, { "polecat", "add", "a", "--issue", "T-1" })
      assert.equal(3, code)
      assert.equal("", out)
      assert.equal("gt: polecat add: a: pre_spawn hook (" .. path .. ":2): issue T-1 is open\n", err)
      assert.is_nil(witness.agent(fx, "a"))
    end)

    it("gets the context and may change the start point to another branch of origin", function()
      fx = user_code.fixture({ fetch_always = true })
      -- origin gets a dev branch after the rig was cloned: the add's fetch brings it.
      helpers.git(fx.work, "checkout", "-q", "-b", "dev")
      helpers.write(fx.work .. "/dev.txt", "dev\n")
      helpers.git(fx.work, "add", "-A")
      helpers.git(fx.work, "commit", "-q", "-m", "dev work")
      helpers.git(fx.work, "push", "-q", "origin", "dev")
      local dev = helpers.git(fx.work, "rev-parse", "HEAD")
      init(fx, "user", [[
gt.hooks.on("pre_spawn", function(ctx)
  local f = assert(io.open(@LOG@, "w"))
  f:write(gt.json.encode(ctx))
  f:close()
  ctx.start = "refs/remotes/origin/dev"
end)
]])
      local code, out, err = gt_rig(fx, { "polecat", "add", "a", "--issue", "T-1" })
      assert.equal(0, code, err)
      assert.equal("", err)
      local agent = witness.agent(fx, "a")
      local wt = fx.rig .. "/polecats/a/demo"
      assert.equal("polecat a spawned in rig demo\n  branch  " .. agent.branch .. "\n  path    " .. wt ..
        "\n", out)
      local ctx = json.decode(helpers.read(fx.log))
      assert.same({ rig = "demo", name = "a", issue = "T-1", path = wt, branch = agent.branch,
        start = "refs/remotes/origin/main", town = fx.town, rig_root = fx.rig }, ctx)
      assert.equal("T-1", witness.parse_branch(agent.branch, "a").issue)
      -- The polecat starts on dev.
      assert.equal(dev, helpers.git(wt, "rev-parse", "HEAD"))
      assert.equal("dev\n", helpers.read(wt .. "/dev.txt"))
      local events = witness.events(fx, "a")
      assert.equal(dev, events[#events].data.start)
    end)

    it("that sets a start point origin does not have fails the add, which rolls back", function()
      init(fx, "user", [[
gt.hooks.on("pre_spawn", function(ctx) ctx.start = "refs/remotes/origin/nope" end)
]])
      local code, out, err = gt_rig(fx, { "polecat", "add", "a" })
      assert.equal(1, code)
      assert.equal("", out)
      assert.equal("gt: polecat add: a: branch: refs/remotes/origin/nope not found in " .. fx.rig ..
        "/.repo.git\n", err)
      assert.same({}, witness.ls(fx.rig .. "/polecats"))
      assert.same({}, witness.branches(fx, "polecat/"))
      assert.same({}, witness.records(fx))
      assert.equal("failed", witness.agent(fx, "a").state)
    end)
  end)

  describe("post_spawn", function()
    it("runs inside the new worktree with the documented context", function()
      init(fx, "user", [[
gt.hooks.on("post_spawn", function(ctx)
  local f = assert(io.open(@LOG@, "w"))
  f:write(gt.json.encode({ cwd = gt.fs.cwd(), ctx = ctx }))
  f:close()
end)
]])
      local code, _, err = gt_rig(fx, { "polecat", "add", "a" })
      assert.equal(0, code, err)
      assert.equal("", err)
      local wt = fx.rig .. "/polecats/a/demo"
      local seen = json.decode(helpers.read(fx.log))
      assert.equal(wt, seen.cwd)
      assert.same({ rig = "demo", name = "a", path = wt, branch = witness.agent(fx, "a").branch,
        start = "refs/remotes/origin/main",
        start_commit = helpers.git(fx.rig .. "/.repo.git", "rev-parse", "refs/remotes/origin/main"),
        town = fx.town, rig_root = fx.rig }, seen.ctx)
      assert.equal("working", witness.agent(fx, "a").state)
    end)

    it("that fails rolls the whole spawn back: folder, branch, git's record; the ledger says failed",
      function()
        local path = init(fx, "user", [[
gt.hooks.on("post_spawn", function(ctx)
  -- a comment, so that the error is on line 3
  error("boom")
end)
]])
        local code, out, err = gt_rig(fx, { "polecat", "add", "a" })
        assert.equal(1, code)
        assert.equal("", out)
        assert.equal("gt: polecat add: a: post_spawn hook (" .. path .. ":3): boom\n", err)
        assert_rolled_back(fx, "a", "post_spawn")
      end)

    it("names the line that raised, also inside a function the hook calls", function()
      local path = init(fx, "user", [[
local function check(ctx)
  if ctx.name == "a" then error({ "not a string" }) end
end
gt.hooks.on("post_spawn", function(ctx)
  check(ctx)
end)
]])
      local code, _, err = gt_rig(fx, { "polecat", "add", "a" })
      assert.equal(1, code)
      assert.matches("^gt: polecat add: a: post_spawn hook %(" .. pat(path) .. ":2%): table: 0x%x+\n$", err)
      assert_rolled_back(fx, "a", "post_spawn")
    end)

    it("keeps the full path of a file whose name Lua would shorten", function()
      local config = fx.dir .. "/a-folder-with-a-rather-long-name/and-another-one-below-it/config"
      local path = config .. "/gt/init.lua"
      assert.is_true(#path > 60)
      helpers.write(path, 'gt.hooks.on("post_spawn", function() error("long") end)\n')
      local code, _, err = gt_rig(fx, { "polecat", "add", "a" }, { env = { XDG_CONFIG_HOME = config } })
      assert.equal(1, code)
      assert.equal("gt: polecat add: a: post_spawn hook (" .. path .. ":1): long\n", err)
    end)
  end)

  describe("pre_remove", function()
    it("sees the safety report, and vetoes even with --force: exit 3, nothing changes", function()
      local wt = spawn_clean(fx, "a")
      helpers.write(wt .. "/x.txt", "new\n")
      local path = init(fx, "user", [[
gt.hooks.on("pre_remove", function(ctx)
  local f = assert(io.open(@LOG@, "w"))
  f:write(gt.json.encode(ctx))
  f:close()
  error(ctx.name .. " stays")
end)
]])
      local before = witness.snapshot(fx)
      local code, out, err = gt_rig(fx, { "polecat", "remove", "--force", "a" })
      assert.equal(3, code)
      assert.equal("", out)
      assert.equal("gt: polecat remove: a: pre_remove hook (" .. path .. ":5): a stays\n", err)
      assert.same(before, witness.snapshot(fx))
      assert.equal("working", witness.agent(fx, "a").state)
      assert.equal("new\n", helpers.read(wt .. "/x.txt"))
      local ctx = json.decode(helpers.read(fx.log))
      assert.equal("a", ctx.name)
      assert.equal("demo", ctx.rig)
      assert.equal(wt, ctx.path)
      assert.equal(witness.agent(fx, "a").branch, ctx.branch)
      assert.equal(fx.town, ctx.town)
      assert.equal(fx.rig, ctx.rig_root)
      assert.is_true(ctx.force)
      assert.is_false(ctx.discard)
      assert.is_false(ctx.report.safe)
      assert.same({ "x.txt" }, ctx.report.untracked)
    end)

    it("vetoes a safe removal too, and names the polecat among several", function()
      spawn_clean(fx, "a")
      spawn_clean(fx, "b")
      local path = init(fx, "user", [[
gt.hooks.on("pre_remove", function(ctx)
  if ctx.report.safe and ctx.name == "b" then error("b is needed") end
end)
]])
      local before = witness.snapshot(fx)
      local code, out, err = gt_rig(fx, { "polecat", "remove", "a", "b" })
      assert.equal(3, code)
      assert.equal("", out)
      assert.equal("gt: polecat remove: b: pre_remove hook (" .. path .. ":2): b is needed\n", err)
      assert.same(before, witness.snapshot(fx))
    end)
  end)

  describe("post_remove", function()
    it("that fails is reported (exit 1), and the removal stands", function()
      local wt = spawn_clean(fx, "a")
      local path = init(fx, "user", [[
gt.hooks.on("post_remove", function(ctx)
  error("after " .. ctx.name)
end)
]])
      local code, out, err = gt_rig(fx, { "polecat", "remove", "a" })
      assert.equal(1, code)
      assert.equal("removed polecat a\n", out)
      assert.equal("gt: polecat remove: a: post_remove hook (" .. path .. ":2): after a\n", err)
      assert.is_false(helpers.exists(wt))
      assert.same({}, witness.ls(fx.rig .. "/polecats"))
      assert.same({}, witness.branches(fx, "polecat/"))
      assert.same({}, witness.records(fx))
      assert.equal("removed", witness.agent(fx, "a").state)
    end)

    it("gets the ref the unsaved work was saved under", function()
      local wt = spawn_clean(fx, "a")
      helpers.write(wt .. "/x.txt", "new\n")
      init(fx, "user", [[
gt.hooks.on("post_remove", function(ctx)
  local f = assert(io.open(@LOG@, "w"))
  f:write(ctx.salvage, "\n", tostring(gt.fs.stat(ctx.path)), "\n")
  f:close()
end)
]])
      local code, _, err = gt_rig(fx, { "polecat", "remove", "--force", "a" })
      assert.equal(0, code, err)
      assert.equal("", err)
      local refs = helpers.lines(helpers.git(fx.rig .. "/.repo.git", "for-each-ref",
        "--format=%(refname)", "refs/gt/salvage/"))
      assert.equal(1, #refs)
      assert.matches("^refs/gt/salvage/demo/a/", refs[1])
      -- Its folder is gone by then.
      assert.same({ refs[1], "nil" }, user_code.log(fx))
    end)
  end)

  it("unregister with the function gt.hooks.on returns", function()
    init(fx, "user", [[
local off = gt.hooks.on("post_spawn", function() error("never") end)
gt.hooks.on("pre_remove", function() end)
off()
]])
    local code, out, err = gt_rig(fx, { "hooks", "list" })
    assert.equal(0, code, err)
    assert.equal(user_code.hooks_table({ { "pre_remove", user_code.init_path(fx, "user") .. ":2" } }), out)
    code, _, err = gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(0, code, err)
    assert.equal("", err)
  end)
end)
