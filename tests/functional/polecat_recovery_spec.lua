-- A command killed half-way leaves its intent in the ledger's journal; the next command on the
-- same polecat finishes it (a remove) or rolls it back (an add). The kill is real: GT_FAULT
-- makes gt send itself SIGKILL at a named point (gt.fault), with no cleanup at all.
local helpers = require("helpers")
local witness = require("witness")

--- Adds polecat `name`, killed right after spawn step `step` did its work.
local function kill_add(fx, name, step)
  return helpers.gt_fault(fx, "add." .. step .. "=kill", { "polecat", "add", name })
end

--- Removes polecat `name` (with "--force" if given), killed once its folder is deleted, before
--- git's record and the branch are (--wait: deleted before it returns).
local function kill_remove(fx, name, force)
  return helpers.gt_fault(fx, "reap.prune=kill", { "polecat", "remove", "--wait", name, force })
end

local STEPS = { "fetch", "branch", "folder", "worktree", "checkout", "repo_hooks", "working",
  "post_spawn" }

describe("an add killed half-way", function()
  it("(these specs know every spawn step)", function()
    local names = {}
    for i, step in ipairs(require("gt.polecat").spawn_steps) do names[i] = step.name end
    assert.same(STEPS, names)
  end)

  for _, step in ipairs(STEPS) do
    it(("in step %s is rolled back by the next add of the name, which then succeeds"):format(step), function()
      local fx = helpers.fixture()
      local r = kill_add(fx, "a", step)
      assert.equal(9, r.signal, r.stderr)
      local ops = witness.operations(fx, "a")
      assert.equal(1, #ops)
      assert.equal("running", ops[1].status)
      local killed_branch = witness.agent(fx, "a").branch
      local working = step == "working" or step == "post_spawn"
      assert.equal(working and "working" or "spawning", witness.agent(fx, "a").state)

      local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
      assert.equal(0, code, err)
      assert.equal(("gt: rolled back an interrupted add of a (pid %d)\n"):format(ops[1].pid), err)
      local a = witness.agent(fx, "a")
      assert.equal("working", a.state)
      assert.matches("branch  " .. a.branch:gsub("%p", "%%%0") .. "\n", out)
      assert.are_not.equal(killed_branch, a.branch)
      assert.same({ a.branch }, witness.branches(fx, "polecat/"))
      assert.same({ "a" }, witness.records(fx))
      assert.same({ "a" }, witness.ls(fx.rig .. "/polecats"))
      assert.equal(1, #witness.worktrees(fx))
      assert.equal("", helpers.git(fx.rig .. "/polecats/a/demo", "status", "--porcelain"))
      ops = witness.operations(fx, "a")
      assert.equal("rolled_back", ops[1].status)
      assert.equal("done", ops[2].status)
      local events = witness.events(fx, "a")
      local recovered
      for _, e in ipairs(events) do
        if e.kind == "recovered" then recovered = e end
      end
      assert.equal("rolled back interrupted add", recovered.data.action)
      assert.equal(ops[1].pid, recovered.data.pid)
    end)
  end

  it("is rolled back by a remove of the name, which counts as the removal", function()
    local fx = helpers.fixture()
    assert.equal(9, kill_add(fx, "a", "checkout").signal)
    local pid = witness.operations(fx, "a")[1].pid
    local code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "a" })
    assert.equal(0, code, err)
    assert.equal("removed polecat a\n", out)
    assert.equal(("gt: rolled back an interrupted add of a (pid %d)\n"):format(pid), err)
    assert.same({}, witness.branches(fx, "polecat/"))
    assert.same({}, witness.records(fx))
    assert.same({}, witness.ls(fx.rig .. "/polecats"))
    assert.equal("failed", witness.agent(fx, "a").state)
  end)
end)

describe("a remove killed half-way", function()
  local fx, pid, branch
  before_each(function()
    fx = helpers.fixture()
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
    branch = witness.agent(fx, "a").branch
  end)

  local function killed_remove(force)
    local r = kill_remove(fx, "a", force and "--force" or nil)
    assert.equal(9, r.signal, r.stderr)
    local ops = witness.operations(fx, "a")
    assert.equal("remove", ops[2].kind)
    assert.equal("running", ops[2].status)
    pid = ops[2].pid
    assert.equal("removing", witness.agent(fx, "a").state)
    assert.is_false(helpers.exists(fx.rig .. "/polecats/a"))
    assert.same({ branch }, witness.branches(fx, "polecat/"))
    assert.same({ "a" }, witness.records(fx))
  end

  local function assert_finished()
    assert.same({}, witness.branches(fx, "polecat/"))
    assert.same({}, witness.records(fx))
    assert.same({}, witness.worktrees(fx))
    local ops = witness.operations(fx, "a")
    assert.equal("done", ops[2].status)
    local events = witness.events(fx, "a")
    assert.equal("recovered", events[#events].kind)
    assert.equal("finished interrupted remove", events[#events].data.action)
  end

  it("is finished by the next remove of the name, which succeeds", function()
    killed_remove(false)
    local code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "a" })
    assert.equal(0, code, err)
    assert.equal(("gt: finished an interrupted remove of a (pid %d)\n"):format(pid), err)
    assert.equal("removed polecat a\n", out)
    assert_finished()
    assert.equal("removed", witness.agent(fx, "a").state)
  end)

  it("is finished by the next add of the name, which then succeeds", function()
    killed_remove(false)
    local code, _, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(0, code, err)
    assert.equal(("gt: finished an interrupted remove of a (pid %d)\n"):format(pid), err)
    local a = witness.agent(fx, "a")
    assert.equal("working", a.state)
    assert.same({ a.branch }, witness.branches(fx, "polecat/"))
    assert.same({ "a" }, witness.records(fx))
    assert.equal("done", witness.operations(fx, "a")[2].status)
  end)

  it("keeps the work it saved before it was killed", function()
    helpers.write(fx.rig .. "/polecats/a/demo/notes.txt", "unsaved\n")
    killed_remove(true)
    local refs = helpers.lines(helpers.git(fx.rig .. "/.repo.git", "for-each-ref", "--format=%(refname)",
      "refs/gt/salvage/"))
    assert.equal(1, #refs)
    local code, _, err = helpers.gt_rig(fx, { "polecat", "remove", "a" })
    assert.equal(0, code, err)
    assert_finished()
    assert.equal("unsaved\n", helpers.git(fx.rig .. "/.repo.git", "show", refs[1] .. ":notes.txt") .. "\n")
  end)
end)
