-- gt salvage list|show|restore|drop|prune: getting saved work back. A polecat holding every kind
-- of work a salvage keeps (untracked files of all kinds, staged changes that differ from the
-- working tree, two stashes, a file beside the worktree) is removed with --force, and the
-- restore must give all of it back byte for byte, with the git CLI and the disk as witnesses.
local helpers = require("helpers")
local witness = require("witness")
local user_code = require("user_code")
local json = require("dkjson")
local branch = require("gt.branch")
local _ -- discarded results (code, _, err = ...)
local git = helpers.git

local function run_gt(fx, ...)
  return helpers.gt_rig(fx, { ... })
end

local function bare(fx) return fx.rig .. "/.repo.git" end

--- Every path under `dir` but .git, with its type, permission bits and content (a symbolic
--- link's target), as `find` sees them: what a restore must give back.
local function disk(dir)
  local r = helpers.run({ "find", ".", "-path", "./.git", "-prune", "-o", "-printf", "%y %m %p -> %l\n" },
    { cwd = dir })
  assert(r.code == 0, r.stderr)
  local lines = helpers.lines(r.stdout)
  table.sort(lines)
  return { listing = lines, files = witness.files(dir) }
end

--- What git says of the worktree at `wt`: status, staged and unstaged diffs, the stash list and
--- each stash's commit (its tree, parents and all).
local function git_state(wt)
  local stashes = helpers.lines(git(wt, "stash", "list"))
  local commits = {}
  for i = 1, #stashes do commits[i] = git(wt, "rev-parse", ("stash@{%d}"):format(i - 1)) end
  return { status = git(wt, "status", "--porcelain"), cached = git(wt, "diff", "--cached"),
    diff = git(wt, "diff"), stashes = stashes, stash_commits = commits,
    head = git(wt, "rev-parse", "HEAD") }
end

--- Gives polecat `name` (just added) every kind of work: two stashes, untracked files (binary,
--- executable, a symbolic link, one in a new folder), a staged change that differs from the
--- working tree, a file beside the worktree.
local function do_work(fx, name)
  local wt = fx.rig .. "/polecats/" .. name .. "/demo"
  helpers.write(wt .. "/src/b.txt", "first stash\n")
  git(wt, "stash", "-q")
  helpers.write(wt .. "/src/b.txt", "second stash\n")
  helpers.write(wt .. "/stashed-untracked.txt", "in the stash only\n")
  git(wt, "stash", "push", "-q", "--include-untracked", "-m", "second one")
  helpers.write(wt .. "/blob.bin", "bin\0\1\2\255\254 and more\n")
  helpers.write(wt .. "/run.sh", "#!/bin/sh\necho run\n")
  assert(os.execute(("chmod +x %q"):format(wt .. "/run.sh")))
  assert(os.execute(("ln -s a.txt %q"):format(wt .. "/link")))
  helpers.write(wt .. "/new/deep/file.txt", "in a new folder\n")
  helpers.write(wt .. "/a.txt", "staged\n")
  git(wt, "add", "a.txt")
  helpers.write(wt .. "/a.txt", "in the working tree\n")
  helpers.write(wt .. "/src/b.txt", "unstaged only\n")
  helpers.write(fx.rig .. "/polecats/" .. name .. "/notes.txt", "beside the worktree\n")
  return wt
end

--- Removes polecat `name` with --force; returns its salvage ref.
local function remove_forced(fx, name)
  local code, out, err = run_gt(fx, "polecat", "remove", "--force", name)
  assert.equal(0, code, err)
  return out:match("saved to (refs/gt/salvage/%S+)")
end

--- The name the commands take for salvage `ref` of rig demo.
local function tail(ref) return ref:match("^refs/gt/salvage/demo/(.+)$") end

describe("gt salvage", function()
  local fx, wt, before, ref
  before_each(function()
    fx = helpers.fixture()
    assert.equal(0, (run_gt(fx, "polecat", "add", "a")))
    wt = do_work(fx, "a")
    before = { disk = disk(wt), git = git_state(wt), beside = helpers.read(fx.rig .. "/polecats/a/notes.txt") }
    ref = remove_forced(fx, "a")
    assert.is_string(ref)
  end)

  describe("restore", function()
    it("--into NEW gives back the files, modes, links, index, stashes and the file beside", function()
      -- The stashes are gone from the stash list: the salvage alone holds them.
      git(bare(fx), "update-ref", "-d", "refs/stash")
      local code, out, err = run_gt(fx, "salvage", "restore", tail(ref), "--into", "b")
      assert.equal(0, code, err)
      assert.equal("", err)
      assert.matches("^restored a/[0-9a-z]+ into new polecat b\n", out)
      local new = fx.rig .. "/polecats/b/demo"
      assert.same(before.disk, disk(new))
      local after = git_state(new)
      assert.same(before.git, after)
      -- Each stash as it was: its message, its commit, and so all it holds.
      assert.equal("in the stash only\n", git(new, "show", "stash@{0}^3:stashed-untracked.txt") .. "\n")
      assert.equal("beside the worktree\n", helpers.read(fx.rig .. "/polecats/b/notes.txt"))
      -- The polecat is a polecat like any other, its branch at the salvaged HEAD.
      local agent = witness.agent(fx, "b")
      assert.equal("working", agent.state)
      assert.equal(before.git.head, git(bare(fx), "rev-parse", agent.branch))
      assert.same({}, witness.disagreements(fx))
      assert.same({ "spawning", "spawned", "restored" }, witness.event_kinds(fx, "b"))
      -- The salvage is kept; saving the restored polecat again gives the same working tree.
      assert.equal(ref, git(bare(fx), "for-each-ref", "--format=%(refname)", "refs/gt/salvage/demo/a/"))
      local again = remove_forced(fx, "b")
      assert.equal(git(bare(fx), "rev-parse", ref .. "^{tree}"), git(bare(fx), "rev-parse", again .. "^{tree}"))
    end)

    it("stores no stash that is still in the stash list, and defaults to the salvage's name", function()
      local code, out, err = run_gt(fx, "salvage", "restore", tail(ref), "--dry-run")
      assert.equal(0, code, err)
      assert.matches("^would restore a/[0-9a-z]+ into a new polecat a:\n", out)
      assert.matches("\n  leave stash On polecat/a%-[0-9a-z]+: second one %(%x+%) as it is: it is still in the stash list\n", out)
      code, out, err = run_gt(fx, "salvage", "restore", tail(ref))
      assert.equal(0, code, err)
      local new = fx.rig .. "/polecats/a/demo"
      assert.same(before.disk, disk(new))
      assert.same(before.git, git_state(new))
      assert.equal(2, #helpers.lines(git(new, "stash", "list")))
      -- The name is taken now: restoring again asks where to.
      code, out, err = run_gt(fx, "salvage", "restore", tail(ref))
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("^gt: salvage restore: polecat a exists in rig demo: restore into it with %-%-into a", err)
    end)

    it("--dry-run prints the plan, and changes nothing", function()
      local snap = witness.snapshot(fx)
      local code, out, err = run_gt(fx, "salvage", "restore", tail(ref), "--into", "b", "--dry-run")
      assert.equal(0, code, err)
      local lines = helpers.lines(out)
      assert.matches("^would restore a/[0-9a-z]+ into a new polecat b:$", lines[1])
      assert.matches("^  spawn polecat b at %x+ %(the salvaged worktree's HEAD%), on a new branch$", lines[2])
      assert.matches("^  write the working tree into .*/polecats/b/demo: 4 added, 2 changed, 0 deleted$", lines[3])
      assert.equal("  write the index: 1 staged change (a.txt)", lines[4])
      assert.matches("^  leave stash WIP on polecat/a%-", lines[5])
      assert.matches("^  leave stash On polecat/a%-", lines[6])
      assert.matches("^  write 1 file beside the worktree, into .*/polecats/b: notes.txt$", lines[7])
      assert.matches("^  keep refs/gt/salvage/demo/a/", lines[8])
      assert.same(snap, witness.snapshot(fx))
      -- The real run prints the same plan.
      code, out, err = run_gt(fx, "salvage", "restore", tail(ref), "--into", "b", "--json")
      assert.equal(0, code, err)
      local done = json.decode(out)
      local plan = {}
      for i = 2, #lines do plan[#plan + 1] = lines[i]:sub(3) end
      assert.same(plan, done.steps)
      assert.is_true(done.new)
      assert.equal("b", done.name)
    end)

    it("puts the branch at the salvaged tip and HEAD where the worktree was, when they differ", function()
      assert.equal(0, (run_gt(fx, "polecat", "add", "c")))
      local c = fx.rig .. "/polecats/c/demo"
      helpers.write(c .. "/tip.txt", "on the branch\n")
      git(c, "add", "tip.txt")
      git(c, "commit", "-q", "-m", "a commit on the branch")
      local tip = git(c, "rev-parse", "HEAD")
      git(c, "checkout", "-q", "--detach", "HEAD~1")
      local head = git(c, "rev-parse", "HEAD")
      helpers.write(c .. "/mine.txt", "untracked\n")
      local saved = remove_forced(fx, "c")
      local code, out, err = run_gt(fx, "salvage", "restore", tail(saved), "--into", "d")
      assert.equal(0, code, err)
      assert.matches("\n  point its branch at " .. tip:sub(1, 12) .. " %(the salvaged branch tip%) and detach " ..
        "its worktree's HEAD at " .. head:sub(1, 12) .. ", as they were\n", out)
      local d = fx.rig .. "/polecats/d/demo"
      assert.equal(head, git(d, "rev-parse", "HEAD"))
      assert.equal("HEAD", git(d, "rev-parse", "--abbrev-ref", "HEAD")) -- detached
      assert.equal(tip, git(bare(fx), "rev-parse", witness.agent(fx, "d").branch))
      assert.equal("untracked\n", helpers.read(d .. "/mine.txt"))
      assert.same({}, witness.disagreements(fx))
    end)

    it("over a live polecat that is clean and at the salvage's HEAD, writes its files", function()
      assert.equal(0, (run_gt(fx, "polecat", "add", "e")))
      local code, out, err = run_gt(fx, "salvage", "restore", tail(ref), "--into", "e")
      assert.equal(0, code, err)
      assert.matches("^restored a/[0-9a-z]+ into live polecat e\n", out)
      local e = fx.rig .. "/polecats/e/demo"
      assert.same(before.disk, disk(e))
      local state = git_state(e)
      assert.equal(before.git.status, state.status)
      assert.equal(before.git.cached, state.cached)
      assert.equal(before.git.diff, state.diff)
      assert.equal("beside the worktree\n", helpers.read(fx.rig .. "/polecats/e/notes.txt"))
      assert.same({}, witness.disagreements(fx))
    end)

    it("refuses (exit 3) a live polecat holding unsaved work, or at another commit, changing nothing", function()
      assert.equal(0, (run_gt(fx, "polecat", "add", "d")))
      local d = fx.rig .. "/polecats/d/demo"
      helpers.write(d .. "/draft.txt", "unsaved\n")
      local snap, files = witness.snapshot(fx), witness.files(d)
      local code, out, err = run_gt(fx, "salvage", "restore", tail(ref), "--into", "d")
      assert.equal(3, code)
      assert.equal("", out)
      assert.equal("gt: salvage restore: polecat d holds work that exists nowhere else, which restoring " ..
        "over it could lose:\n  1 untracked file: draft.txt\nnothing was changed; save that work first, " ..
        "or restore into a new polecat with --into NEW-NAME\n", err)
      assert.same(snap, witness.snapshot(fx))
      assert.same(files, witness.files(d))
      -- Clean, but at another commit.
      os.remove(d .. "/draft.txt")
      helpers.push_commit(fx, "later.txt", "later\n")
      git(d, "fetch", "-q", "origin")
      git(d, "reset", "-q", "--hard", "origin/main")
      snap = witness.snapshot(fx)
      code, out, err = run_gt(fx, "salvage", "restore", tail(ref), "--into", "d")
      assert.equal(3, code)
      assert.equal("", out)
      assert.matches("^gt: salvage restore: polecat d is at %x+, the salvaged worktree was at %x+: its " ..
        "files are only written over a worktree at the same commit; nothing was changed", err)
      assert.same(snap, witness.snapshot(fx))
    end)

    it("refuses (exit 3) to write over an ignored file of a live polecat", function()
      helpers.write(bare(fx) .. "/info/exclude", "blob.bin\n")
      assert.equal(0, (run_gt(fx, "polecat", "add", "e")))
      local e = fx.rig .. "/polecats/e/demo"
      helpers.write(e .. "/blob.bin", "an ignored file of e's\n")
      local code, out, err = run_gt(fx, "salvage", "restore", tail(ref), "--into", "e")
      assert.equal(3, code)
      assert.equal("", out)
      assert.equal("gt: salvage restore: polecat e has files where the salvage puts its own (ignored " ..
        "files, which a restore would overwrite): blob.bin; nothing was changed\n", err)
      assert.equal("an ignored file of e's\n", helpers.read(e .. "/blob.bin"))
    end)

    it("that fails half-way undoes it all: a new polecat is taken apart, a live one put back", function()
      git(bare(fx), "update-ref", "-d", "refs/stash")
      -- refs/stash is locked: storing the stashes fails, after the files and the index.
      helpers.write(bare(fx) .. "/refs/stash.lock", "")
      local code, out, err = run_gt(fx, "salvage", "restore", tail(ref), "--into", "b")
      assert.is_true(code ~= 0)
      assert.equal("", out)
      assert.matches("^gt: salvage restore: restoring a/[0-9a-z]+ into polecat b: storing stash %x+: ", err)
      assert.equal("failed", witness.agent(fx, "b").state)
      assert.is_false(helpers.exists(fx.rig .. "/polecats/b"))
      assert.same({}, witness.disagreements(fx))
      assert.equal("", git(bare(fx), "for-each-ref", "refs/gt/salvage/demo/b/", "refs/stash"))
      assert.equal(ref, git(bare(fx), "for-each-ref", "--format=%(refname)", "refs/gt/salvage/"))
      -- A live polecat is put back as it was: clean, at its HEAD.
      assert.equal(0, (run_gt(fx, "polecat", "add", "e")))
      local e = fx.rig .. "/polecats/e/demo"
      local as_was = disk(e)
      code, out, err = run_gt(fx, "salvage", "restore", tail(ref), "--into", "e")
      assert.is_true(code ~= 0)
      assert.matches("^gt: salvage restore: restoring a/[0-9a-z]+ into polecat e: storing stash %x+: ", err)
      assert.same(as_was, disk(e))
      assert.equal("", git(e, "status", "--porcelain", "--ignored"))
      assert.same({ "demo" }, witness.ls(fx.rig .. "/polecats/e"))
      assert.equal("working", witness.agent(fx, "e").state)
      assert.same({}, witness.disagreements(fx))
      os.remove(bare(fx) .. "/refs/stash.lock")
    end)
  end)

  describe("list and show", function()
    it("list --json gives each salvage with what it holds; the table says it in short", function()
      local code, out, err = run_gt(fx, "salvage", "list", "--json")
      assert.equal(0, code, err)
      local rows = json.decode(out)
      assert.equal(1, #rows)
      local r = rows[1]
      assert.equal(ref, r.ref)
      assert.equal(tail(ref), r.tail)
      assert.equal("a", r.polecat)
      assert.equal("demo", r.rig)
      assert.equal("salvage", r.kind)
      assert.equal(git(bare(fx), "rev-parse", ref), r.commit)
      assert.equal(before.git.head, r.head)
      assert.is_nil(r.tip) -- null: HEAD was the branch tip
      assert.equal(branch.from_base36(ref:match("([0-9a-z]+)$")), r.time)
      assert.same({ 6, true, 1, 2, 1 }, { r.files, r.index, r.staged, r.stashes, r.beside })
      code, out = run_gt(fx, "salvage", "list")
      assert.equal(0, code)
      assert.matches("^SALVAGE +POLECAT +SAVED +COMMIT +HOLDS\n" .. tail(ref) .. " +a +%d+s ago +%x+ +6 files " ..
        "changed, 1 staged change, 2 stashes, 1 file beside\n$", out)
      -- Of one polecat.
      code, out = run_gt(fx, "salvage", "list", "nobody", "--json")
      assert.equal(0, code)
      assert.equal("[]\n", out)
      code, out = run_gt(fx, "salvage", "list", "nobody")
      assert.equal("no salvages of polecat nobody\n", out)
      code, out = run_gt(fx, "salvage", "list", "a", "--json")
      assert.equal(1, #json.decode(out))
    end)

    it("show --json lists the files, the index, the stashes and the files beside", function()
      local code, out, err = run_gt(fx, "salvage", "show", tail(ref), "--json")
      assert.equal(0, code, err)
      local s = json.decode(out)
      assert.equal(ref, s.ref)
      assert.same({ { path = "a.txt", status = "modified" }, { path = "blob.bin", status = "added" },
        { path = "link", status = "added" }, { path = "new/deep/file.txt", status = "added" },
        { path = "run.sh", status = "added" }, { path = "src/b.txt", status = "modified" } }, s.files)
      assert.same({ { path = "a.txt", status = "modified" } }, s.index)
      assert.equal(2, #s.stashes)
      assert.equal(0, s.stashes[1].index)
      assert.matches("^On polecat/a%-[0-9a-z]+: second one$", s.stashes[1].message)
      assert.equal(git(bare(fx), "rev-parse", "refs/stash"), s.stashes[1].oid)
      assert.matches("^WIP on polecat/a%-", s.stashes[2].message)
      assert.same({ "notes.txt" }, s.beside)
      assert.is_true(#s.what > 0)
      -- For people; the full ref works as well as its tail.
      code, out = run_gt(fx, "salvage", "show", ref)
      assert.equal(0, code)
      assert.matches("^salvage " .. ref:gsub("%p", "%%%0") .. "\n", out)
      assert.matches("\n  files that differ from HEAD:\n    M a.txt\n    A blob.bin\n", out)
      assert.matches("\n  staged %(its index, against HEAD%):\n    M a.txt\n", out)
      assert.matches("\n  beside the worktree %(in polecats/a/%):\n    notes.txt\n", out)
      assert.matches("\n  restore with: gt salvage restore " .. tail(ref) .. " %[%-%-into NAME%]\n$", out)
    end)

    it("a bad REF is exit 4 with a one-line error; an ambiguous one exit 2", function()
      for _, cmd in ipairs({ "show", "restore", "drop" }) do
        local code, out, err = run_gt(fx, "salvage", cmd, "nope/x")
        assert.equal(4, code)
        assert.equal("", out)
        assert.equal(("gt: salvage %s: no salvage 'nope/x' in rig demo (gt salvage list shows them)\n"):format(cmd), err)
      end
      local commit = git(bare(fx), "rev-parse", ref)
      git(bare(fx), "update-ref", "refs/gt/salvage/demo/z/" .. ref:match("([^/]+)$"), commit)
      local code, out, err = run_gt(fx, "salvage", "show", ref:match("([^/]+)$"))
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("^gt: salvage show: salvage '[0-9a-z]+' is ambiguous in rig demo: a/[0-9a-z]+, z/[0-9a-z]+\n$", err)
    end)
  end)

  describe("drop and prune", function()
    it("drop deletes the ref and nothing else; --dry-run prints what it would delete", function()
      local commit = git(bare(fx), "rev-parse", ref)
      local snap = witness.snapshot(fx)
      local code, out, err = run_gt(fx, "salvage", "drop", tail(ref), "--dry-run")
      assert.equal(0, code, err)
      assert.equal(("would drop %s:\n  delete %s (commit %s: 6 files changed, 1 staged change, 2 stashes, " ..
        "1 file beside)\n"):format(tail(ref), ref, commit:sub(1, 12)), out)
      assert.same(snap, witness.snapshot(fx))
      code, out, err = run_gt(fx, "salvage", "drop", tail(ref))
      assert.equal(0, code, err)
      assert.equal(("dropped %s (commit %s: 6 files changed, 1 staged change, 2 stashes, 1 file beside)\n" ..
        "  until git gc prunes it, get it back with: git -C %s update-ref %s %s\n"):format(ref,
        commit:sub(1, 12), bare(fx), ref, commit), out)
      assert.equal("", git(bare(fx), "for-each-ref", "refs/gt/"))
      assert.equal("commit", git(bare(fx), "cat-file", "-t", commit))
      local after = witness.snapshot(fx)
      assert.same(snap.agents, after.agents)
      assert.same(snap.events, after.events)
      code, out, err = run_gt(fx, "salvage", "drop", tail(ref))
      assert.equal(4, code)
    end)

    it("prune drops the salvages older than a duration; --dry-run lists the same ones", function()
      local commit = git(bare(fx), "rev-parse", ref)
      local old = "refs/gt/salvage/demo/old/" .. branch.base36(os.time() * 1000 - 40 * 86400 * 1000)
      git(bare(fx), "update-ref", old, commit)
      local code, out, err = run_gt(fx, "salvage", "prune", "--older-than", "30d", "--dry-run", "--json")
      assert.equal(0, code, err)
      local planned = json.decode(out)
      assert.equal(1, #planned)
      assert.equal(old, planned[1].ref)
      assert.is_true(planned[1].dry_run)
      code, out, err = run_gt(fx, "salvage", "prune", "--older-than", "30d", "--json")
      assert.equal(0, code, err)
      local done = json.decode(out)
      assert.is_false(done[1].dry_run)
      planned[1].dry_run, done[1].dry_run = nil, nil
      assert.same(planned, done)
      assert.equal(ref, git(bare(fx), "for-each-ref", "--format=%(refname)", "refs/gt/"))
      code, out = run_gt(fx, "salvage", "prune", "--older-than", "1w")
      assert.equal(0, code)
      assert.equal("no salvages older than 1w\n", out)
      code, out = run_gt(fx, "salvage", "prune", "--older-than", "0s", "--dry-run")
      assert.equal(0, code)
      assert.equal("would drop 1 salvage:\n  delete " .. ref .. " (commit " .. commit:sub(1, 12) ..
        ": 6 files changed, 1 staged change, 2 stashes, 1 file beside)\n", out)
    end)

    it("prune refuses a bad duration (exit 2), changing nothing", function()
      local snap = witness.snapshot(fx)
      for _, bad in ipairs({ "30", "30x", "d", "1.5h", "" }) do
        local code, out, err = run_gt(fx, "salvage", "prune", "--older-than", bad)
        assert.equal(2, code)
        assert.equal("", out)
        assert.equal(("gt: salvage prune: --older-than needs a duration such as 30d, 12h or 90m (units " ..
          "s, m, h, d, w), got '%s'\n"):format(bad), err)
      end
      local code, _, err = run_gt(fx, "salvage", "prune")
      assert.equal(2, code)
      assert.equal("gt: salvage prune: gt salvage prune needs --older-than DURATION (30d, 12h, 90m)\n", err)
      assert.same(snap, witness.snapshot(fx))
    end)
  end)
end)

describe("gt salvage restore after a post_spawn hook", function()
  it("refuses to overwrite a file the hook wrote where the salvage puts one, saving it (exit 3)", function()
    local fx = user_code.fixture()
    assert.equal(0, (user_code.gt(fx, { "polecat", "add", "a" })))
    helpers.write(fx.rig .. "/polecats/a/demo/blob.bin", "the user's\n")
    local code, out, err = user_code.gt(fx, { "polecat", "remove", "--force", "a" })
    assert.equal(0, code, err)
    local ref = out:match("saved to (refs/gt/salvage/%S+)")
    user_code.init(fx, "rig", [[
gt.hooks.on("post_spawn", function(ctx)
  local f = assert(io.open(ctx.path .. "/blob.bin", "w"))
  f:write("the hook's\n")
  f:close()
end)
]])
    code, out, err = user_code.gt(fx, { "salvage", "restore", tail(ref), "--into", "b" })
    assert.equal(3, code)
    assert.equal("", out)
    local saved = err:match("^gt: what polecat b held beyond a/[0-9a-z]+ was saved to (refs/gt/salvage/demo/b/[0-9a-z]+)\n")
    assert.is_string(saved, err)
    assert.matches("\ngt: salvage restore: restoring a/[0-9a-z]+ into polecat b: polecat b has files where the " ..
      "salvage puts its own %(written since it was spawned, which a restore would overwrite%): blob.bin; the " ..
      "polecat is taken apart again\n$", err)
    assert.equal("the hook's\n", witness.commit_files(bare(fx), saved)["blob.bin"])
    assert.equal("failed", witness.agent(fx, "b").state)
    assert.same({}, witness.disagreements(fx))
  end)
end)
