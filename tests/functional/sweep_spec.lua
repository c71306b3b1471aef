-- Commands over many polecats and over what no polecat owns: remove --all/--idle/--state, nuke,
-- gc, stale and check-recovery. Every --dry-run says what the run then does; work that exists
-- nowhere else is never deleted (refused, saved by --force, or kept and listed).
local helpers = require("helpers")
local witness = require("witness")
local json = require("gt.json")
local git = helpers.git

--- Runs one SQL statement on the town's ledger (what gt itself does not do: a state only
--- another command sets, a time in the past).
local function sql(fx, stmt, ...)
  local db <close> = witness.ledger(fx.town)
  assert(db:exec(stmt, ...))
end

local function add(fx, name)
  local code, _, err = helpers.gt_rig(fx, { "polecat", "add", "--no-fetch", name })
  assert(code == 0, err)
  return fx.rig .. "/polecats/" .. name .. "/demo"
end

--- Runs gt in the rig with --json; returns the exit status and the decoded output.
local function gt_json(fx, args)
  local full = { table.unpack(args) }
  full[#full + 1] = "--json"
  local code, out, err = helpers.gt_rig(fx, full)
  local value = out ~= "" and json.decode(out) or nil
  return code, value, err
end

local function names_of(list)
  local out = {}
  for i, r in ipairs(list) do out[i] = r.name end
  return out
end

--- Makes a commit on `branch` of the rig's repository, on top of `parent`, with `path` set to
--- `content` (git CLI, in a scratch clone); returns its id. The commit is on no remote.
local function commit_on(fx, branch, parent, path, content)
  local dir = helpers.tmpdir("scratch")
  git(dir, "clone", "-q", fx.rig .. "/.repo.git", "c")
  local c = dir .. "/c"
  git(c, "checkout", "-q", "-b", "work", parent)
  helpers.write(c .. "/" .. path, content)
  git(c, "add", "-A")
  git(c, "commit", "-q", "-m", "change " .. path)
  git(c, "push", "-q", "origin", "work:refs/heads/" .. branch)
  return git(c, "rev-parse", "HEAD")
end

--- Puts `content` at `path` on origin's main as a commit of its own (a squash merge), and
--- fetches it into the rig.
local function squash_onto_main(fx, path, content)
  helpers.push_commit({ work = fx.work }, path, content, "squash-merged " .. path)
  git(fx.rig .. "/.repo.git", "fetch", "-q", "origin")
end

describe("gt polecat remove with a selection", function()
  local fx
  before_each(function()
    fx = helpers.fixture()
    for _, n in ipairs({ "a", "b", "c", "d" }) do add(fx, n) end
    sql(fx, "UPDATE agents SET state = 'idle' WHERE name IN ('c', 'd')")
  end)

  it("--idle: the dry run lists the idle ones, and the run removes exactly those", function()
    local code, plan, err = gt_json(fx, { "polecat", "remove", "--idle", "--dry-run" })
    assert.equal(0, code, err)
    assert.same({ "c", "d" }, names_of(plan))
    for _, r in ipairs(plan) do
      assert.is_true(r.dry_run)
      assert.equal("move " .. fx.rig .. "/polecats/" .. r.name .. " and git's worktree record " .. r.name ..
        " into " .. fx.rig .. "/.gt/trash/" .. r.name .. "-<stamp>", r.steps[1])
    end
    assert.same({ "a", "b", "c", "d" }, witness.ls(fx.rig .. "/polecats"))
    local done
    code, done, err = gt_json(fx, { "polecat", "remove", "--idle" })
    assert.equal(0, code, err)
    assert.same(names_of(plan), names_of(done))
    assert.same({ "a", "b" }, witness.ls(fx.rig .. "/polecats"))
    assert.equal("removed", witness.agent(fx, "c").state)
    assert.same({}, witness.disagreements(fx))
  end)

  it("--state and --all select by state, and all of them; none left is said", function()
    local code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "--state", "working", "-n" })
    assert.equal(0, code, err)
    assert.matches("^would remove polecat a:\n.*\nwould remove polecat b:\n", out)
    assert.is_nil(out:find("polecat c", 1, true))
    code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "--state", "working" })
    assert.equal(0, code, err)
    assert.equal("removed polecat a\nremoved polecat b\n", out)
    code, out = helpers.gt_rig(fx, { "polecat", "remove", "--all" })
    assert.equal(0, code)
    assert.equal("removed polecat c\nremoved polecat d\n", out)
    code, out = helpers.gt_rig(fx, { "polecat", "remove", "--all" })
    assert.equal(0, code)
    assert.equal("no polecats to remove\n", out)
    local plan
    code, plan = gt_json(fx, { "polecat", "remove", "--all" })
    assert.equal(0, code)
    assert.same({}, plan)
    assert.same({}, witness.ls(fx.rig .. "/polecats"))
  end)

  it("refuses all of them (exit 3) when one holds work, unless --force saves it", function()
    helpers.write(fx.rig .. "/polecats/b/demo/mine.txt", "mine\n")
    local before = witness.snapshot(fx)
    local code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "--all" })
    assert.equal(3, code)
    assert.equal("", out)
    assert.matches("polecat b holds work that exists nowhere else:\n  1 untracked file: mine.txt\n", err)
    assert.same(before, witness.snapshot(fx))
    code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "--all", "--force" })
    assert.equal(0, code, err)
    local ref = out:match("unsaved work saved to (%S+)")
    assert.equal("mine\n", git(fx.rig .. "/.repo.git", "show", ref .. ":mine.txt") .. "\n")
    assert.same({}, witness.ls(fx.rig .. "/polecats"))
  end)

  it("refuses names and a selection together, two selections, neither, or a bad state (exit 2)", function()
    local before = witness.snapshot(fx)
    for _, case in ipairs({
      { args = { "a", "--all" }, says = "name polecats or select them with %-%-all, not both" },
      { args = { "--all", "--idle" }, says = "%-%-all and %-%-idle select polecats each" },
      { args = {}, says = "name the polecats, or select them with %-%-all, %-%-idle or %-%-state" },
      { args = { "--state", "removed" }, says = "%-%-state 'removed': not the state of a live polecat" },
    }) do
      local args = { "polecat", "remove", table.unpack(case.args) }
      local code, out, err = helpers.gt_rig(fx, args)
      assert.equal(2, code, err)
      assert.equal("", out)
      assert.matches("^gt: polecat remove: " .. case.says, err)
    end
    assert.same(before, witness.snapshot(fx))
  end)
