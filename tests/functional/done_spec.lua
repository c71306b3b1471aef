-- gt polecat done, run as a user runs it: --push puts the branch on a local bare origin (the git
-- CLI is the witness), what is safe then makes the polecat idle (worktree kept, HEAD detached,
-- branch deleted, record unlocked), squash-merged and rebased branches count as merged, and
-- anything unsafe refuses (exit 3) changing nothing.
local helpers = require("helpers")
local witness = require("witness")
local json = require("gt.json")
local _ -- discarded results (code, _, err = ...)
local git = helpers.git

local function gt(fx, ...) return helpers.gt_rig(fx, { ... }) end

--- A commit in polecat `name`'s worktree (a new file); returns its id.
local function commit(fx, name, file, content)
  local wt = fx.rig .. "/polecats/" .. name .. "/demo"
  helpers.write(wt .. "/" .. file, content)
  git(wt, "add", file)
  git(wt, "commit", "-q", "-m", "add " .. file)
  return git(wt, "rev-parse", "HEAD")
end

--- Whether the repository at `dir` has ref `ref` (git CLI).
local function has_ref(dir, ref)
  return helpers.run({ "git", "-C", dir, "show-ref", "--verify", "--quiet", ref }).code == 0
end

--- Checks that polecat `name` is idle: ledger, worktree kept with HEAD detached at `head`, git's
--- record unlocked, its branch gone.
local function assert_idle(fx, name, head, branch)
  local wt = fx.rig .. "/polecats/" .. name .. "/demo"
  local agent = witness.agent(fx, name)
  assert.equal("idle", agent.state)
  assert.is_nil(agent.branch)
  assert.equal(wt, agent.worktree)
  assert.equal(head, git(wt, "rev-parse", "HEAD"))
  assert.equal(1, helpers.run({ "git", "-C", wt, "symbolic-ref", "-q", "HEAD" }).code) -- detached
  local wts = witness.worktrees(fx)
  assert.equal(1, #wts)
  assert.equal(wt, wts[1].path)
  assert.is_nil(wts[1].locked)
  assert.is_nil(wts[1].branch)
  assert.is_false(has_ref(fx.rig .. "/.repo.git", "refs/heads/" .. branch))
  assert.same({}, witness.disagreements(fx))
end

describe("gt polecat done", function()
  local fx, wt, branch
  before_each(function()
    fx = helpers.fixture()
    assert.equal(0, (gt(fx, "polecat", "add", "a")))
    wt = fx.rig .. "/polecats/a/demo"
    branch = witness.agent(fx, "a").branch
  end)

  it("--push puts the branch on origin under its own name; then the polecat is idle", function()
    local id = commit(fx, "a", "feature.txt", "a feature\n")
    local code, out, err = gt(fx, "polecat", "done", "a", "--push")
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.equal(("pushed %s (%s) to origin\npolecat a is idle (its branch %s was deleted: its " ..
      "commits are on origin)\n"):format(branch, id:sub(1, 12), branch), out)
    -- The commit is on the remote, on a branch of its own; origin's main did not move.
    assert.equal(id, git(fx.origin, "rev-parse", "refs/heads/" .. branch))
    assert.equal(git(fx.work, "rev-parse", "main"), git(fx.origin, "rev-parse", "refs/heads/main"))
    assert.equal(id, git(fx.rig .. "/.repo.git", "rev-parse", "refs/remotes/origin/" .. branch))
    assert_idle(fx, "a", id, branch)
    assert.equal("a feature\n", helpers.read(wt .. "/feature.txt"))
    local kinds = witness.event_kinds(fx, "a")
    assert.same({ "spawning", "spawned", "pushed", "done", "idle" }, kinds)
    assert.equal("done", witness.operations(fx, "a")[2].status)
    -- All of it is on a remote: a plain remove goes.
    code, _, err = gt(fx, "polecat", "remove", "a")
    assert.equal(0, code, err)
    assert.equal("removed", witness.agent(fx, "a").state)
    assert.equal(id, git(fx.origin, "rev-parse", "refs/heads/" .. branch))
  end)

  it("refuses (exit 3) unpushed work without --push, changing nothing", function()
    local id = commit(fx, "a", "feature.txt", "a feature\n")
    helpers.write(wt .. "/notes.txt", "mine\n")
    local before = witness.snapshot(fx)
    local code, out, err = gt(fx, "polecat", "done", "a", "--no-fetch")
    assert.equal(3, code)
    assert.equal("", out)
    assert.matches("polecat a holds work that exists nowhere else:", err, 1, true)
    assert.matches("1 untracked file: notes.txt", err, 1, true)
    assert.matches("1 commit on no remote: " .. id:sub(1, 10) .. " add feature.txt", err, 1, true)
    assert.matches("nothing was changed;", err, 1, true)
    assert.same(before, witness.snapshot(fx))
    assert.equal("working", witness.agent(fx, "a").state)
    assert.equal("refs/heads/" .. branch, git(wt, "symbolic-ref", "HEAD"))
  end)

  it("refuses uncommitted work even after --push, which stays done", function()
    local id = commit(fx, "a", "feature.txt", "a feature\n")
    helpers.write(wt .. "/a.txt", "edited\n")
    local code, _, err = gt(fx, "polecat", "done", "a", "--push")
    assert.equal(3, code)
    assert.matches("1 uncommitted change: a.txt", err, 1, true)
    assert.matches("(but its branch was pushed)", err, 1, true)
    assert.equal(id, git(fx.origin, "rev-parse", "refs/heads/" .. branch))
    assert.equal("working", witness.agent(fx, "a").state)
    assert.equal("refs/heads/" .. branch, git(wt, "symbolic-ref", "HEAD"))
    assert.equal("gt: demo/a", witness.worktrees(fx)[1].locked)
  end)

  it("--remove removes it instead, through gt polecat remove", function()
    commit(fx, "a", "feature.txt", "a feature\n")
    local code, out, err = gt(fx, "polecat", "done", "a", "--push", "--remove")
    assert.equal(0, code, err)
    assert.matches("removed polecat a\n$", out)
    assert.equal("removed", witness.agent(fx, "a").state)
    assert.same({}, witness.ls(fx.rig .. "/polecats"))
    assert.same({}, witness.worktrees(fx))
    local kinds = witness.event_kinds(fx, "a")
    assert.same({ "pushed", "done", "removing", "removed" }, { table.unpack(kinds, 3) })
  end)

  it("counts a squash-merged branch as merged: idle without a push", function()
    local id = commit(fx, "a", "feature.txt", "a feature\n")
    -- origin's maintainer squash-merges the branch (fetched from the rig) into main.
    git(fx.work, "fetch", "-q", fx.rig .. "/.repo.git", branch)
    git(fx.work, "merge", "-q", "--squash", "FETCH_HEAD")
    git(fx.work, "commit", "-q", "-m", "squashed feature")
    git(fx.work, "push", "-q", "origin", "main")
    local code, out, err = gt(fx, "polecat", "done", "a")
    assert.equal(0, code, err)
    assert.equal(("polecat a is idle (its branch %s was deleted: its commits are on origin)\n"):format(branch), out)
    assert_idle(fx, "a", id, branch)
    local events = witness.events(fx, "a")
    assert.equal("done", events[#events - 1].kind)
    assert.is_true(events[#events - 1].data.absorbed)
    assert.is_false(has_ref(fx.origin, "refs/heads/" .. branch))
  end)

  it("counts a rebased branch as merged", function()
    local id = commit(fx, "a", "feature.txt", "a feature\n")
    helpers.push_commit({ work = fx.work }, "other.txt", "other\n")
    git(fx.work, "fetch", "-q", fx.rig .. "/.repo.git", branch .. ":feature")
    git(fx.work, "rebase", "-q", "main", "feature")
    git(fx.work, "checkout", "-q", "main")
    git(fx.work, "merge", "-q", "--ff-only", "feature")
    git(fx.work, "push", "-q", "origin", "main")
    assert.are_not.equal(id, git(fx.work, "rev-parse", "main")) -- new commits
    local code, _, err = gt(fx, "polecat", "done", "a")
    assert.equal(0, code, err)
    assert_idle(fx, "a", id, branch)
  end)

  it("judges a branch origin did not merge unsafe", function()
    commit(fx, "a", "feature.txt", "a feature\n")
    helpers.push_commit({ work = fx.work }, "feature.txt", "another feature\n")
    local code, _, err = gt(fx, "polecat", "done", "a")
    assert.equal(3, code)
    assert.matches("1 commit on no remote", err, 1, true)
    assert.equal("working", witness.agent(fx, "a").state)
  end)

  it("--dry-run prints the plan and changes nothing", function()
    local id = commit(fx, "a", "feature.txt", "a feature\n")
    local before = witness.snapshot(fx)
    local code, out, err = gt(fx, "polecat", "done", "a", "--push", "--dry-run")
    assert.equal(0, code, err)
    assert.equal(table.concat({
      "would hand in polecat a:",
      ("  push %s (%s) to origin as refs/heads/%s"):format(branch, id:sub(1, 12), branch),
      "  fetch origin",
      "  detach its worktree's HEAD at " .. id:sub(1, 12),
      "  unlock git's worktree record a",
      "  delete branch " .. branch .. " (its commits are on origin)",
      "  mark demo/a idle in the ledger",
    }, "\n") .. "\n", out)
    assert.same(before, witness.snapshot(fx))
    assert.is_false(has_ref(fx.origin, "refs/heads/" .. branch))
    -- Without --push, the commit is what it would refuse.
    code, out = gt(fx, "polecat", "done", "a", "-n")
    assert.equal(0, code)
    assert.matches("  refuse (exit 3): it holds work that exists nowhere else (1 commit on no remote",
      out, 1, true)
  end)

  it("prints JSON; a done polecat is idle already", function()
    local code, out, err = gt(fx, "polecat", "done", "a", "--json")
    assert.equal(0, code, err)
    local r = json.decode(out)
    assert.equal("a", r.name)
    assert.equal("idle", r.state)
    assert.is_true(r.branch_deleted)
    assert.equal(branch, r.branch)
    code, out, err = gt(fx, "polecat", "done", "a")
    assert.equal(0, code, err)
    assert.equal("polecat a is idle\n", out)
    code, _, err = gt(fx, "doctor")
    assert.equal(0, code, err)
  end)

  it("says an unknown polecat is not found (exit 4)", function()
    local code, _, err = gt(fx, "polecat", "done", "nobody")
    assert.equal(4, code)
    assert.equal("gt: polecat done: no polecat nobody in rig demo\n", err)
  end)
end)
