-- gt polecat add reusing an idle polecat's worktree, run as a user runs it: the worktree moves to
-- the new name and checks out the new branch from origin's default branch as just fetched,
-- writing only the files that differ; what the idle worktree held that is nowhere else is
-- salvaged first; git (the CLI is the witness) sees what a fresh add makes. Also --fresh, the
-- rig option reuse = false, gt polecat pool, hooks, and a kill in the middle.
local helpers = require("helpers")
local witness = require("witness")
local user_code = require("user_code")
local fs = require("gt.fs")
local json = require("gt.json")
local luafile = require("gt.luafile")
local _ -- discarded results (code, _, err = ...)
local git = helpers.git

local function gt(fx, ...) return helpers.gt_rig(fx, { ... }) end

--- Sets options of the rig's .gt/rig.lua.
local function set_options(fx, options)
  local path = fx.rig .. "/.gt/rig.lua"
  local config = assert(luafile.read(path))
  for k, v in pairs(options) do config[k] = v end
  assert(luafile.write(path, config))
end

--- A fixture whose rig fetches origin on every add (so that an add sees what a test pushes).
local function fixture()
  local fx = helpers.fixture()
  set_options(fx, { fetch_ttl_ms = 0 })
  return fx
end

--- Polecat `name` added (fresh), with a commit of its own pushed, then made idle; returns that
--- commit.
local function idle_polecat(fx, name)
  local code, _, err = gt(fx, "polecat", "add", name, "--fresh")
  assert.equal(0, code, err)
  local wt = fx.rig .. "/polecats/" .. name .. "/demo"
  helpers.write(wt .. "/" .. name .. "-feature.txt", "feature of " .. name .. "\n")
  git(wt, "add", "-A")
  git(wt, "commit", "-q", "-m", "feature of " .. name)
  code, _, err = gt(fx, "polecat", "done", name, "--push")
  assert.equal(0, code, err)
  assert.equal("idle", witness.agent(fx, name).state)
  return git(wt, "rev-parse", "HEAD")
end

--- Sets the modification time of `path` to 2001-01-01.
local function age(path)
  assert.equal(0, helpers.run({ "touch", "-d", "2001-01-01 00:00:00", path }).code)
end

local OLD_MS = 978307200000 -- 2001-01-01 in ms

--- Checks that polecat `name` looks as a fresh add makes it: working, its worktree at
--- polecats/<name>/demo on its branch at origin's main, clean, and git's record named after it,
--- locked by gt; and that ledger, folders, records and branches agree.
local function assert_fresh(fx, name)
  local wt = fx.rig .. "/polecats/" .. name .. "/demo"
  local agent = witness.agent(fx, name)
  assert.equal("working", agent.state)
  assert.equal(wt, agent.worktree)
  assert.equal("refs/heads/" .. agent.branch, git(wt, "symbolic-ref", "HEAD"))
  assert.equal(git(fx.origin, "rev-parse", "main"), git(wt, "rev-parse", "HEAD"))
  assert.equal("", git(wt, "status", "--porcelain", "--untracked-files=all"))
  local found
  for _, w in ipairs(witness.worktrees(fx)) do
    if w.path == wt then found = w end
  end
  assert.is_table(found)
  assert.equal("refs/heads/" .. agent.branch, found.branch)
  assert.equal("gt: demo/" .. name, found.locked)
  assert.is_nil(found.prunable)
  assert.is_true(helpers.exists(fx.rig .. "/.repo.git/worktrees/" .. name))
  assert.same({}, witness.disagreements(fx))
end