end)

describe("gt polecat nuke", function()
  it("is remove's gate: refuses work that exists nowhere else (exit 3), --force saves it", function()
    local fx = helpers.fixture()
    add(fx, "a")
    local wt = add(fx, "b")
    helpers.write(wt .. "/a.txt", "edited\n")
    local before = witness.snapshot(fx)
    local code, out, err = helpers.gt_rig(fx, { "polecat", "nuke", "a", "b" })
    assert.equal(3, code)
    assert.equal("", out)
    assert.matches("polecat b holds work that exists nowhere else:\n  1 uncommitted change: a.txt\n", err)
    assert.same(before, witness.snapshot(fx))

    code, out, err = helpers.gt_rig(fx, { "polecat", "nuke", "--all", "--dry-run" })
    assert.equal(0, code, err)
    assert.matches("^would nuke polecat a:\n  move ", out)
    assert.matches("\nwould nuke polecat b:\n  refuse: it holds work that exists nowhere else", out)
    assert.same(before, witness.snapshot(fx))

    code, out, err = helpers.gt_rig(fx, { "polecat", "nuke", "--all", "--force" })
    assert.equal(0, code, err)
    assert.matches("^nuked polecat a\nnuked polecat b\n  unsaved work saved to refs/gt/salvage/demo/b/", out)
    local ref = out:match("unsaved work saved to (%S+)")
    assert.equal("edited", git(fx.rig .. "/.repo.git", "show", ref .. ":a.txt"))
    assert.same({}, witness.ls(fx.rig .. "/polecats"))
    assert.same({}, witness.disagreements(fx))
  end)
end)

