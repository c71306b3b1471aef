-- gt polecat remove, run as a user runs it: what counts as work that exists nowhere else, the
-- refusal (exit 3) that lists exactly it, the salvage under refs/gt/salvage/ checked byte for
-- byte with the git CLI, and what a removal leaves behind.
local helpers = require("helpers")
local witness = require("witness")
local sys = require("gt.sys")
local _ -- discarded results (code, _, err = ...)
local git = helpers.git

local REFUSED = "gt: polecat remove: refusing to remove: "
local NOTHING_REMOVED = "nothing was removed; use --force to save this work under refs/gt/salvage/ " ..
  "and remove, or --force --discard to drop it\n"

local function remove(fx, args, opts)
  local argv = { "polecat", "remove" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return helpers.gt_rig(fx, argv, opts)
end

--- Runs git in `dir` and returns its exit status (for commands expected to fail).
local function git_exit(dir, ...)
  return helpers.run({ "git", "-C", dir, ... }).code
end

--- Checks that polecat `name` is gone everywhere: folder, git's record, branch, live ledger row.
local function assert_removed(fx, name, branch, last_events)
  assert.is_false(helpers.exists(fx.rig .. "/polecats/" .. name))
  for _, wt in ipairs(witness.worktrees(fx)) do
    assert.are_not.equal(fx.rig .. "/polecats/" .. name .. "/demo", wt.path)
  end
  assert.is_false(helpers.exists(fx.rig .. "/.repo.git/worktrees/" .. name))
  assert.equal(1, git_exit(fx.rig .. "/.repo.git", "show-ref", "--verify", "--quiet",
    "refs/heads/" .. branch))
  local agent = witness.agent(fx, name)
  assert.equal("removed", agent.state)
  assert.is_number(agent.removed_at)
  local kinds = witness.event_kinds(fx, name)
  assert.same(last_events, { table.unpack(kinds, #kinds - #last_events + 1) })
end

--- Checks that polecat `name` is all there: folder, git's record, branch, working ledger row.
local function assert_intact(fx, name)
  local agent = witness.agent(fx, name)
  assert.equal("working", agent.state)
  assert.is_true(helpers.exists(agent.worktree .. "/.git"))
  assert.is_true(helpers.exists(fx.rig .. "/.repo.git/worktrees/" .. name))
  git(fx.rig .. "/.repo.git", "show-ref", "--verify", "--quiet", "refs/heads/" .. agent.branch)
end

--- The parts of a forced remove's report: salvage ref, commit (abbreviated) and restore hint.
local function parse_forced(out, name)
  local ref, short, hint = out:match("^removed polecat " .. name .. "\n" ..
    "  unsaved work saved to (refs/gt/salvage/%S+) %(commit (%x+)%)\n" ..
    "  get it back with: ([^\n]+)\n$")
  return ref, short, hint
end

describe("gt polecat remove", function()
  local fx, wt, branch
  before_each(function()
    fx = helpers.fixture()
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
    wt = fx.rig .. "/polecats/a/demo"
    branch = witness.agent(fx, "a").branch
  end)

  it("removes a clean polecat without --force", function()
    local code, out, err = remove(fx, { "a" })
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.equal("removed polecat a\n", out)
    assert_removed(fx, "a", branch, { "spawning", "spawned", "removing", "removed" })
    assert.same({}, witness.ls(fx.rig .. "/polecats"))
    assert.same({}, witness.worktrees(fx))
    assert.equal("", git(fx.rig .. "/.repo.git", "for-each-ref", "refs/gt/"))
    assert.equal("done", witness.operations(fx, "a")[2].status)
  end)

  it("refuses an unknown name (exit 4), changing nothing but its lock file", function()
    local before = witness.snapshot(fx)
    local code, out, err = remove(fx, { "zed" })
    assert.equal(4, code)
    assert.equal("", out)
    assert.equal("gt: polecat remove: no polecat zed in rig demo\n", err)
    assert.same(before, witness.snapshot(fx, { "/.gt/locks/polecat-zed.lock" }))
    before = witness.snapshot(fx)
    code, out, err = remove(fx, { "a", "zed" })
    assert.equal(4, code)
    assert.equal("gt: polecat remove: no polecat zed in rig demo\n", err)
    assert.same(before, witness.snapshot(fx))
  end)

  it("refuses hostile names (exit 2), changing nothing", function()
    local before = witness.snapshot(fx)
    for _, case in ipairs({
      { "../a", "'../a': must start with a letter or a digit" },
      { "a/../a", "'a/../a': must contain only letters, digits, '.', '_' and '-' (found '/')" },
      { "", "'': must not be empty" },
    }) do
      local code, out, err = remove(fx, { "--force", "--", case[1] })
      assert.equal(2, code)
      assert.equal("", out)
      assert.equal("gt: polecat remove: invalid polecat name " .. case[2] .. "\n", err)
    end
    -- One bad name among good ones: nothing is removed.
    local code, _, err = remove(fx, { "a", "--", "-rf" })
    assert.equal(2, code)
    assert.equal("gt: polecat remove: invalid polecat name '-rf': must start with a letter or a digit\n", err)
    assert.same(before, witness.snapshot(fx))
  end)

  it("with --json prints what it did", function()
    helpers.write(wt .. "/x.txt", "a\n")
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "b" })))
    local code, out, err = remove(fx, { "a", "b", "--force", "--json" })
    assert.equal(0, code, err)
    assert.equal("", err)
    local results = require("gt.json").decode(out)
    assert.equal(2, #results)
    local ref = git(fx.rig .. "/.repo.git", "for-each-ref", "--format=%(refname)", "refs/gt/salvage/")
    -- Each folder was moved into the rig's trash, deleted in the background.
    assert.matches("^" .. (fx.rig .. "/.gt/trash/a-"):gsub("%p", "%%%0") .. "[0-9a-z]+$", results[1].trash)
    assert.matches("^" .. (fx.rig .. "/.gt/trash/b-"):gsub("%p", "%%%0") .. "[0-9a-z]+$", results[2].trash)
    assert.same({ name = "a", safe = false, dry_run = false, discarded = false, background = true,
      trash = results[1].trash, salvage = { ref = ref, commit = git(fx.rig .. "/.repo.git", "rev-parse", ref) } },
      results[1])
    assert.same({ name = "b", safe = true, dry_run = false, discarded = false, background = true,
      trash = results[2].trash }, results[2])
    assert.is_true(witness.settle(fx))
  end)

  it("refuses --discard without --force (exit 2)", function()
    local before = witness.snapshot(fx)
    local code, out, err = remove(fx, { "a", "--discard" })
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal("gt: polecat remove: --discard only makes sense with --force\n", err)
    assert.same(before, witness.snapshot(fx))
  end)

  -- Each kind of work that exists nowhere else: how to make it in the worktree, the lines the
  -- refusal lists for it, and what else the salvage must keep reachable.
  local kinds = {
    {
      what = "an unstaged change",
      make = function() helpers.write(wt .. "/a.txt", "hello\nworld\nunstaged\n") end,
      lines = function() return "  1 uncommitted change: a.txt\n" end,
    },
    {
      what = "a staged change",
      make = function()
        helpers.write(wt .. "/src/b.txt", "bee\nstaged\n")
        git(wt, "add", "src/b.txt")
      end,
      lines = function() return "  1 staged change: src/b.txt\n" end,
    },
    {
      what = "a staged change changed again",
      make = function()
        helpers.write(wt .. "/src/b.txt", "bee\nstaged\n")
        git(wt, "add", "src/b.txt")
        helpers.write(wt .. "/src/b.txt", "bee\nstaged\nthen changed\n")
      end,
      lines = function() return "  1 staged change: src/b.txt\n  1 uncommitted change: src/b.txt\n" end,
      kept = function(ref)
        -- The index as staged is a parent of the salvage commit.
        local bare = fx.rig .. "/.repo.git"
        local found = false
        for parent in git(bare, "rev-list", "--parents", "-n1", ref):gmatch(" (%x+)") do
          if witness.commit_files(bare, parent)["src/b.txt"] == "bee\nstaged\n" then found = true end
        end
        assert.is_true(found, "no parent holds the staged version")
      end,
    },
    {
      what = "an untracked file in a new folder",
      make = function() helpers.write(wt .. "/new/deep/u.txt", "untracked\n") end,
      lines = function() return "  1 untracked file: new/deep/u.txt\n" end,
    },
    {
      what = "an untracked binary file",
      make = function()
        local bytes = {}
        for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
        helpers.write(wt .. "/blob.bin", table.concat(bytes):rep(3) .. "\0\r\n")
      end,
      lines = function() return "  1 untracked file: blob.bin\n" end,
    },
    {
      what = "a conflicted file",
      make = function()
        -- origin gets a branch that changes a.txt against main's parent; merging it conflicts.
        git(fx.work, "checkout", "-q", "-b", "side", "main~1")
        helpers.write(fx.work .. "/a.txt", "hello\nthere\n")
        git(fx.work, "commit", "-q", "-am", "side")
        git(fx.work, "push", "-q", "origin", "side")
        git(fx.work, "checkout", "-q", "main")
        git(fx.rig .. "/.repo.git", "fetch", "-q", "origin")
        assert.equal(1, git_exit(wt, "merge", "-q", "origin/side"))
        assert.matches("^<<<<<<<", helpers.read(wt .. "/a.txt"):match("\n(.*)$"))
      end,
      lines = function() return "  1 conflicted file: a.txt\n" end,
    },
    {
      what = "a stash made on its branch",
      make = function()
        helpers.write(wt .. "/a.txt", "stashed\n")
        git(wt, "stash", "-q")
      end,
      lines = function()
        return ("  1 stash: stash@{0} %s\n"):format(git(wt, "stash", "list", "--format=%gs"))
      end,
      kept = function(ref)
        local stash = git(fx.rig .. "/.repo.git", "rev-parse", "refs/stash")
        assert.equal(0, git_exit(fx.rig .. "/.repo.git", "merge-base", "--is-ancestor", stash, ref))
        assert.equal("stashed\n", witness.commit_files(fx.rig .. "/.repo.git", stash)["a.txt"])
      end,
    },
    {
      what = "a stash with a message, made on its branch",
      make = function()
        helpers.write(wt .. "/new.txt", "stashed too\n")
        git(wt, "stash", "push", "-q", "--include-untracked", "-m", "half done")
      end,
      lines = function()
        return ("  1 stash: stash@{0} On %s: half done\n"):format(branch)
      end,
      kept = function(ref)
        local stash = git(fx.rig .. "/.repo.git", "rev-parse", "refs/stash")
        assert.equal(0, git_exit(fx.rig .. "/.repo.git", "merge-base", "--is-ancestor", stash, ref))
        -- git keeps stashed untracked files in the stash's third parent.
        assert.equal("stashed too\n", witness.commit_files(fx.rig .. "/.repo.git", stash .. "^3")["new.txt"])
      end,
    },
    {
      what = "unpushed commits",
      make = function()
        helpers.write(wt .. "/one.txt", "1\n")
        git(wt, "add", "one.txt")
        git(wt, "commit", "-q", "-m", "one")
        helpers.write(wt .. "/two.txt", "2\n")
        git(wt, "add", "two.txt")
        git(wt, "commit", "-q", "-m", "two")
      end,
      lines = function()
        return ("  2 commits on no remote: %s two, %s one\n"):format(
          git(wt, "rev-parse", "HEAD"):sub(1, 10), git(wt, "rev-parse", "HEAD~1"):sub(1, 10))
      end,
    },
  }

  for _, kind in ipairs(kinds) do
    describe("with " .. kind.what, function()
      local lines, files, head
      before_each(function()
        kind.make()
        lines = kind.lines()
        files = witness.files(wt)
        head = git(wt, "rev-parse", "HEAD")
      end)

      it("refuses without --force (exit 3), listing exactly it, and removes nothing", function()
        local before = witness.snapshot(fx)
        local code, out, err = remove(fx, { "a" })
        assert.equal(3, code)
        assert.equal("", out)
        assert.equal(REFUSED .. "polecat a holds work that exists nowhere else:\n" .. lines ..
          NOTHING_REMOVED, err)
        assert.same(before, witness.snapshot(fx))
        assert_intact(fx, "a")
        assert.same(files, witness.files(wt))
      end)

      it("with --force saves it under refs/gt/salvage/demo/a/<stamp>, then removes", function()
        local t0 = sys.now_ms()
        local code, out, err = remove(fx, { "a", "--force" })
        local t1 = sys.now_ms()
        assert.equal(0, code, err)
        assert.equal("", err)
        local ref, short, hint = parse_forced(out, "a")
        assert.is_string(ref, out)
        local stamp = ref:match("^refs/gt/salvage/demo/a/([0-9a-z]+)$")
        assert.is_true(tonumber(stamp, 36) >= t0 and tonumber(stamp, 36) <= t1)
        local bare = fx.rig .. "/.repo.git"
        local commit = git(bare, "rev-parse", ref)
        assert.equal(short, commit:sub(1, 12))
        -- The whole working tree, byte for byte; the tip of the branch reachable.
        assert.same(files, witness.commit_files(bare, ref))
        assert.equal(0, git_exit(bare, "merge-base", "--is-ancestor", head, ref))
        if kind.kept then kind.kept(ref) end

        assert_removed(fx, "a", branch, { "salvaged", "removing", "removed" })
        local events = witness.events(fx, "a")
        local salvaged = events[#events - 2]
        assert.equal(ref, salvaged.data.ref)
        assert.equal(commit, salvaged.data.commit)
        assert.equal(ref, events[#events].data.salvage)

        -- The printed command gives the files back.
        local repo, shown = hint:match("^git %-C (%S+) worktree add <folder> (%S+)$")
        assert.equal(bare, repo)
        assert.equal(ref, shown)
        local restored = helpers.tmpdir("restore") .. "/restored"
        git(repo, "worktree", "add", "-q", restored, ref)
        assert.same(files, witness.files(restored))
      end)

      it("with --force --discard removes without saving", function()
        local code, out, err = remove(fx, { "a", "--force", "--discard" })
        assert.equal(0, code, err)
        assert.equal("", err)
        assert.equal("removed polecat a\n  unsaved work discarded (--discard)\n", out)
        assert.equal("", git(fx.rig .. "/.repo.git", "for-each-ref", "refs/gt/"))
        assert_removed(fx, "a", branch, { "spawned", "removing", "removed" })
        local events = witness.events(fx, "a")
        assert.is_true(events[#events].data.discarded)
      end)
    end)
  end

  it("with --force refuses (exit 3), removing nothing, when the work cannot be saved", function()
    -- A repository of its own inside the worktree: git cannot hold its files in a commit.
    git(wt, "init", "-q", "vendor/lib")
    helpers.write(wt .. "/vendor/lib/precious.txt", "precious\n")
    local before = witness.snapshot(fx)
    local code, out, err = remove(fx, { "a", "--force" })
    assert.equal(3, code)
    assert.equal("", out)
    assert.equal("gt: polecat remove: refusing to remove: polecat a holds work gt cannot save:\n" ..
      "  repository nested in the worktree: vendor/lib/: 1 untracked file (gt cannot save it: " ..
      "commit and push its work from " .. wt .. "/vendor/lib, or move it out)\n" ..
      "nothing was removed; save that work yourself, or use --force --discard to drop it\n", err)
    assert.same(before, witness.snapshot(fx))
    assert_intact(fx, "a")
    assert.equal("precious\n", helpers.read(wt .. "/vendor/lib/precious.txt"))
  end)

  it("is previewed by gt polecat status", function()
    helpers.write(wt .. "/a.txt", "changed\n")
    helpers.write(wt .. "/new.txt", "new\n")
    local code, out, err = helpers.gt_rig(fx, { "polecat", "status", "a" })
    assert.equal(0, code, err)
    assert.equal(("polecat demo/a: working\n  branch  %s\n  path    %s\n  unsaved work:\n" ..
      "    1 uncommitted change: a.txt\n    1 untracked file: new.txt\n"):format(branch, wt), out)
    code, out = helpers.gt_rig(fx, { "polecat", "status", "a", "--json" })
    assert.equal(0, code)
    local s = require("gt.json").decode(out)
    assert.is_false(s.safe)
    assert.same({ "a.txt" }, s.unstaged)
    assert.same({ "new.txt" }, s.untracked)
    assert.same({}, s.staged)
  end)

  it("lists every kind of unsaved work at once", function()
    helpers.write(wt .. "/a.txt", "changed\n")
    helpers.write(wt .. "/src/b.txt", "staged\n")
    git(wt, "add", "src/b.txt")
    helpers.write(wt .. "/u1.txt", "u\n")
    helpers.write(wt .. "/u2/u.txt", "u\n")
    local code, _, err = remove(fx, { "a" })
    assert.equal(3, code)
    assert.equal(REFUSED .. "polecat a holds work that exists nowhere else:\n" ..
      "  1 staged change: src/b.txt\n" ..
      "  1 uncommitted change: a.txt\n" ..
      "  2 untracked files: u1.txt, u2/u.txt\n" .. NOTHING_REMOVED, err)
  end)

  it("does not count ignored files", function()
    local exclude = fx.rig .. "/.repo.git/info/exclude"
    helpers.write(exclude, (helpers.read(exclude) or "") .. "*.log\n")
    helpers.write(wt .. "/build.log", "noise\n")
    assert.equal("", git(wt, "status", "--porcelain"))
    local code, out, err = remove(fx, { "a" })
    assert.equal(0, code, err)
    assert.equal("removed polecat a\n", out)
  end)

  it("counts commits pushed to origin as safe", function()
    helpers.write(wt .. "/feature.txt", "feature\n")
    git(wt, "add", "feature.txt")
    git(wt, "commit", "-q", "-m", "feature")
    git(wt, "push", "-q", "origin", "HEAD:refs/heads/feature")
    local code, out, err = remove(fx, { "a" })
    assert.equal(0, code, err)
    assert.equal("removed polecat a\n", out)
    assert_removed(fx, "a", branch, { "removing", "removed" })
  end)

  it("counts a branch squash-merged into origin's main as safe", function()
    helpers.write(wt .. "/a.txt", "hello\nworld\nsquashed\n")
    helpers.write(wt .. "/f.txt", "new file\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-q", "-m", "work 1")
    helpers.write(wt .. "/f.txt", "new file, better\n")
    git(wt, "commit", "-q", "-am", "work 2")
    -- The same change lands on origin's main as one different commit.
    helpers.write(fx.work .. "/a.txt", "hello\nworld\nsquashed\n")
    helpers.write(fx.work .. "/f.txt", "new file, better\n")
    git(fx.work, "add", "-A")
    git(fx.work, "commit", "-q", "-m", "Squashed: work (#1)")
    git(fx.work, "push", "-q", "origin", "main")
    git(fx.rig .. "/.repo.git", "fetch", "-q", "origin")
    local tip = git(wt, "rev-parse", "HEAD")
    assert.equal(1, git_exit(fx.rig .. "/.repo.git", "merge-base", "--is-ancestor", tip, "origin/main"))
    local code, out, err = remove(fx, { "a" })
    assert.equal(0, code, err)
    assert.equal("removed polecat a\n", out)
    assert_removed(fx, "a", branch, { "removing", "removed" })
  end)

  it("refuses a branch only partly merged into origin's main", function()
    helpers.write(wt .. "/f.txt", "merged\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-q", "-m", "merged part")
    helpers.write(wt .. "/g.txt", "not merged\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-q", "-m", "unmerged part")
    helpers.write(fx.work .. "/f.txt", "merged\n")
    git(fx.work, "add", "-A")
    git(fx.work, "commit", "-q", "-m", "Squashed: merged part")
    git(fx.work, "push", "-q", "origin", "main")
    git(fx.rig .. "/.repo.git", "fetch", "-q", "origin")
    local code, _, err = remove(fx, { "a" })
    assert.equal(3, code)
    assert.equal(REFUSED .. "polecat a holds work that exists nowhere else:\n" ..
      ("  2 commits on no remote: %s unmerged part, %s merged part\n"):format(
        git(wt, "rev-parse", "HEAD"):sub(1, 10), git(wt, "rev-parse", "HEAD~1"):sub(1, 10)) ..
      NOTHING_REMOVED, err)
  end)

  describe("with a second polecat b", function()
    local wt_b, branch_b
    before_each(function()
      assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "b" })))
      wt_b = fx.rig .. "/polecats/b/demo"
      branch_b = witness.agent(fx, "b").branch
    end)

    it("is not blocked by a stash made on b's branch", function()
      helpers.write(wt_b .. "/a.txt", "b's stash\n")
      git(wt_b, "stash", "-q")
      local code, out, err = remove(fx, { "a" })
      assert.equal(0, code, err)
      assert.equal("removed polecat a\n", out)
      assert_removed(fx, "a", branch, { "removing", "removed" })
      code, _, err = remove(fx, { "b" })
      assert.equal(3, code)
      assert.matches("\n  1 stash: stash@{0} WIP on " .. branch_b:gsub("%p", "%%%0") .. ": ", err)
      assert_intact(fx, "b")
    end)

    it("refuses to remove both when one is dirty, and removes neither", function()
      helpers.write(wt_b .. "/notes.txt", "b's notes\n")
      local before = witness.snapshot(fx)
      local code, out, err = remove(fx, { "a", "b" })
      assert.equal(3, code)
      assert.equal("", out)
      assert.equal(REFUSED .. "polecat b holds work that exists nowhere else:\n" ..
        "  1 untracked file: notes.txt\n" .. NOTHING_REMOVED, err)
      assert.same(before, witness.snapshot(fx))
      assert_intact(fx, "a")
      assert_intact(fx, "b")
    end)

    it("lists the work of each dirty one", function()
      helpers.write(wt .. "/x.txt", "a\n")
      helpers.write(wt_b .. "/y.txt", "b\n")
      local code, _, err = remove(fx, { "b", "a" })
      assert.equal(3, code)
      assert.equal(REFUSED .. "polecat a holds work that exists nowhere else:\n" ..
        "  1 untracked file: x.txt\n" ..
        "polecat b holds work that exists nowhere else:\n" ..
        "  1 untracked file: y.txt\n" .. NOTHING_REMOVED, err)
    end)

    it("with --force saves and removes each", function()
      helpers.write(wt .. "/x.txt", "a\n")
      local code, out, err = remove(fx, { "a", "b", "--force" })
      assert.equal(0, code, err)
      assert.matches("^removed polecat a\n  unsaved work saved to refs/gt/salvage/demo/a/", out)
      assert.matches("\nremoved polecat b\n$", out)
      assert_removed(fx, "a", branch, { "salvaged", "removing", "removed" })
      assert_removed(fx, "b", branch_b, { "spawned", "removing", "removed" })
      assert.same({}, witness.worktrees(fx))
    end)
  end)

  describe("--dry-run", function()
    it("prints the plan of a forced remove and changes nothing", function()
      helpers.write(wt .. "/x.txt", "a\n")
      local before = witness.snapshot(fx)
      local code, out, err = remove(fx, { "a", "--force", "--dry-run" })
      assert.equal(0, code, err)
      assert.equal("", err)
      assert.equal("would remove polecat a:\n" ..
        "  save unsaved work under refs/gt/salvage/demo/a/<stamp>\n" ..
        "  move " .. fx.rig .. "/polecats/a and git's worktree record a into " .. fx.rig ..
        "/.gt/trash/a-<stamp>\n" ..
        "  delete branch " .. branch .. "\n" ..
        "  mark demo/a removed in the ledger\n" ..
        "  delete the trash in the background: prove what it holds, save what appeared since, " ..
        "delete the rest\n", out)
      assert.same(before, witness.snapshot(fx))
    end)

    it("prints the plan of a forced remove --wait, deleting before it returns, and changes nothing", function()
      helpers.write(wt .. "/x.txt", "a\n")
      local before = witness.snapshot(fx)
      local code, out, err = remove(fx, { "a", "--force", "--dry-run", "--wait" })
      assert.equal(0, code, err)
      assert.equal("would remove polecat a:\n" ..
        "  save unsaved work under refs/gt/salvage/demo/a/<stamp>\n" ..
        "  delete " .. fx.rig .. "/polecats/a\n" ..
        "  prune git's worktree record a\n" ..
        "  delete branch " .. branch .. "\n" ..
        "  mark demo/a removed in the ledger\n", out)
      assert.same(before, witness.snapshot(fx))
    end)

    it("prints the plan of a clean remove and changes nothing", function()
      local before = witness.snapshot(fx)
      local code, out, err = remove(fx, { "-n", "a", "--wait" })
      assert.equal(0, code, err)
      assert.equal("would remove polecat a:\n" ..
        "  delete " .. fx.rig .. "/polecats/a\n" ..
        "  prune git's worktree record a\n" ..
        "  delete branch " .. branch .. "\n" ..
        "  mark demo/a removed in the ledger\n", out)
      assert.same(before, witness.snapshot(fx))
    end)

    it("says a remove without --force would refuse, and changes nothing", function()
      helpers.write(wt .. "/x.txt", "a\n")
      local before = witness.snapshot(fx)
      local code, out = remove(fx, { "a", "--dry-run" })
      assert.equal(0, code)
      assert.equal("would remove polecat a:\n" ..
        "  refuse: it holds work that exists nowhere else (1 untracked file: x.txt)\n", out)
      assert.same(before, witness.snapshot(fx))
    end)
  end)

  describe("hooks", function()
    -- arg: town, event, polecat name, "force" or nothing. Registers a failing hook for the
    -- event, removes the polecat and prints what polecat.remove returned or raised.
    local HOOKED = [[
      local rig = require("gt.town").open(arg[1]):find_rig("demo")
      local event = arg[2]
      require("gt.hooks").on(event, function(ctx)
        error(event .. " says no to " .. ctx.name .. (ctx.report.safe and " (safe)" or " (unsafe)"))
      end)
      local ok, r = pcall(require("gt.polecat").remove, rig, { arg[3] }, { force = arg[4] == "force" })
      if not ok then print("raised: " .. tostring(r)) return 1 end
      for _, e in ipairs(r.hook_errors or {}) do print("hook error: " .. e) end
      for _, x in ipairs(r) do print("removed " .. x.name) end
    ]]

    it("a failing pre_remove hook vetoes the removal, even forced, with nothing changed", function()
      helpers.write(wt .. "/x.txt", "a\n")
      local before = witness.snapshot(fx)
      local code, out, err = witness.script(HOOKED, { fx.town, "pre_remove", "a", "force" })
      assert.equal(1, code, err)
      assert.matches("^raised: a: pre_remove hook %(.-script%.lua:4%): pre_remove says no to a %(unsafe%)\n$", out)
      assert.same(before, witness.snapshot(fx))
      assert_intact(fx, "a")
    end)

    it("a failing post_remove hook is reported, and the removal stands", function()
      local code, out, err = witness.script(HOOKED, { fx.town, "post_remove", "a" })
      assert.equal(0, code, err)
      assert.matches("^hook error: a: post_remove hook %(.-script%.lua:4%): post_remove says no to a %(safe%)\n" ..
        "removed a\n$", out)
      assert_removed(fx, "a", branch, { "removing", "removed" })
    end)
  end)

  it("refuses while the current directory is inside the worktree", function()
    local before = witness.snapshot(fx)
    for _, cwd in ipairs({ wt .. "/src", wt, fx.rig .. "/polecats/a" }) do
      local code, out, err = remove(fx, { "a" }, { cwd = cwd })
      assert.equal(1, code)
      assert.equal("", out)
      assert.equal(("gt: polecat remove: polecat a: the current directory is inside its worktree; " ..
        "cd out of %s first\n"):format(fx.rig .. "/polecats/a"), err)
    end
    assert.same(before, witness.snapshot(fx))
    local code, _, err = remove(fx, { "a" }, { cwd = fx.rig .. "/polecats" })
    assert.equal(0, code, err)
  end)

  it("removes a polecat whose worktree folder was deleted by hand", function()
    assert(require("gt.fs").remove_tree(fx.rig .. "/polecats/a"))
    local code, out, err = remove(fx, { "a" })
    assert.equal(0, code, err)
    assert.equal("removed polecat a\n", out)
    assert_removed(fx, "a", branch, { "removing", "removed" })
    assert.same({}, witness.worktrees(fx))
  end)
end)
