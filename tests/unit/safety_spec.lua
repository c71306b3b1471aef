-- gt.safety on real polecats: a town, a rig and polecats made by the gt binary, work made in
-- their worktrees with the git CLI, then classified in-process (gt.town, gt.rig, gt.polecat)
-- and described as a removal would describe it.
local safety = require("gt.safety")
local town_mod = require("gt.town")
local polecat = require("gt.polecat")
local luafile = require("gt.luafile")
local fs = require("gt.fs")
local helpers = require("helpers")
local git = helpers.git

local GITIGNORE = "*.log\n.env*\nbuild/\n"

--- A town with rig "demo" cloned from an origin whose main has a .gitignore (GITIGNORE), and
--- polecat "a". Returns { town, rig (path), name, work (a clone of origin to push from), wt }.
local function polecat_fixture()
  local dir = helpers.tmpdir("safety")
  local o = helpers.origin(dir)
  helpers.push_commit(o, ".gitignore", GITIGNORE, "ignore rules")
  local town = dir .. "/town"
  local code, _, err = helpers.gt({ "init", town })
  assert(code == 0, err)
  code, _, err = helpers.gt({ "--town", town, "rig", "add", "demo", o.origin })
  assert(code == 0, err)
  local fx = { town = town, rig = town .. "/demo", name = "demo", origin = o.origin, work = o.work,
    dir = dir }
  code, _, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
  assert(code == 0, err)
  fx.wt = fx.rig .. "/polecats/a/demo"
  return fx
end