describe("gt polecat gc", function()
  local fx, repo, main
  before_each(function()
    fx = helpers.fixture()
    repo = fx.rig .. "/.repo.git"
    main = git(repo, "rev-parse", "refs/remotes/origin/main")
  end)

  it("deletes stray branches whose work is elsewhere, keeps and lists the others; dry run = run", function()
    add(fx, "live")
    git(repo, "branch", "polecat/pushed-abc", main) -- all its commits on origin
    local unmerged = commit_on(fx, "polecat/unmerged-abc", main, "new.txt", "only here\n")
    commit_on(fx, "polecat/squashed-abc", main, "a.txt", "squashed\n")
    squash_onto_main(fx, "a.txt", "squashed\n")
    -- Rebased: its change went onto main after main moved on.
    commit_on(fx, "polecat/rebased-abc", main, "src/r.txt", "rebased\n")
    helpers.push_commit({ work = fx.work }, "other.txt", "main moved\n")
    squash_onto_main(fx, "src/r.txt", "rebased\n")
    local before = witness.snapshot(fx)

    local code, plan, err = gt_json(fx, { "polecat", "gc", "--dry-run" })
    assert.equal(0, code, err)
    assert.is_true(plan.dry_run)
    assert.same(before, witness.snapshot(fx))
    local actions = {}
    for _, e in ipairs(plan.entries) do actions[e.branch] = e.action end
    assert.same({ ["polecat/pushed-abc"] = "delete", ["polecat/squashed-abc"] = "delete",
      ["polecat/rebased-abc"] = "delete", ["polecat/unmerged-abc"] = "keep" }, actions)

    local done
    code, done, err = gt_json(fx, { "polecat", "gc" })
    assert.equal(0, code, err)
    for i, e in ipairs(done.entries) do
      assert.equal(e.action == "delete" and "deleted" or "kept", e.result)
      e.result = plan.entries[i].result
      assert.same(plan.entries[i], e)
    end
    local kept = done.entries[#done.entries]
    assert.equal("polecat/unmerged-abc", kept.branch)
    assert.same({ "1 commit on no remote: " .. unmerged:sub(1, 10) .. " change new.txt" }, kept.holds)
    local branches = witness.branches(fx, "polecat/")
    assert.equal(2, #branches)
    assert.equal(witness.agent(fx, "live").branch, branches[1])
    assert.equal("polecat/unmerged-abc", branches[2])
    assert.equal(unmerged, git(repo, "rev-parse", "polecat/unmerged-abc"))
    code = helpers.gt_rig(fx, { "doctor" })
    assert.equal(1, code) -- the branch kept is still there to look at
  end)

  it("deletes a stray folder proven safe with its record and branch, keeps one that holds files", function()
    local wt = add(fx, "ghost")
    local ghost_branch = witness.agent(fx, "ghost").branch
    sql(fx, "UPDATE agents SET state = 'removed' WHERE name = 'ghost'") -- as a ledger restored from a backup
    helpers.write(fx.rig .. "/polecats/junk/notes.txt", "mine\n")
    local code, out, err = helpers.gt_rig(fx, { "polecat", "gc", "-n" })
    assert.equal(0, code, err)
    assert.equal(("would delete folder %s/polecats/ghost (nothing in it is unsaved)\n" ..
      "would keep folder %s/polecats/junk (it holds work that exists nowhere else)\n" ..
      "  1 entry beside the worktree, in its polecat's folder: notes.txt\n" ..
      "would delete branch %s (all its commits are on a remote)\n"):format(fx.rig, fx.rig, ghost_branch), out)
    assert.is_true(helpers.exists(wt .. "/a.txt"))

    code, out, err = helpers.gt_rig(fx, { "polecat", "gc" })
    assert.equal(0, code, err)
    assert.equal(("deleted folder %s/polecats/ghost (nothing in it is unsaved)\n" ..
      "kept folder %s/polecats/junk (it holds work that exists nowhere else)\n" ..
      "  1 entry beside the worktree, in its polecat's folder: notes.txt\n" ..
      "deleted branch %s (all its commits are on a remote)\n"):format(fx.rig, fx.rig, ghost_branch), out)
    assert.same({ "junk" }, witness.ls(fx.rig .. "/polecats"))
    assert.same({}, witness.records(fx))
    assert.same({}, witness.branches(fx, "polecat/"))
    assert.equal("mine\n", helpers.read(fx.rig .. "/polecats/junk/notes.txt"))
    local ops = witness.operations(fx, "ghost")
    assert.equal("done", ops[#ops].status)
  end)

  it("keeps a stray folder whose worktree holds work, and says nothing is left otherwise", function()
    local wt = add(fx, "ghost")
    sql(fx, "UPDATE agents SET state = 'removed' WHERE name = 'ghost'")
    helpers.write(wt .. "/mine.txt", "mine\n")
    local code, out, err = helpers.gt_rig(fx, { "polecat", "gc" })
    assert.equal(0, code, err)
    assert.matches("kept folder " .. fx.rig:gsub("%p", "%%%0") .. "/polecats/ghost %(it holds work " ..
      "that exists nowhere else%)\n  1 untracked file: mine.txt\n", out)
    assert.equal("mine\n", helpers.read(wt .. "/mine.txt"))
    os.remove(wt .. "/mine.txt")
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "gc" })))
    code, out = helpers.gt_rig(fx, { "polecat", "gc" })
    assert.equal(0, code)
    assert.equal("nothing to collect: every polecat branch and folder has its polecat\n", out)
  end)
end)

