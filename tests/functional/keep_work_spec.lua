-- Work that gt once lost, kept (issue 7, "Work lost"): a killed add rolled back over files the
-- user wrote; an interrupted remove finished over files that appeared since; submodules;
-- edits hidden by index flags; what cannot be read; files beside the worktree. Each case is
-- what a user (or a crash) did, checked with the git CLI and the disk as witnesses.
local helpers = require("helpers")
local witness = require("witness")
local _ -- discarded results (code, _, err = ...)
local git = helpers.git

local function run_gt(fx, ...)
  return helpers.gt_rig(fx, { ... })
end

--- The contents of the files of every salvage of polecat `name` ({path = content}, later
--- salvages over earlier ones).
local function salvaged(fx, name)
  local bare = fx.rig .. "/.repo.git"
  local files = {}
  local refs = helpers.lines(git(bare, "for-each-ref", "--sort=refname", "--format=%(refname)",
    "refs/gt/salvage/demo/" .. name .. "/"))
  for _, ref in ipairs(refs) do
    for path, content in pairs(witness.commit_files(bare, ref)) do files[path] = content end
  end
  return files, refs
end

--- Runs `argv` as a user without the power to read what file modes forbid (when gt runs as
--- root, which reads everything, its capabilities to do so are dropped).
local function unprivileged(fx, args)
  local argv = {}
  if helpers.run({ "id", "-u" }).stdout == "0\n" then
    argv = { "setpriv", "--inh-caps=-dac_override,-dac_read_search",
      "--bounding-set=-dac_override,-dac_read_search" }
  end
  for _, a in ipairs({ gt.executable, "--town", fx.town, "--rig", fx.name }) do argv[#argv + 1] = a end
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local r = helpers.run(argv)
  return r.code, r.stdout, r.stderr
end

describe("an add killed after its checkout", function()
  local fx, wt, pid
  before_each(function()
    fx = helpers.fixture()
    local r = helpers.gt_fault(fx, "add.post_spawn=kill", { "polecat", "add", "a" })
    assert.equal(9, r.signal, r.stderr)
    pid = witness.operations(fx, "a")[1].pid
    wt = fx.rig .. "/polecats/a/demo"
    -- It lists as working: the user goes to work in it.
    local code, out = run_gt(fx, "polecat", "list")
    assert.equal(0, code)
    assert.matches("\na +working ", out)
    helpers.write(wt .. "/mine.txt", "my work\n")
  end)

  it("is finished, not rolled back, by the next remove, which refuses as for any polecat (exit 3)", function()
    local code, out, err = run_gt(fx, "polecat", "remove", "a")
    assert.equal(3, code)
    assert.equal("", out)
    assert.equal(("gt: finished an interrupted add of a (pid %d): its folder holds work, so it " ..
      "was kept (files not saved: mine.txt)\n"):format(pid) ..
      "gt: polecat remove: refusing to remove: polecat a holds work that exists nowhere else:\n" ..
      "  1 untracked file: mine.txt\n" ..
      "nothing was removed; use --force to save this work under refs/gt/salvage/ and remove, " ..
      "or --force --discard to drop it\n", err)
    assert.equal("my work\n", helpers.read(wt .. "/mine.txt"))
    assert.equal("working", witness.agent(fx, "a").state)
    assert.same({}, witness.disagreements(fx))
    -- --force saves it first.
    code, out, err = run_gt(fx, "polecat", "remove", "--force", "a")
    assert.equal(0, code, err)
    assert.equal("my work\n", salvaged(fx, "a")["mine.txt"])
    assert.same({}, witness.disagreements(fx))
  end)

  it("is finished by gt doctor --fix, and by the next add of the name, keeping the files", function()
    local code, out, err = run_gt(fx, "doctor")
    assert.equal(1, code)
    assert.equal(("problem demo/a: an interrupted add (pid %d) is unfinished (gt doctor --fix " ..
      "ends it)\n"):format(pid), out)
    code, out, err = run_gt(fx, "doctor", "--fix")
    assert.equal(0, code, err)
    assert.equal(("fixed demo/a: an interrupted add (pid %d) was finished\n"):format(pid), out)
    assert.equal("my work\n", helpers.read(wt .. "/mine.txt"))
    code, _, err = run_gt(fx, "polecat", "add", "a")
    assert.equal(1, code)
    assert.matches("polecat a already exists in rig demo %(working", err)
    assert.equal("my work\n", helpers.read(wt .. "/mine.txt"))
    assert.same({}, witness.disagreements(fx))
  end)
end)

describe("an add killed before its checkout finished", function()
  local fx, home
  before_each(function()
    fx = helpers.fixture()
    local r = helpers.gt_fault(fx, "add.worktree=kill", { "polecat", "add", "a" })
    assert.equal(9, r.signal, r.stderr)
    home = fx.rig .. "/polecats/a"
  end)

  it("is rolled back when its folder holds nothing of the user's", function()
    local code, _, err = run_gt(fx, "polecat", "add", "a")
    assert.equal(0, code, err)
    assert.matches("^gt: rolled back an interrupted add of a", err)
    assert.same({}, witness.disagreements(fx))
  end)

  it("is not rolled back over files put in its folder: add and doctor refuse, remove --force saves them", function()
    helpers.write(home .. "/notes.md", "notes\n")
    local before = witness.snapshot(fx, { "/.gt/locks/polecat-a.lock" })
    local code, out, err = run_gt(fx, "polecat", "add", "a")
    assert.equal(3, code)
    assert.equal("", out)
    assert.matches("left work in its folder:\n  files beside the worktree: notes.md\nnothing was " ..
      "changed; gt polecat remove %-%-force a saves it and removes the polecat\n$", err)
    code, out = run_gt(fx, "doctor", "--fix")
    assert.equal(1, code)
    assert.matches("^problem demo/a: an interrupted add %(pid %d+%) is unfinished: polecat a: ", out)
    assert.same(before, witness.snapshot(fx, { "/.gt/locks/polecat-a.lock" }))
    code, out, err = run_gt(fx, "polecat", "remove", "a")
    assert.equal(3, code)
    code, out, err = run_gt(fx, "polecat", "remove", "--force", "a")
    assert.equal(0, code, err)
    assert.matches("^removed polecat a\n  unsaved work saved to refs/gt/salvage/demo/a/", out)
    local _, refs = salvaged(fx, "a")
    assert.equal(1, #refs)
    -- What was beside the worktree is a parent of the salvage, said so in its message.
    local message = git(fx.rig .. "/.repo.git", "log", "-1", "--format=%B", refs[1])
    local n = message:match("\n  (%d+): the files beside the worktree, in polecats/a/")
    assert.is_not_nil(n, message)
    assert.equal("notes\n", git(fx.rig .. "/.repo.git", "show", refs[1] .. "^" .. n .. ":notes.md") .. "\n")
    assert.same({}, witness.disagreements(fx))
  end)
end)

describe("a remove that fails half-way, while something still writes into the worktree", function()
  it("keeps all that was written: finishing it saves what appeared since, and deletes only that", function()
    local fx = helpers.fixture()
    assert.equal(0, (run_gt(fx, "polecat", "add", "a")))
    local wt = fx.rig .. "/polecats/a/demo"
    helpers.write(wt .. "/first.txt", "first\n")
    -- A writer in the worktree (its current folder: it follows the folder where it goes) adds a
    -- file every 2 ms from the moment gt has proven the folder and is about to delete it
    -- (GT_FAULT_SIGNAL); gt pauses there, so that files appear.
    local signal = fx.dir .. "/proven"
    local script = ([[
      ( cd %q || exit 1
        j=0; while [ ! -e %q ] && [ $j -lt 3000 ]; do sleep 0.005; j=$((j+1)); done
        i=0; while [ $i -lt 150 ]; do echo "w$i" > "w$i.txt" 2>/dev/null; i=$((i+1)); sleep 0.002; done ) &
      GT_FAULT=reap.delete=pause GT_FAULT_PAUSE_MS=100 GT_FAULT_SIGNAL=%q \
        %q --town %q --rig demo polecat remove --wait --force a
      echo "exit=$?"
      wait
    ]]):format(wt, signal, signal, gt.executable, fx.town)
    local r = helpers.run({ "sh", "-c", script })
    -- Files appeared between the proof and the deletion: the removal stopped at the first.
    assert.equal("1", r.stdout:match("exit=(%d+)"), r.stderr)
    assert.matches("appeared since it was saved; nothing unsaved was deleted", r.stderr)
    local code, out, err = run_gt(fx, "doctor", "--fix")
    assert.equal(0, code, out .. err)
    assert.matches("^fixed demo/a: an interrupted remove %(pid %d+%) was finished\n$", out)
    local written = { "first\n" }
    for i = 0, 149 do written[#written + 1] = "w" .. i .. "\n" end
    assert.same({}, witness.lost(fx, written))
    assert.same({}, witness.disagreements(fx))
    assert.same({}, witness.ls(fx.rig .. "/polecats"))
  end)

  it("stops when a file changes under it, and the next command finishes it, saving the change", function()
    local fx = helpers.fixture()
    assert.equal(0, (run_gt(fx, "polecat", "add", "a")))
    local wt = fx.rig .. "/polecats/a/demo"
    -- The file is changed after gt proved the folder saved, before it deletes it.
    local signal = fx.dir .. "/proven"
    local script = ([[
      ( cd %q && j=0 && while [ ! -e %q ] && [ $j -lt 3000 ]; do sleep 0.005; j=$((j+1)); done
        echo "late change" >> a.txt ) &
      GT_FAULT=reap.delete=pause GT_FAULT_PAUSE_MS=300 GT_FAULT_SIGNAL=%q %q --town %q --rig demo polecat remove --wait a
      echo "exit=$?"
      wait
    ]]):format(wt, signal, signal, gt.executable, fx.town)
    local r = helpers.run({ "sh", "-c", script })
    assert.equal("1", r.stdout:match("exit=(%d+)"), r.stderr)
    assert.matches("a%.txt changed since it was saved; nothing unsaved was deleted", r.stderr)
    local code, out, err = run_gt(fx, "polecat", "add", "a")
    assert.equal(0, code, out .. err)
    assert.matches("gt: finished an interrupted remove of a", err)
    assert.same({}, witness.lost(fx, { "hello\nworld\nlate change\n" }))
    assert.same({}, witness.disagreements(fx))
  end)
end)

describe("submodules", function()
  local fx, wt
  before_each(function()
    -- origin's project has a submodule lib, which .gitmodules tells git status to ignore.
    local lib = helpers.origin(helpers.tmpdir("lib"))
    local o = helpers.origin(helpers.tmpdir("super"))
    git(o.work, "-c", "protocol.file.allow=always", "submodule", "add", "-q", lib.origin, "lib")
    git(o.work, "config", "-f", ".gitmodules", "submodule.lib.ignore", "dirty")
    git(o.work, "add", "-A")
    git(o.work, "commit", "-q", "-m", "lib")
    git(o.work, "push", "-q", "origin", "main")
    fx = helpers.fixture()
    git(fx.rig .. "/.repo.git", "remote", "set-url", "origin", o.origin)
    assert.equal(0, (run_gt(fx, "polecat", "add", "a")))
    wt = fx.rig .. "/polecats/a/demo"
    git(wt, "-c", "protocol.file.allow=always", "submodule", "update", "-q", "--init")
  end)

  it("holding edits and untracked files that .gitmodules tells git to ignore: refused", function()
    helpers.write(wt .. "/lib/a.txt", "edited in the submodule\n")
    helpers.write(wt .. "/lib/new.txt", "new\n")
    assert.equal("", git(wt, "status", "--porcelain")) -- git, told to ignore it, sees nothing
    local code, _, err = run_gt(fx, "polecat", "remove", "a")
    assert.equal(3, code)
    assert.matches("\n  submodule lib: 1 uncommitted change, 1 untracked file %(gt cannot save", err)
    assert.equal("edited in the submodule\n", helpers.read(wt .. "/lib/a.txt"))
  end)

  it("holding commits, edits, untracked files: refuse (exit 3) even with --force, saying how to save them", function()
    helpers.write(wt .. "/lib/a.txt", "edited in the submodule\n")
    git(wt .. "/lib", "commit", "-q", "-am", "work in lib")
    helpers.write(wt .. "/lib/new.txt", "new\n")
    for _, args in ipairs({ { "a" }, { "--force", "a" } }) do
      local code, out, err = run_gt(fx, "polecat", "remove", table.unpack(args))
      assert.equal(3, code)
      assert.equal("", out)
      assert.equal("gt: polecat remove: refusing to remove: polecat a holds work gt cannot save:\n" ..
        "  submodule lib: 1 commit on no remote, 1 untracked file (gt cannot save a submodule's " ..
        "work: commit and push it from " .. wt .. "/lib)\n" ..
        "nothing was removed; save that work yourself, or use --force --discard to drop it\n", err)
    end
    assert.equal("new\n", helpers.read(wt .. "/lib/new.txt"))
    assert.is_true(helpers.exists(fx.rig .. "/.repo.git/worktrees/a/modules/lib"))
    -- Pushed and committed, it is safe; the submodule's git folder goes with the worktree.
    git(wt .. "/lib", "add", "new.txt")
    git(wt .. "/lib", "commit", "-q", "-m", "new")
    git(wt .. "/lib", "push", "-q", "origin", "HEAD:main")
    local code, out, err = run_gt(fx, "polecat", "remove", "a")
    assert.equal(0, code, err)
    assert.equal("removed polecat a\n", out)
    assert.same({}, witness.disagreements(fx))
  end)

  it("are not touched when a removal is refused after the classification (a hook wrote a file)", function()
    helpers.write(wt .. "/lib/.env", "SECRET=1\n")
    local exclude = git(wt .. "/lib", "rev-parse", "--path-format=absolute", "--git-path", "info/exclude")
    helpers.write(exclude, ".env\n") -- ignored in the submodule: disposable, were it removed
    local init = fx.dir .. "/config/gt/init.lua"
    helpers.write(init, ("gt.hooks.on('pre_remove', function(ctx) " ..
      "local f = io.open(ctx.path .. '/late.txt', 'w') f:write('late\\n') f:close() end)\n"))
    local code, _, err = helpers.gt_rig(fx, { "polecat", "remove", "a" },
      { env = { XDG_CONFIG_HOME = fx.dir .. "/config" } })
    assert.equal(3, code)
    assert.matches("polecat a changed while it was being removed:\n  files not saved: late.txt\nnothing " ..
      "was removed", err)
    assert.equal("SECRET=1\n", helpers.read(wt .. "/lib/.env"))
    assert.equal("working", witness.agent(fx, "a").state)
    assert.same({}, witness.disagreements(fx))
  end)

  it("that are clean are removed with the polecat", function()
    local code, _, err = run_gt(fx, "polecat", "remove", "a")
    assert.equal(0, code, err)
    assert.same({}, witness.ls(fx.rig .. "/polecats"))
    assert.same({}, witness.disagreements(fx))
  end)
end)

describe("repositories inside a worktree", function()
  local fx, wt
  before_each(function()
    fx = helpers.fixture()
    assert.equal(0, (run_gt(fx, "polecat", "add", "a")))
    wt = fx.rig .. "/polecats/a/demo"
    helpers.write(wt .. "/.gitignore", "tmp/\n")
    git(wt, "add", ".gitignore")
    git(wt, "commit", "-q", "-m", "ignore tmp")
    git(wt, "push", "-q", "origin", "HEAD:main")
    git(fx.rig .. "/.repo.git", "fetch", "-q", "origin")
  end)

  it("in an ignored folder, holding commits of its own, refuse the remove (exit 3): not disposable", function()
    git(wt, "init", "-q", "-b", "main", "tmp/exp")
    helpers.write(wt .. "/tmp/exp/idea.txt", "an idea\n")
    git(wt .. "/tmp/exp", "add", "-A")
    git(wt .. "/tmp/exp", "commit", "-q", "-m", "only here")
    local code, _, err = run_gt(fx, "polecat", "remove", "a")
    assert.equal(3, code)
    assert.matches("\n  repository nested in the worktree: tmp/exp/: 1 commit on no remote %(gt cannot save", err)
    assert.equal("an idea\n", helpers.read(wt .. "/tmp/exp/idea.txt"))
    assert.equal("only here", git(wt .. "/tmp/exp", "log", "-1", "--format=%s"))
  end)

  it("whose work is all on its remote go with the polecat", function()
    local o = helpers.origin(helpers.tmpdir("lib"))
    git(wt, "clone", "-q", o.origin, "tmp/lib")
    local code, _, err = run_gt(fx, "polecat", "remove", "a")
    assert.equal(0, code, err)
    assert.same({}, witness.ls(fx.rig .. "/polecats"))
    assert.same({}, witness.disagreements(fx))
  end)

  it("of a submodule that was deinitialised (its git folder kept in git's record) are proven too", function()
    local lib = helpers.origin(helpers.tmpdir("lib"))
    git(wt, "-c", "protocol.file.allow=always", "submodule", "add", "-q", lib.origin, "lib")
    git(wt, "commit", "-q", "-m", "lib")
    git(wt .. "/lib", "switch", "-q", "-c", "feature")
    helpers.write(wt .. "/lib/mine.txt", "mine\n")
    git(wt .. "/lib", "add", "-A")
    git(wt .. "/lib", "commit", "-q", "-m", "only copy")
    git(wt, "submodule", "deinit", "-q", "-f", "lib")
    local code, _, err = run_gt(fx, "polecat", "remove", "--force", "a")
    assert.equal(3, code)
    assert.matches("\n  submodule lib %(not checked out%): 1 commit on no remote %(gt cannot save", err)
    assert.is_true(helpers.exists(fx.rig .. "/.repo.git/worktrees/a/modules/lib/HEAD"))
  end)
end)

describe("edits hidden by index flags", function()
  it("are unsaved work, and the salvage holds their new content", function()
    local fx = helpers.fixture()
    assert.equal(0, (run_gt(fx, "polecat", "add", "a")))
    local wt = fx.rig .. "/polecats/a/demo"
    git(wt, "update-index", "--skip-worktree", "a.txt")
    git(wt, "update-index", "--assume-unchanged", "src/b.txt")
    helpers.write(wt .. "/a.txt", "edited a\n")
    helpers.write(wt .. "/src/b.txt", "edited b\n")
    assert.equal("", git(wt, "status", "--porcelain"))
    local code, _, err = run_gt(fx, "polecat", "remove", "a")
    assert.equal(3, code)
    assert.matches("2 uncommitted changes: a.txt, src/b.txt", err)
    code, _, err = run_gt(fx, "polecat", "remove", "--force", "a")
    assert.equal(0, code, err)
    local files = salvaged(fx, "a")
    assert.equal("edited a\n", files["a.txt"])
    assert.equal("edited b\n", files["src/b.txt"])
  end)
end)

describe("what cannot be read", function()
  local fx, wt
  before_each(function()
    fx = helpers.fixture()
    assert.equal(0, (run_gt(fx, "polecat", "add", "a")))
    wt = fx.rig .. "/polecats/a/demo"
  end)
  after_each(function()
    require("gt.fs").mkdir_p(wt) -- make it removable again
    helpers.run({ "chmod", "-R", "u+rwx", fx.rig .. "/polecats" })
  end)

  it("is not safe: a folder the user cannot read refuses remove and --force (exit 3), with the reason", function()
    helpers.write(wt .. "/secret/inside.txt", "hidden work\n")
    assert.is_true(helpers.run({ "chmod", "000", wt .. "/secret" }).ok)
    local code, out, err = unprivileged(fx, { "polecat", "status", "a" })
    assert.equal(0, code, err)
    assert.matches("unsaved work:\n    secret/ could not be read %(Permission denied%): gt cannot tell " ..
      "what it holds\n", out)
    for _, args in ipairs({ { "a" }, { "--force", "a" } }) do
      code, out, err = unprivileged(fx, { "polecat", "remove", table.unpack(args) })
      assert.equal(3, code)
      assert.equal("gt: polecat remove: refusing to remove: polecat a holds work gt cannot save:\n" ..
        "  secret/ could not be read (Permission denied): gt cannot tell what it holds\n" ..
        "nothing was removed; save that work yourself, or use --force --discard to drop it\n", err)
    end
    helpers.run({ "chmod", "700", wt .. "/secret" })
    assert.equal("hidden work\n", helpers.read(wt .. "/secret/inside.txt"))
  end)

  it("is not safe: an untracked file that cannot be opened refuses --force (exit 3), nothing removed", function()
    helpers.write(wt .. "/locked.txt", "work\n")
    assert.is_true(helpers.run({ "chmod", "000", wt .. "/locked.txt" }).ok)
    local before = witness.snapshot(fx)
    local code, _, err = unprivileged(fx, { "polecat", "remove", "--force", "a" })
    assert.equal(3, code)
    assert.matches("^gt: polecat remove: could not save the work of polecat a: .*locked%.txt", err)
    assert.same(before, witness.snapshot(fx))
  end)
end)

describe("the polecat's folder", function()
  local fx, home, wt
  before_each(function()
    fx = helpers.fixture()
    assert.equal(0, (run_gt(fx, "polecat", "add", "a")))
    home = fx.rig .. "/polecats/a"
    wt = home .. "/demo"
  end)

  it("holds work beside the worktree: listed, refused, saved by --force", function()
    helpers.write(home .. "/notes.md", "my notes\n")
    helpers.write(home .. "/logs/run.txt", "a log\n")
    local code, out = run_gt(fx, "polecat", "status", "a")
    assert.equal(0, code)
    assert.matches("2 entries beside the worktree, in its polecat's folder: logs, notes.md\n", out)
    local err
    code, _, err = run_gt(fx, "polecat", "remove", "a")
    assert.equal(3, code)
    assert.matches("2 entries beside the worktree", err)
    code, _, err = run_gt(fx, "polecat", "remove", "--force", "a")
    assert.equal(0, code, err)
    assert.same({}, witness.lost(fx, { "my notes\n", "a log\n" }))
    assert.same({}, witness.ls(fx.rig .. "/polecats"))
  end)

  it("holds no repository beside the worktree that a removal would delete", function()
    git(home, "init", "-q")
    local code, _, err = run_gt(fx, "polecat", "remove", "--force", "a")
    assert.equal(3, code)
    assert.matches("repository beside the worktree: " .. home:gsub("%p", "%%%0") .. "/%.git", err)
    code, _, err = run_gt(fx, "polecat", "remove", "--force", "--discard", "a")
    assert.equal(0, code, err)
    assert.same({}, witness.disagreements(fx))
  end)

  it("has ignored content: disposable, said how much; --force saves what keep_ignored names (.env*)", function()
    helpers.write(wt .. "/.gitignore", ".env*\nbuild/\n")
    git(wt, "add", ".gitignore")
    git(wt, "commit", "-q", "-m", "ignore")
    git(wt, "push", "-q", "origin", "HEAD:main")
    git(fx.rig .. "/.repo.git", "fetch", "-q", "origin")
    helpers.write(wt .. "/.env", "TOKEN=secret\n")
    helpers.write(wt .. "/build/out.o", "0123456789")
    local code, out = run_gt(fx, "polecat", "status", "a")
    assert.equal(0, code)
    assert.matches("safe to remove", out)
    assert.matches("\n  ignored files, deleted by a remove: 2 files %(23 bytes%); %-%-force saves %.env\n$", out)
    code, out = run_gt(fx, "polecat", "remove", "--force", "a")
    assert.equal(0, code, out)
    local files = salvaged(fx, "a")
    assert.equal("TOKEN=secret\n", files[".env"])
    assert.is_nil(files["build/out.o"])
  end)
end)