describe("gt.safety", function()
  local fx, wt
  local opened = {}

  --- Classifies polecat `name` (default "a") of the fixture, opening town and rig afresh.
  local function classify(name)
    local t = town_mod.open(fx.town)
    local rig = t:find_rig("demo")
    opened[#opened + 1] = { t, rig }
    return safety.classify(rig, polecat.get(rig, name or "a"))
  end

  --- The fields of a report that say what it holds, for a whole-report comparison.
  local function holds(r)
    return { staged = r.staged, unstaged = r.unstaged, untracked = r.untracked,
      conflicted = r.conflicted, stashes = #r.stashes, unpushed_total = r.unpushed_total,
      strays = r.strays, repos = r.repos, nested = #r.nested, submodules = #r.submodules,
      unreadable = r.unreadable, worktree_missing = r.worktree_missing, absorbed = r.absorbed }
  end

  local NOTHING = { staged = {}, unstaged = {}, untracked = {}, conflicted = {}, stashes = 0,
    unpushed_total = 0, strays = {}, repos = {}, nested = 0, submodules = 0, unreadable = {},
    worktree_missing = false, absorbed = false }

  local function with(changes)
    local t = {}
    for k, v in pairs(NOTHING) do t[k] = v end
    for k, v in pairs(changes) do t[k] = v end
    return t
  end

  setup(function()
    fx = polecat_fixture()
  end)

  before_each(function()
    -- Every test starts from polecat "a" as gt made it (one fixture for all: a town costs a
    -- few gt runs).
    wt = fx.wt
    git(wt, "reset", "-q", "--hard", "refs/remotes/origin/main")
    git(wt, "clean", "-qffdx")
    for _ = 1, 20 do
      if helpers.run({ "git", "-C", wt, "stash", "drop", "-q" }).code ~= 0 then break end
    end
    for _, n in ipairs(fs.dir(fx.rig .. "/polecats/a") or {}) do
      if n ~= "demo" then assert(fs.remove_tree(fx.rig .. "/polecats/a/" .. n)) end
    end
  end)

  after_each(function()
    for _, o in ipairs(opened) do
      o[2]:close()
      o[1]:close()
    end
    opened = {}
  end)

  describe("classify", function()
    it("finds a polecat as gt made it safe, with nothing to describe", function()
      local r = classify()
      local agent = polecat.get(opened[1][2], "a")
      assert.is_true(r.safe)
      assert.is_true(r.savable)
      assert.same(NOTHING, holds(r))
      assert.equal("a", r.name)
      assert.equal(agent.branch, r.branch)
      assert.equal(wt, r.path)
      local tip = git(wt, "rev-parse", "HEAD")
      assert.equal(tip, r.head)
      assert.equal(tip, r.branch_tip)
      assert.same({ files = 0, bytes = 0, kept = {} }, r.ignored)
      assert.same({}, safety.describe(r))
      assert.is_nil(safety.describe_ignored(r))
    end)

    it("counts staged changes: added, modified and deleted files", function()
      helpers.write(wt .. "/new.txt", "new\n")
      helpers.write(wt .. "/a.txt", "changed\n")
      git(wt, "add", "new.txt", "a.txt")
      git(wt, "rm", "-q", "src/b.txt")
      local r = classify()
      assert.is_false(r.safe)
      assert.is_true(r.savable)
      assert.same(with({ staged = { "a.txt", "new.txt", "src/b.txt" } }), holds(r))
      assert.same({ "3 staged changes: a.txt, new.txt, src/b.txt" }, safety.describe(r))
    end)

    it("counts unstaged changes, deletions included", function()
      helpers.write(wt .. "/a.txt", "changed\n")
      os.remove(wt .. "/src/b.txt")
      local r = classify()
      assert.is_false(r.safe)
      assert.is_true(r.savable)
      assert.same(with({ unstaged = { "a.txt", "src/b.txt" } }), holds(r))
      assert.same({ "2 uncommitted changes: a.txt, src/b.txt" }, safety.describe(r))
    end)

    it("sees an edit hidden by an assume-unchanged flag", function()
      local original = helpers.read(wt .. "/a.txt")
      git(wt, "update-index", "--assume-unchanged", "a.txt")
      helpers.write(wt .. "/a.txt", "hidden edit\n")
      assert.equal("", git(wt, "status", "--porcelain")) -- git itself does not show it
      local r = classify()
      assert.is_false(r.safe)
      assert.same({ "a.txt" }, r.unstaged)
      git(wt, "update-index", "--no-assume-unchanged", "a.txt")
      -- Put back by hand: the edit has the original's size, and within the index's timestamp
      -- git's reset --hard in before_each could take it for unchanged.
      helpers.write(wt .. "/a.txt", original)
    end)

    it("lists each untracked file, the first five in the description", function()
      for i = 1, 6 do helpers.write(("%s/notes/n%d.md"):format(wt, i), "n\n") end
      helpers.write(wt .. "/top.txt", "t\n")
      local r = classify()
      assert.is_false(r.safe)
      assert.is_true(r.savable)
      assert.same(with({ untracked = { "notes/n1.md", "notes/n2.md", "notes/n3.md", "notes/n4.md",
        "notes/n5.md", "notes/n6.md", "top.txt" } }), holds(r))
      assert.same({ "7 untracked files: notes/n1.md, notes/n2.md, notes/n3.md, notes/n4.md, " ..
        "notes/n5.md, and 2 more" }, safety.describe(r))
    end)

    it("describes staged, unstaged and untracked work together, one line each", function()
      helpers.write(wt .. "/s.txt", "s\n")
      git(wt, "add", "s.txt")
      helpers.write(wt .. "/a.txt", "changed\n")
      helpers.write(wt .. "/u.txt", "u\n")
      local r = classify()
      assert.same({ "1 staged change: s.txt", "1 uncommitted change: a.txt", "1 untracked file: u.txt" },
        safety.describe(r))
    end)

    it("counts a stash made on its branch, and not one made on another polecat's", function()
      helpers.write(wt .. "/a.txt", "stashed\n")
      git(wt, "stash", "push", "-q", "-m", "half done")
      local branch = git(wt, "rev-parse", "--abbrev-ref", "HEAD")
      local r = classify()
      assert.is_false(r.safe)
      assert.is_true(r.savable)
      assert.same(with({ stashes = 1 }), holds(r))
      assert.equal(0, r.stashes[1].index)
      assert.equal("On " .. branch .. ": half done", r.stashes[1].message)
      assert.equal(git(wt, "rev-parse", "refs/stash"), r.stashes[1].oid)
      assert.same({ "1 stash: stash@{0} On " .. branch .. ": half done" }, safety.describe(r))

      -- Stashes are shared by every worktree of the rig: b's is b's alone.
      assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "b" })))
      local wt_b = fx.rig .. "/polecats/b/demo"
      git(wt, "stash", "drop", "-q")
      helpers.write(wt_b .. "/a.txt", "b's work\n")
      git(wt_b, "stash", "push", "-q", "-m", "b only")
      r = classify()
      assert.is_true(r.safe)
      assert.same({}, r.stashes)
      local rb = classify("b")
      assert.is_false(rb.safe)
      assert.equal(1, #rb.stashes)
      assert.matches(": b only$", rb.stashes[1].message)
      assert.equal(0, (helpers.gt_rig(fx, { "polecat", "remove", "--force", "--discard", "b" })))
    end)

    it("counts commits on no remote-tracking branch, newest first", function()
      helpers.write(wt .. "/a.txt", "one\n")
      git(wt, "commit", "-qam", "first local")
      helpers.write(wt .. "/a.txt", "two\n")
      git(wt, "commit", "-qam", "second local")
      local r = classify()
      assert.is_false(r.safe)
      assert.is_true(r.savable)
      assert.same(with({ unpushed_total = 2 }), holds(r))
      local head, parent = git(wt, "rev-parse", "HEAD"), git(wt, "rev-parse", "HEAD~1")
      assert.same({ { oid = head, summary = "second local" }, { oid = parent, summary = "first local" } },
        r.unpushed)
      assert.equal(head, r.head)
      assert.equal(head, r.branch_tip)
      assert.same({ "2 commits on no remote: " .. head:sub(1, 10) .. " second local, " ..
        parent:sub(1, 10) .. " first local" }, safety.describe(r))
    end)

    it("counts commits of its branch when the worktree is on another one", function()
      helpers.write(wt .. "/a.txt", "on the branch\n")
      git(wt, "commit", "-qam", "branch work")
      local tip = git(wt, "rev-parse", "HEAD")
      local branch = git(wt, "rev-parse", "--abbrev-ref", "HEAD")
      git(wt, "checkout", "-q", "--detach", "refs/remotes/origin/main")
      local r = classify()
      assert.is_false(r.safe)
      assert.equal(tip, r.branch_tip)
      assert.are_not.equal(tip, r.head)
      assert.equal(1, r.unpushed_total)
      assert.equal(tip, r.unpushed[1].oid)
      git(wt, "checkout", "-q", branch)
    end)

    it("counts a commit already pushed to origin as safe", function()
      helpers.write(wt .. "/pushed.txt", "p\n")
      git(wt, "add", "pushed.txt")
      git(wt, "commit", "-qm", "pushed work")
      local branch = git(wt, "rev-parse", "--abbrev-ref", "HEAD")
      git(wt, "push", "-q", "origin", branch)
      local r = classify()
      assert.is_true(r.safe)
      assert.same(NOTHING, holds(r))
      git(wt, "push", "-q", "origin", "--delete", branch)
    end)

    it("counts commits whose changes origin's default branch already has (squash-merged) as absorbed", function()
      helpers.write(wt .. "/feature.txt", "feature\n")
      git(wt, "add", "feature.txt")
      git(wt, "commit", "-qm", "feature, part 1")
      helpers.write(wt .. "/a.txt", "hello\nworld\nfeature\n")
      git(wt, "commit", "-qam", "feature, part 2")
      local r = classify()
      assert.is_false(r.safe)
      assert.is_false(r.absorbed)
      -- The same changes land on origin's main as one squashed commit, after another change.
      git(fx.work, "pull", "-q", "--ff-only")
      helpers.push_commit(fx, "other.txt", "someone else\n", "unrelated")
      helpers.write(fx.work .. "/feature.txt", "feature\n")
      helpers.write(fx.work .. "/a.txt", "hello\nworld\nfeature\n")
      git(fx.work, "add", "-A")
      git(fx.work, "commit", "-qm", "feature (squashed)")
      git(fx.work, "push", "-q", "origin", "main")
      git(fx.rig .. "/.repo.git", "fetch", "-q", "origin")
      r = classify()
      assert.is_true(r.safe)
      assert.is_true(r.absorbed)
      assert.equal(2, r.unpushed_total)
      assert.same({}, safety.describe(r))
      -- One more commit that origin lacks: nothing is absorbed any more.
      helpers.write(wt .. "/late.txt", "late\n")
      git(wt, "add", "late.txt")
      git(wt, "commit", "-qm", "late change")
      r = classify()
      assert.is_false(r.safe)
      assert.is_false(r.absorbed)
      assert.equal(3, r.unpushed_total)
      assert.matches("^3 commits on no remote: ", safety.describe(r)[1])
    end)

    describe("with its worktree gone", function()
      it("is safe when its branch holds nothing new", function()
        assert(fs.remove_tree(wt))
        local r = classify()
        assert.is_true(r.worktree_missing)
        assert.is_nil(r.head)
        assert.is_true(r.safe)
        assert.is_true(r.savable)
        assert.same(with({ worktree_missing = true }), holds(r))
        assert.same({}, safety.describe(r))
        assert.equal(0, (helpers.gt_rig(fx, { "polecat", "remove", "a" })))
        assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
      end)

      it("still counts the commits of its branch", function()
        helpers.write(wt .. "/a.txt", "committed, then the folder went\n")
        git(wt, "commit", "-qam", "before the loss")
        local tip = git(wt, "rev-parse", "HEAD")
        assert(fs.remove_tree(wt))
        local r = classify()
        assert.is_true(r.worktree_missing)
        assert.is_false(r.safe)
        assert.is_true(r.savable)
        assert.equal(tip, r.branch_tip)
        assert.same({ { oid = tip, summary = "before the loss" } }, r.unpushed)
        assert.equal(0, (helpers.gt_rig(fx, { "polecat", "remove", "--force", "--discard", "a" })))
        assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
      end)
    end)

    describe("a repository nested in the worktree", function()
      it("is listed, and one with commits of its own cannot be saved", function()
        git(wt, "init", "-q", "vendor/lib")
        local r = classify()
        assert.same({ "vendor/lib" }, r.repos)
        assert.same({}, r.nested) -- it holds nothing
        helpers.write(wt .. "/vendor/lib/lib.c", "int x;\n")
        git(wt .. "/vendor/lib", "add", "lib.c")
        git(wt .. "/vendor/lib", "commit", "-qm", "nested work")
        helpers.write(wt .. "/vendor/lib/draft.c", "draft\n")
        r = classify()
        assert.is_false(r.safe)
        assert.is_false(r.savable)
        assert.same({ "vendor/lib" }, r.repos)
        assert.equal(1, #r.nested)
        local n = r.nested[1]
        assert.equal("vendor/lib", n.path)
        assert.equal(1, n.unpushed_total)
        assert.equal("nested work", n.unpushed[1].summary)
        assert.same({ "draft.c" }, n.untracked)
        assert.same({ "repository nested in the worktree: vendor/lib/: 1 commit on no remote, " ..
          "1 untracked file (gt cannot save it: commit and push its work from " .. wt ..
          "/vendor/lib, or move it out)" }, safety.describe(r))
      end)

      it("is found inside an ignored folder too", function()
        git(wt, "init", "-q", "build/dep")
        helpers.write(wt .. "/build/dep/x", "x\n")
        local r = classify()
        assert.same({ "build/dep" }, r.repos)
        assert.equal(1, #r.nested)
        assert.same({ "x" }, r.nested[1].untracked)
        assert.is_false(r.savable)
      end)
    end)

    describe("the polecat's folder", function()
      it("counts what was put beside the worktree", function()
        local home = fx.rig .. "/polecats/a"
        helpers.write(home .. "/notes.txt", "beside\n")
        helpers.write(home .. "/logs/x.log", "log\n")
        local r = classify()
        assert.is_false(r.safe)
        assert.is_true(r.savable)
        assert.same(with({ strays = { "logs", "notes.txt" } }), holds(r))
        assert.same({ "2 entries beside the worktree, in its polecat's folder: logs, notes.txt" },
          safety.describe(r))
        assert(fs.remove_tree(home .. "/logs"))
        os.remove(home .. "/notes.txt")
      end)

      it("cannot save a repository beside the worktree", function()
        local home = fx.rig .. "/polecats/a"
        git(home, "init", "-q", "other")
        local r = classify()
        assert.is_false(r.safe)
        assert.is_false(r.savable)
        assert.same({ "other" }, r.strays)
        assert.equal(1, #r.nested)
        assert.is_true(r.nested[1].beside)
        assert.equal(home .. "/other", r.nested[1].path)
        assert.same({ "repository beside the worktree: " .. home .. "/other (gt cannot save it: " ..
          "move it out of the polecat's folder)", "1 entry beside the worktree, in its polecat's " ..
          "folder: other" }, safety.describe(r))
        assert(fs.remove_tree(home .. "/other"))
      end)
    end)

    describe("ignored files", function()
      it("are disposable: a summary, and the ones the rig's keep_ignored patterns keep", function()
        helpers.write(wt .. "/run.log", "12345")
        helpers.write(wt .. "/build/out/app.bin", string.rep("x", 2000))
        helpers.write(wt .. "/.env", "K=1")
        helpers.write(wt .. "/src/.env.local", "L=22")
        local r = classify()
        assert.is_true(r.safe)
        assert.is_true(r.savable)
        assert.same(NOTHING, holds(r))
        assert.same({ files = 4, bytes = 2012, kept = { ".env", "src/.env.local" } }, r.ignored)
        assert.same({}, safety.describe(r))
        assert.equal("ignored files, deleted by a remove: 4 files (2.0 kB); --force saves .env, " ..
          "src/.env.local", safety.describe_ignored(r))
      end)

      it("follow the rig's own keep_ignored setting", function()
        helpers.write(wt .. "/run.log", "12345")
        helpers.write(wt .. "/.env", "K=1")
        local config_path = fx.rig .. "/.gt/rig.lua"
        local original = helpers.read(config_path)
        local config = assert(luafile.read(config_path))
        config.keep_ignored = { "*.log" }
        assert(luafile.write(config_path, config))
        local ok, err = pcall(function()
          local r = classify()
          assert.same({ files = 2, bytes = 8, kept = { "run.log" } }, r.ignored)
          assert.equal("ignored files, deleted by a remove: 2 files (8 bytes); --force saves run.log",
            safety.describe_ignored(r))
          config.keep_ignored = {}
          assert(luafile.write(config_path, config))
          r = classify()
          assert.same({ files = 2, bytes = 8, kept = {} }, r.ignored)
          assert.equal("ignored files, deleted by a remove: 2 files (8 bytes)", safety.describe_ignored(r))
        end)
        helpers.write(config_path, original)
        assert(ok, err)
      end)

      it("say one file in the singular", function()
        helpers.write(wt .. "/one.log", "1")
        local r = classify()
        assert.equal("ignored files, deleted by a remove: 1 file (1 bytes)", safety.describe_ignored(r))
      end)
    end)
  end)

  describe("describe", function()
    it("puts what cannot be saved first, then files, strays, stashes and commits", function()
      local r = { path = "/w", staged = { "s" }, unstaged = { "u" }, untracked = { "t" },
        conflicted = { "c1", "c2" }, strays = { "x" }, unreadable = { { path = ".", reason = "EACCES" },
          { path = "/w/secret", reason = "Permission denied" } },
        nested = {}, submodules = { { path = "sub", staged = {}, unstaged = { "f" }, untracked = {},
          conflicted = {}, stashes = { {} }, unpushed_total = 2, unreadable = {}, nested = {},
          submodules = {} } },
        stashes = { { index = 3, message = "On b: m" } },
        unpushed = { { oid = string.rep("f", 40), summary = "s" } }, unpushed_total = 1, absorbed = false }
      assert.same({
        "the worktree could not be read (EACCES): gt cannot tell what it holds",
        "/w/secret could not be read (Permission denied): gt cannot tell what it holds",
        "submodule sub: 2 commits on no remote, 1 uncommitted change, 1 stash (gt cannot save a " ..
          "submodule's work: commit and push it from /w/sub)",
        "1 staged change: s",
        "1 uncommitted change: u",
        "1 untracked file: t",
        "2 conflicted files: c1, c2",
        "1 entry beside the worktree, in its polecat's folder: x",
        "1 stash: stash@{3} On b: m",
        "1 commit on no remote: ffffffffff s",
      }, safety.describe(r))
      r.absorbed = true
      assert.equal("1 stash: stash@{3} On b: m", safety.describe(r)[9])
      assert.is_nil(safety.describe(r)[10])
    end)
  end)
end)