describe("gt polecat stale", function()
  it("finds those far behind origin, keeps those with work, and --cleanup removes only the safe", function()
    local fx = helpers.fixture()
    add(fx, "a")
    local wt_b = add(fx, "b")
    add(fx, "c")
    helpers.write(wt_b .. "/mine.txt", "mine\n")
    for i = 1, 3 do helpers.push_commit({ work = fx.work }, "n" .. i .. ".txt", "x\n") end

    local code, rows, err = gt_json(fx, { "polecat", "stale", "--behind", "4" })
    assert.equal(0, code, err)
    for _, r in ipairs(rows) do
      assert.equal(3, r.behind)
      assert.is_false(r.stale)
    end
    code, rows, err = gt_json(fx, { "polecat", "stale", "--behind", "3" })
    assert.equal(0, code, err)
    assert.same({ "a", "b", "c" }, names_of(rows))
    assert.same({ true, false, true }, { rows[1].stale, rows[2].stale, rows[3].stale })
    assert.equal("3 commits behind origin/main", rows[1].reason)
    assert.equal("it holds work that exists nowhere else", rows[2].reason)
    assert.same({ "1 untracked file: mine.txt" }, rows[2].holds)

    local before = witness.snapshot(fx)
    local out
    code, out, err = helpers.gt_rig(fx, { "polecat", "stale", "--behind", "3", "--cleanup", "-n" })
    assert.equal(0, code, err)
    assert.matches("\nwould remove polecat a\nwould remove polecat c\nwould keep polecat b: 3 commits " ..
      "behind origin/main, but it holds work that exists nowhere else\n$", out)
    assert.same(before, witness.snapshot(fx))

    code, out, err = helpers.gt_rig(fx, { "polecat", "stale", "--behind", "3", "--cleanup" })
    assert.equal(0, code, err)
    assert.matches("\nremoved polecat a\nremoved polecat c\nkept polecat b: 3 commits behind origin/main, " ..
      "but it holds work that exists nowhere else\n$", out)
    assert.same({ "b" }, witness.ls(fx.rig .. "/polecats"))
    assert.equal("mine\n", helpers.read(wt_b .. "/mine.txt"))
  end)

  it("--idle-for: stale once idle that long", function()
    local fx = helpers.fixture()
    add(fx, "a")
    add(fx, "b")
    local week = 7 * 86400 * 1000
    sql(fx, "UPDATE agents SET updated_at = updated_at - ? WHERE name = 'a'", week + 86400 * 1000)
    local code, rows, err = gt_json(fx, { "polecat", "stale", "--no-fetch", "--idle-for", "1w" })
    assert.equal(0, code, err)
    assert.same({ true, false }, { rows[1].stale, rows[2].stale })
    assert.equal("idle for 8d", rows[1].reason)
    code, rows = gt_json(fx, { "polecat", "stale", "--no-fetch", "--idle-for", "7d1h" })
    assert.equal(0, code)
    assert.is_true(rows[1].stale)
    code, rows = gt_json(fx, { "polecat", "stale", "--no-fetch", "--idle-for", "9d" })
    assert.equal(0, code)
    assert.is_false(rows[1].stale)
  end)

  it("never calls a polecat with a session running stale", function()
    local fx = helpers.fixture()
    add(fx, "a")
    local code, _, err = helpers.gt_rig(fx, { "polecat", "run", "a", "--detach", "--", "sleep", "60" })
    assert.equal(0, code, err)
    local rows
    code, rows, err = gt_json(fx, { "polecat", "stale", "--no-fetch", "--idle-for", "0s", "--cleanup" })
    assert.equal(0, code, err)
    assert.same({ "a" }, names_of(rows.polecats))
    assert.is_false(rows.polecats[1].stale)
    assert.is_true(rows.polecats[1].session)
    assert.equal("a session is running in it", rows.polecats[1].reason)
    assert.same({}, rows.removed)
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "stop", "a" })))
    code, rows = gt_json(fx, { "polecat", "stale", "--no-fetch", "--idle-for", "0s" })
    assert.equal(0, code)
    assert.is_true(rows[1].stale)
    assert.is_false(rows[1].session)
  end)

  it("refuses a bad --behind or --idle-for (exit 2)", function()
    local fx = helpers.fixture()
    for _, case in ipairs({ { "--behind", "0", "%-%-behind needs a positive number, got '0'" },
      { "--idle-for", "3x", "%-%-idle%-for needs a duration such as 30m, 12h, 3d or 1w, got '3x'" } }) do
      local code, out, err = helpers.gt_rig(fx, { "polecat", "stale", case[1], case[2] })
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("^gt: polecat stale: " .. case[3], err)
    end
  end)
