-- Many gt processes at once on one rig: one name claimed by one of them only, different names
-- all spawned and removed, and a lock that stays busy reported with exit 5.
local helpers = require("helpers")
local witness = require("witness")
local lock = require("gt.lock")
local sys = require("gt.sys")
local _ -- discarded results (code, _, err = ...)
local git = helpers.git

local run_all = helpers.run_all

local function rig_args(fx, ...)
  local args = { "--town", fx.town, "--rig", fx.name }
  for _, a in ipairs({ ... }) do args[#args + 1] = a end
  return args
end

describe("concurrent gt processes", function()
  it("adding one name: exactly one wins, and it leaves one branch, record and row", function()
    local fx = helpers.fixture()
    local commands = {}
    for i = 1, 8 do commands[i] = rig_args(fx, "polecat", "add", "a") end
    local results = run_all(commands)

    local winners, losers = 0, 0
    for _, r in ipairs(results) do
      if r.code == 0 then
        winners = winners + 1
        assert.equal("", r.stderr)
      else
        losers = losers + 1
        assert.is_true(r.code == 1 or r.code == 5, r.stderr)
        assert.equal("", r.stdout)
        if r.code == 1 then
          assert.matches("^gt: polecat add: polecat a already exists in rig demo %(working on polecat/a%-[0-9a-z]+%)\n$", r.stderr)
        else
          assert.matches("^gt: polecat add: polecat%-a: lock busy: held by pid %d+ ", r.stderr)
        end
      end
    end
    assert.equal(1, winners)
    assert.equal(7, losers)

    local agent = witness.agent(fx, "a")
    assert.equal("working", agent.state)
    assert.same({ agent.branch }, witness.branches(fx, "polecat/"))
    assert.same({ "a" }, witness.records(fx))
    assert.same({ { path = agent.worktree, head = git(fx.origin, "rev-parse", "main"),
      branch = "refs/heads/" .. agent.branch, locked = "gt: demo/a" } }, witness.worktrees(fx))
    assert.same({ "a" }, witness.ls(fx.rig .. "/polecats"))
    assert.same({ "demo" }, witness.ls(fx.rig .. "/polecats/a"))
    assert.same({ "spawning", "spawned" }, witness.event_kinds(fx, "a"))
    local ops = witness.operations(fx, "a")
    assert.equal(1, #ops)
    assert.equal("done", ops[1].status)
    assert.equal(1, #witness.query(fx, "SELECT * FROM agents"))
  end)

  describe("adding eight names", function()
    local fx, names, results
    lazy_setup(function()
      fx = helpers.fixture()
      names = {}
      local commands = {}
      for i = 1, 8 do
        names[i] = "p" .. i
        commands[i] = rig_args(fx, "polecat", "add", names[i])
      end
      results = run_all(commands)
    end)

    it("all win", function()
      for i, r in ipairs(results) do
        assert.equal(0, r.code, r.stderr)
        assert.equal("", r.stderr)
        assert.matches("^polecat " .. names[i] .. " spawned in rig demo\n", r.stdout)
      end
    end)

    it("each with its branch, git record, worktree and ledger row", function()
      local branches = {}
      for i, name in ipairs(names) do
        local agent = witness.agent(fx, name)
        assert.equal("working", agent.state)
        branches[i] = agent.branch
        local wt = fx.rig .. "/polecats/" .. name .. "/demo"
        assert.equal(wt, agent.worktree)
        assert.equal("refs/heads/" .. agent.branch, git(wt, "symbolic-ref", "HEAD"))
        assert.equal("", git(wt, "status", "--porcelain", "--untracked-files=all"))
        assert.same({ "spawning", "spawned" }, witness.event_kinds(fx, name))
      end
      table.sort(branches)
      assert.same(branches, witness.branches(fx, "polecat/"))
      assert.same(names, witness.records(fx))
      assert.same(names, witness.ls(fx.rig .. "/polecats"))
      local worktrees = witness.worktrees(fx)
      assert.equal(8, #worktrees)
      for _, wt in ipairs(worktrees) do
        local name = wt.path:match("/polecats/([^/]+)/demo$")
        assert.equal("gt: demo/" .. name, wt.locked)
        assert.is_nil(wt.prunable)
        assert.equal("refs/heads/" .. witness.agent(fx, name).branch, wt.branch)
      end
    end)

    it("then removing them all at once removes every one", function()
      local commands = {}
      for i, name in ipairs(names) do commands[i] = rig_args(fx, "polecat", "remove", name) end
      for i, r in ipairs(run_all(commands)) do
        assert.equal(0, r.code, r.stderr)
        assert.equal("removed polecat " .. names[i] .. "\n", r.stdout)
      end
      assert.same({}, witness.branches(fx, "polecat/"))
      assert.same({}, witness.records(fx))
      assert.same({}, witness.worktrees(fx))
      assert.same({}, witness.ls(fx.rig .. "/polecats"))
      assert.equal(8, #witness.query(fx, "SELECT * FROM agents WHERE state = 'removed'"))
    end)
  end)

  it("a lock that stays busy fails with exit 5 and says who holds it, changing nothing", function()
    local fx = helpers.fixture()
    local lk <close> = assert(lock.acquire(fx.rig .. "/.gt/locks/polecat-a.lock",
      { what = "the spec holds it" }))
    local before = witness.snapshot(fx)
    local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "a" },
      { env = { GT_LOCK_TIMEOUT_MS = "200" } })
    assert.equal(5, code)
    assert.equal("", out)
    assert.matches(("^gt: polecat add: polecat%%-a: lock busy: held by pid %d %%(the spec holds it%%) for %%d+s\n$"):format(
      sys.pid()), err)
    assert.same(before, witness.snapshot(fx))
    lk:release()
    code, _, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(0, code, err)
  end)
end)