describe("reusing an idle polecat", function()
  local fx
  before_each(function() fx = fixture() end)

  it("moves its worktree to the new name and checks out origin's new main, writing only what differs", function()
    local old = idle_polecat(fx, "a")
    local old_branch = witness.events(fx, "a")[1].data.branch
    -- origin's main moves on: a.txt changes, a file is added; src/b.txt stays as it was.
    helpers.push_commit({ work = fx.work }, "a.txt", "hello\nworld\nagain\n")
    helpers.push_commit({ work = fx.work }, "new.txt", "new\n")
    local wt_a = fx.rig .. "/polecats/a/demo"
    age(wt_a .. "/src/b.txt")
    age(wt_a .. "/a.txt")
    local ino = fs.stat(wt_a .. "/src/b.txt").ino

    local code, out, err = gt(fx, "polecat", "add", "b")
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.matches("\n  reused  the worktree of idle polecat a\n$", out)
    local wt = fx.rig .. "/polecats/b/demo"
    assert_fresh(fx, "b")
    -- Only the files that differ were written.
    local st = fs.stat(wt .. "/src/b.txt")
    assert.equal(ino, st.ino)
    assert.equal(OLD_MS, st.mtime_ms)
    assert.is_true(fs.stat(wt .. "/a.txt").mtime_ms > OLD_MS)
    assert.equal("hello\nworld\nagain\n", helpers.read(wt .. "/a.txt"))
    assert.equal("new\n", helpers.read(wt .. "/new.txt"))
    assert.is_false(helpers.exists(wt .. "/a-feature.txt")) -- a's commit is not in main
    -- Nothing of a is left but its history; its commit is on origin.
    assert.same({ "b" }, witness.ls(fx.rig .. "/polecats"))
    assert.same({ "b" }, witness.records(fx))
    assert.equal(1, #witness.worktrees(fx))
    assert.equal(old, git(fx.origin, "rev-parse", "refs/heads/" .. old_branch))
    local a = witness.agent(fx, "a")
    assert.equal("removed", a.state)
    local kinds = witness.event_kinds(fx, "a")
    assert.equal("reused", kinds[#kinds])
    assert.equal("b", witness.events(fx, "a")[#kinds].data.as)
    local events = witness.events(fx, "b")
    assert.same({ "spawning", "spawned" }, witness.event_kinds(fx, "b"))
    assert.equal("a", events[2].data.reused)
    assert.equal("done", witness.operations(fx, "b")[1].status)
    assert.equal("reuse", witness.operations(fx, "b")[1].kind)
    code, out, err = gt(fx, "doctor")
    assert.equal(0, code, out .. err)
    -- It is removed as any polecat is.
    code, _, err = gt(fx, "polecat", "remove", "b")
    assert.equal(0, code, err)
    assert.same({}, witness.worktrees(fx))
  end)

  it("takes the least recently used idle polecat", function()
    idle_polecat(fx, "a")
    idle_polecat(fx, "c")
    local code, out, err = gt(fx, "polecat", "add", "b", "--json")
    assert.equal(0, code, err)
    assert.equal("a", json.decode(out).reused)
    code, out, err = gt(fx, "polecat", "add", "d", "--json")
    assert.equal(0, code, err)
    assert.equal("c", json.decode(out).reused)
    code, out, err = gt(fx, "polecat", "add", "e", "--json")
    assert.equal(0, code, err)
    assert.equal(json.null, json.decode(out).reused)
  end)

  it("saves what a dirty idle worktree holds first, then reuses it clean", function()
    idle_polecat(fx, "a")
    local wt_a = fx.rig .. "/polecats/a/demo"
    -- Written into the idle worktree: a commit on its detached HEAD, an edit, a new file.
    helpers.write(wt_a .. "/later.txt", "committed later\n")
    git(wt_a, "add", "later.txt")
    git(wt_a, "commit", "-q", "-m", "later")
    local later = git(wt_a, "rev-parse", "HEAD")
    helpers.write(wt_a .. "/a.txt", "edited while idle\n")
    helpers.write(wt_a .. "/mine.txt", "mine\n")

    local code, out, err = gt(fx, "polecat", "add", "b")
    assert.equal(0, code, err)
    assert.matches("reused  the worktree of idle polecat a", out, 1, true)
    local ref = err:match("saved to (refs/gt/salvage/demo/a/%S+) before its worktree was reused")
    assert.is_string(ref, err)
    local saved = witness.commit_files(fx.rig .. "/.repo.git", ref)
    assert.equal("edited while idle\n", saved["a.txt"])
    assert.equal("mine\n", saved["mine.txt"])
    assert.equal("committed later\n", saved["later.txt"])
    git(fx.rig .. "/.repo.git", "merge-base", "--is-ancestor", later, ref)
    assert_fresh(fx, "b")
    local wt = fx.rig .. "/polecats/b/demo"
    assert.is_false(helpers.exists(wt .. "/mine.txt"))
    assert.is_false(helpers.exists(wt .. "/later.txt"))
    assert.equal(git(fx.origin, "show", "main:a.txt") .. "\n", helpers.read(wt .. "/a.txt"))
    local kinds = witness.event_kinds(fx, "a")
    assert.same({ "salvaged", "reused" }, { table.unpack(kinds, #kinds - 1) })
  end)

  -- Classified clean, then written into before the move: the status after the move sees it,
  -- and the worktree is taken file by file and saved.
  it("saves a file written after the idle worktree was classified", function()
    idle_polecat(fx, "a")
    local wt_a = fx.rig .. "/polecats/a/demo"
    local signal = fx.dir .. "/classified"
    local script = ([[
      ( j=0; while [ ! -e %q ] && [ $j -lt 3000 ]; do sleep 0.005; j=$((j+1)); done
        echo "written late" > %q/late.txt ) &
      GT_FAULT=reuse.branch=pause GT_FAULT_PAUSE_MS=300 GT_FAULT_SIGNAL=%q %q --town %q --rig demo polecat add b
      echo "exit=$?"
      wait
    ]]):format(signal, wt_a, signal, _G.gt.executable, fx.town)
    local r = helpers.run({ "sh", "-c", script })
    assert.equal("0", r.stdout:match("exit=(%d+)"), r.stderr)
    local ref = r.stderr:match("saved to (refs/gt/salvage/demo/a/[^;%s]+)")
    assert.is_string(ref, r.stderr)
    assert.equal("written late\n", witness.commit_files(fx.rig .. "/.repo.git", ref)["late.txt"])
    assert_fresh(fx, "b")
    assert.same({}, witness.lost(fx, { "written late\n" }))
  end)

  it("keeps ignored files (build output) in the worktree it reuses", function()
    helpers.push_commit({ work = fx.work }, ".gitignore", "build/\n")
    idle_polecat(fx, "a")
    helpers.write(fx.rig .. "/polecats/a/demo/build/out.o", "object\n")
    local code, _, err = gt(fx, "polecat", "add", "b")
    assert.equal(0, code, err)
    assert.equal("object\n", helpers.read(fx.rig .. "/polecats/b/demo/build/out.o"))
    assert_fresh(fx, "b")
  end)

  it("does not reuse with --fresh", function()
    idle_polecat(fx, "a")
    local code, out, err = gt(fx, "polecat", "add", "b", "--fresh")
    assert.equal(0, code, err)
    assert.is_nil(out:find("reused", 1, true))
    assert.equal("idle", witness.agent(fx, "a").state)
    assert.same({ "a", "b" }, witness.ls(fx.rig .. "/polecats"))
    assert_fresh(fx, "b")
  end)

  it("does not reuse when the rig says reuse = false", function()
    idle_polecat(fx, "a")
    set_options(fx, { reuse = false })
    local code, out, err = gt(fx, "polecat", "add", "b")
    assert.equal(0, code, err)
    assert.is_nil(out:find("reused", 1, true))
    assert.equal("idle", witness.agent(fx, "a").state)
    assert.same({ "a", "b" }, witness.ls(fx.rig .. "/polecats"))
  end)

  it("runs pre_spawn and post_spawn hooks with ctx.reused", function()
    fx = user_code.fixture({ fetch_always = true })
    idle_polecat(fx, "a")
    user_code.init(fx, "user", [[
for _, event in ipairs({ "pre_spawn", "post_spawn" }) do
  gt.hooks.on(event, function(ctx)
    local f = assert(io.open(@LOG@, "a"))
    f:write(event, " ", ctx.name, " ", tostring(ctx.reused), " ", ctx.path, "\n")
    f:close()
  end)
end
]])
    local code, _, err = user_code.gt(fx, { "polecat", "add", "b" })
    assert.equal(0, code, err)
    local wt = fx.rig .. "/polecats/b/demo"
    assert.same({ "pre_spawn b a " .. wt, "post_spawn b a " .. wt }, user_code.log(fx))
  end)

  it("takes the new polecat apart when a post_spawn hook fails, as for a spawn", function()
    fx = user_code.fixture({ fetch_always = true })
    idle_polecat(fx, "a")
    helpers.write(fx.rig .. "/polecats/a/demo/.env", "SECRET=1\n")
    local path = user_code.init(fx, "user", [[
gt.hooks.on("post_spawn", function(ctx) error("no " .. ctx.name .. " today") end)
]])
    local code, _, err = user_code.gt(fx, { "polecat", "add", "b" })
    assert.equal(1, code)
    assert.matches("gt: polecat add: b: post_spawn hook (" .. path .. ":1): no b today\n", err, 1, true)
    assert.equal("failed", witness.agent(fx, "b").state)
    assert.equal("removed", witness.agent(fx, "a").state)
    assert.same({}, witness.ls(fx.rig .. "/polecats"))
    assert.same({}, witness.records(fx))
    assert.same({}, witness.branches(fx, "polecat/"))
    assert.equal("rolled_back", witness.operations(fx, "b")[1].status)
    -- The idle worktree's file was saved before the reuse.
    assert.same({}, witness.lost(fx, { "SECRET=1\n" }))
    assert.same({}, witness.disagreements(fx))
  end)
end)

describe("gt polecat pool", function()
  it("keeps --size idle polecats ready; add takes them", function()
    local fx = fixture()
    local code, out, err = gt(fx, "polecat", "pool", "--size", "2", "--json")
    assert.equal(0, code, err)
    local made = json.decode(out)
    assert.equal(2, made.create)
    assert.equal(2, #made.created)
    for _, name in ipairs(made.created) do
      local a = witness.agent(fx, name)
      assert.equal("idle", a.state)
      assert.is_nil(a.branch)
    end
    assert.same({}, witness.branches(fx, "polecat/"))
    assert.same({}, witness.disagreements(fx))
    code, out, err = gt(fx, "polecat", "pool", "--size", "2", "--dry-run")
    assert.equal(0, code, err)
    assert.equal("rig demo has 2 idle polecats (size 2): nothing to do\n", out)
    code, out = gt(fx, "polecat", "pool", "--size", "3", "-n")
    assert.equal(0, code)
    assert.equal("would make 1 idle polecat in rig demo (it has 2, size 3)\n", out)
    assert.equal(2, #witness.ls(fx.rig .. "/polecats"))
    code, out, err = gt(fx, "polecat", "add", "x", "--json")
    assert.equal(0, code, err)
    assert.equal(made.created[1], json.decode(out).reused)
    code, _, err = gt(fx, "polecat", "pool", "--size", "nope")
    assert.equal(2, code)
    assert.matches("--size needs a number", err, 1, true)
  end)
end)

describe("a reuse killed half-way", function()
  local fx
  before_each(function()
    fx = fixture()
    idle_polecat(fx, "a")
    helpers.write(fx.rig .. "/polecats/a/demo/mine.txt", "mine\n")
  end)

  it("after the move, is finished by the next command, keeping the idle worktree's work", function()
    local r = helpers.gt_fault(fx, "reuse.moved=kill", { "polecat", "add", "b" })
    assert.equal(9, r.signal, r.stderr)
    assert.same({ "b" }, witness.ls(fx.rig .. "/polecats"))
    local code, out, err = gt(fx, "polecat", "done", "b")
    assert.equal(0, code, err)
    assert.matches("gt: finished an interrupted reuse of a as b", err, 1, true)
    assert.equal("polecat b is idle\n", out:gsub(" %(.*%)", ""))
    assert.equal("removed", witness.agent(fx, "a").state)
    assert.equal("idle", witness.agent(fx, "b").state)
    assert.equal("", git(fx.rig .. "/polecats/b/demo", "status", "--porcelain", "--untracked-files=all"))
    -- mine.txt was saved before the reuse went on.
    local refs = helpers.lines(git(fx.rig .. "/.repo.git", "for-each-ref", "--format=%(refname)",
      "refs/gt/salvage/demo/a/"))
    assert.equal(1, #refs)
    assert.equal("mine\n", witness.commit_files(fx.rig .. "/.repo.git", refs[1])["mine.txt"])
    assert.same({}, witness.disagreements(fx))
    code, out, err = gt(fx, "doctor")
    assert.equal(0, code, out .. err)
  end)

  it("before the move, is rolled back by the next add, which then reuses it", function()
    local r = helpers.gt_fault(fx, "reuse.branch=kill", { "polecat", "add", "b" })
    assert.equal(9, r.signal, r.stderr)
    assert.same({ "a" }, witness.ls(fx.rig .. "/polecats"))
    local code, out, err = gt(fx, "polecat", "add", "b")
    assert.equal(0, code, err)
    assert.matches("gt: rolled back an interrupted reuse of a as b", err, 1, true)
    assert.matches("reused  the worktree of idle polecat a", out, 1, true)
    assert_fresh(fx, "b")
    local refs = helpers.lines(git(fx.rig .. "/.repo.git", "for-each-ref", "--format=%(refname)",
      "refs/gt/salvage/demo/a/"))
    assert.is_true(#refs >= 1)
    local kept = false
    for _, ref in ipairs(refs) do
      kept = kept or witness.commit_files(fx.rig .. "/.repo.git", ref)["mine.txt"] == "mine\n"
    end
    assert.is_true(kept)
  end)

  it("is ended by gt doctor --fix", function()
    local r = helpers.gt_fault(fx, "reuse.checkout=kill", { "polecat", "add", "b" })
    assert.equal(9, r.signal, r.stderr)
    local code, out, err = gt(fx, "doctor", "--fix")
    assert.equal(0, code, out .. err)
    assert_fresh(fx, "b")
    assert.equal("removed", witness.agent(fx, "a").state)
  end)
end)