end)

describe("gt polecat check-recovery", function()
  local fx
  before_each(function() fx = helpers.fixture() end)

  local function verdict(name)
    local code, v, err = gt_json(fx, { "polecat", "check-recovery", name })
    return code, v, err
  end

  it("says SAFE_TO_REMOVE (exit 0) for a clean polecat, NEEDS_RECOVERY (exit 3) with reasons", function()
    local wt = add(fx, "a")
    local code, out, err = helpers.gt_rig(fx, { "polecat", "check-recovery", "a" })
    assert.equal(0, code, err)
    assert.equal("polecat demo/a: SAFE_TO_REMOVE\n  all its work exists elsewhere\n", out)
    helpers.write(wt .. "/mine.txt", "mine\n")
    code, out = helpers.gt_rig(fx, { "polecat", "check-recovery", "a" })
    assert.equal(3, code)
    assert.equal("polecat demo/a: NEEDS_RECOVERY\n  1 untracked file: mine.txt\n", out)
    local v
    code, v = verdict("a")
    assert.equal(3, code)
    assert.same({ rig = "demo", name = "a", state = "working", branch = witness.agent(fx, "a").branch,
      verdict = "NEEDS_RECOVERY", safe = false, savable = true, absorbed = false,
      reasons = { "1 untracked file: mine.txt" } }, v)
    code, _, err = verdict("nobody")
    assert.equal(4, code)
    assert.matches("no polecat nobody in rig demo", err)
  end)

  it("judges a squash-merged and a rebased branch safe, an unmerged one not", function()
    for _, case in ipairs({ "squashed", "rebased", "unmerged" }) do
      local wt = add(fx, case)
      helpers.write(wt .. "/" .. case .. ".txt", case .. "\n")
      git(wt, "add", "-A")
      git(wt, "commit", "-q", "-m", "work of " .. case)
    end
    squash_onto_main(fx, "squashed.txt", "squashed\n")
    helpers.push_commit({ work = fx.work }, "other.txt", "main moved\n")
    squash_onto_main(fx, "rebased.txt", "rebased\n")
    local code, v, err = verdict("squashed")
    assert.equal(0, code, err)
    assert.equal("SAFE_TO_REMOVE", v.verdict)
    assert.is_true(v.absorbed)
    code, v = verdict("rebased")
    assert.equal(0, code)
    assert.equal("SAFE_TO_REMOVE", v.verdict)
    code, v = verdict("unmerged")
    assert.equal(3, code)
    assert.equal("NEEDS_RECOVERY", v.verdict)
    assert.matches("^1 commit on no remote: %x+ work of unmerged$", v.reasons[1])
    -- And remove agrees.
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "remove", "squashed", "rebased" })))
    assert.equal(3, (helpers.gt_rig(fx, { "polecat", "remove", "unmerged" })))
  end)
end)
