-- gt polecat remove returns once the polecat's folder and git's record are moved into the rig's
-- trash (<rig>/.gt/trash/<name>-<stamp>), its branch deleted and it is marked removed; a
-- detached gt deletes the trash, proving it first (gt.trash, gt.reap.empty). These specs check
-- that it returns with everything gone from where it was, that the trash is deleted afterwards,
-- and that nothing is lost when the deleter is killed, when files are written into the trash,
-- when removes run in parallel and when the name is added again at once. The background is
-- waited for with a bounded poll (witness.settle), never timed.
local helpers = require("helpers")
local witness = require("witness")
local lock = require("gt.lock")
local sys = require("gt.sys")
local fs = require("gt.fs")

local git = helpers.git

--- The entries of the rig's trash.
local function trash_entries(fx)
  return witness.ls(fx.rig .. "/.gt/trash")
end

--- Waits (bounded) until `path` exists; returns whether it does.
local function wait_for(path)
  for _ = 1, 1500 do
    if helpers.exists(path) then return true end
    sys.sleep_ms(20)
  end
  return false
end

--- Waits (bounded) until the deleter that reached a fault point (its signal file `signal`
--- exists) is dead: the lock of trash entry `entry` is free again.
local function wait_killed(signal, entry)
  assert(wait_for(signal), "the deleter never reached its fault point")
  for _ = 1, 1500 do
    local lk = lock.try(entry .. "/lock")
    if lk then
      lk:release()
      return
    end
    sys.sleep_ms(20)
  end
  error("the deleter of " .. entry .. " never died")
end

--- Removes polecat a with the background deleter armed with GT_FAULT=`spec` (it dies there);
--- returns the trash entry, once the deleter is dead.
local function remove_killed(fx, spec, args)
  local signal = fx.dir .. "/deleter-at-fault"
  local argv = { "polecat", "remove", "--json" }
  for _, a in ipairs(args or { "a" }) do argv[#argv + 1] = a end
  local r = helpers.gt_fault(fx, spec, argv, { env = { GT_FAULT_SIGNAL = signal } })
  assert.equal(0, r.code, r.stderr)
  local entry = require("gt.json").decode(r.stdout)[1].trash
  wait_killed(signal, entry)
  return entry
end

local function running_trash_ops(fx)
  return witness.query(fx, "SELECT * FROM operations WHERE kind = 'trash' AND status = 'running'")
end

describe("gt polecat remove (returning at once)", function()
  local fx
  before_each(function()
    fx = helpers.fixture()
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
  end)

  it("returns with the folder, git's record and the branch gone; the trash is deleted afterwards", function()
    local code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "a" })
    assert.equal(0, code, err)
    assert.equal("removed polecat a\n", out)
    -- At once: nothing left where it was.
    assert.is_false(helpers.exists(fx.rig .. "/polecats/a"))
    assert.same({}, witness.records(fx))
    assert.same({}, witness.branches(fx, "polecat/"))
    assert.equal("removed", witness.agent(fx, "a").state)
    assert.equal("", git(fx.rig .. "/.repo.git", "worktree", "list", "--porcelain"):match("worktree [^\n]*/polecats/a") or "")
    -- Afterwards: the trash is deleted, and nothing was saved (nothing was unsaved).
    assert.is_true(witness.settle(fx))
    assert.same({}, trash_entries(fx))
    assert.equal("", git(fx.rig .. "/.repo.git", "for-each-ref", "refs/gt/salvage/"))
    local ops = witness.query(fx, "SELECT * FROM operations WHERE kind = 'trash'")
    assert.equal(1, #ops)
    assert.equal("done", ops[1].status)
    assert.equal("demo/.trash/" .. ops[1].agent:match("[^/]+$"), ops[1].agent)
    assert.same({}, witness.disagreements(fx))
  end)

  it("never moves a polecat holding unsaved work into the trash (plain remove refuses)", function()
    helpers.write(fx.rig .. "/polecats/a/demo/mine.txt", "the user's own file\n")
    local code, _, err = helpers.gt_rig(fx, { "polecat", "remove", "a" })
    assert.equal(3, code, err)
    assert.equal("the user's own file\n", helpers.read(fx.rig .. "/polecats/a/demo/mine.txt"))
    assert.same({}, trash_entries(fx))
    assert.equal("working", witness.agent(fx, "a").state)
  end)

  it("--force saves unsaved work before the move, and the deleter saves nothing more", function()
    helpers.write(fx.rig .. "/polecats/a/demo/mine.txt", "the user's own file\n")
    local code, _, err = helpers.gt_rig(fx, { "polecat", "remove", "--force", "a" })
    assert.equal(0, code, err)
    assert.is_true(witness.settle(fx))
    local refs = helpers.lines(git(fx.rig .. "/.repo.git", "for-each-ref", "--format=%(refname)", "refs/gt/salvage/"))
    assert.equal(1, #refs)
    assert.same({}, witness.lost(fx, { "the user's own file\n" }))
    assert.same({}, witness.disagreements(fx))
  end)

  it("--wait deletes the folder before it returns", function()
    local code, _, err = helpers.gt_rig(fx, { "polecat", "remove", "--wait", "a" })
    assert.equal(0, code, err)
    assert.same({}, trash_entries(fx))
    assert.same({}, running_trash_ops(fx))
    assert.same({}, witness.disagreements(fx))
  end)

  it("a deleter killed half-way leaves trash that the next command finishes", function()
    helpers.write(fx.rig .. "/polecats/a/notes.md", "beside the worktree\n") -- saved by --force
    local entry = remove_killed(fx, "trash.delete=kill", { "--force", "a" })
    -- Half-way: the worktree's files are gone, what was beside it and git's record are not.
    assert.is_false(helpers.exists(entry .. "/home/demo"))
    assert.is_true(helpers.exists(entry .. "/home/notes.md"))
    assert.is_true(helpers.exists(entry .. "/record/index"))
    assert.equal(1, #running_trash_ops(fx))
    -- gt doctor says so; the next gt polecat add in the rig starts a new deleter.
    local code, out = helpers.gt_rig(fx, { "doctor" })
    assert.equal(1, code)
    assert.matches("the deletion of " .. entry:gsub("%p", "%%%0") .. " %(a removed polecat's folder%) was interrupted", out)
    local err
    code, _, err = helpers.gt_rig(fx, { "polecat", "add", "b" })
    assert.equal(0, code, err)
    assert.is_true(witness.settle(fx))
    assert.is_false(helpers.exists(entry))
    assert.same({}, witness.lost(fx, { "beside the worktree\n" }))
    assert.same({}, witness.disagreements(fx))
  end)

  it("a deleter killed half-way leaves trash that gt doctor --fix finishes", function()
    local entry = remove_killed(fx, "trash.delete=kill")
    local code, out, err = helpers.gt_rig(fx, { "doctor", "--fix" })
    assert.equal(0, code, out .. err)
    assert.matches("fixed demo/a: the deletion of .* was interrupted: finished", out)
    assert.is_false(helpers.exists(entry))
    assert.same({}, running_trash_ops(fx))
    assert.same({}, witness.disagreements(fx))
  end)

  it("saves a file written into the trash after the move, never deletes it", function()
    local entry = remove_killed(fx, "trash.prove=kill")
    helpers.write(entry .. "/home/demo/late.txt", "written after the move\n")
    helpers.write(entry .. "/home/demo/a.txt", "changed after the move\n")
    local code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "a" })
    assert.equal(4, code, out .. err) -- a is gone; the trash was handed to a new deleter
    assert.is_true(witness.settle(fx))
    assert.is_false(helpers.exists(entry))
    local refs = helpers.lines(git(fx.rig .. "/.repo.git", "for-each-ref", "--format=%(refname)", "refs/gt/salvage/"))
    assert.equal(1, #refs)
    assert.equal("written after the move", git(fx.rig .. "/.repo.git", "show", refs[1] .. ":late.txt"))
    assert.same({}, witness.lost(fx, { "written after the move\n", "changed after the move\n" }))
    local kinds = witness.event_kinds(fx, "a")
    assert.equal("salvaged", kinds[#kinds])
    assert.same({}, witness.disagreements(fx))
  end)

  it("saves a file written into the trash half-way through the deletion (gt doctor --fix)", function()
    local entry = remove_killed(fx, "trash.delete=kill")
    helpers.write(entry .. "/home/late.txt", "written during the deletion\n")
    local code, out, err = helpers.gt_rig(fx, { "doctor", "--fix" })
    assert.equal(0, code, out .. err)
    assert.is_false(helpers.exists(entry))
    assert.same({}, witness.lost(fx, { "written during the deletion\n" }))
    assert.same({}, witness.disagreements(fx))
  end)

  it("a remove killed after the move is finished by the next command on the name", function()
    helpers.write(fx.rig .. "/polecats/a/demo/mine.txt", "the user's own file\n")
    local r = helpers.gt_fault(fx, "remove.moved=kill", { "polecat", "remove", "--force", "a" })
    assert.equal(9, r.signal, r.stderr)
    local entries = trash_entries(fx)
    assert.equal(1, #entries)
    local entry = fx.rig .. "/.gt/trash/" .. entries[1]
    helpers.write(entry .. "/home/demo/late.txt", "written after the move\n")
    local code, _, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(0, code, err)
    assert.matches("finished an interrupted remove of a", err)
    assert.is_false(helpers.exists(entry))
    assert.same({}, witness.lost(fx, { "the user's own file\n", "written after the move\n" }))
    assert.same({}, witness.disagreements(fx))
  end)

  it("removes two polecats in parallel", function()
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "b" })))
    local cmd = ("%q --town %q --rig demo polecat remove"):format(gt.executable, fx.town)
    local r = helpers.run({ "sh", "-c", ("%s a & %s b & wait %%1; echo a=$?; wait %%2; echo b=$?"):format(cmd, cmd) })
    assert.matches("a=0\n", r.stdout, 1, true)
    assert.matches("b=0\n", r.stdout, 1, true)
    assert.is_true(witness.settle(fx))
    assert.same({}, trash_entries(fx))
    assert.equal("removed", witness.agent(fx, "a").state)
    assert.equal("removed", witness.agent(fx, "b").state)
    assert.same({}, witness.disagreements(fx))
  end)

  it("adds the name again at once, while the trash of the old one is deleted", function()
    -- The deleter first sleeps (it keeps the entry's lock meanwhile): the add does not wait for it.
    local r = helpers.gt_fault(fx, "trash.prove=pause", { "polecat", "remove", "a" },
      { env = { GT_FAULT_PAUSE_MS = "500" } })
    assert.equal(0, r.code, r.stderr)
    local code, _, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(0, code, err)
    helpers.write(fx.rig .. "/polecats/a/demo/new.txt", "the new a's work\n")
    assert.is_true(witness.settle(fx))
    -- The new polecat is whole: its worktree, record and files.
    assert.equal("working", witness.agent(fx, "a").state)
    assert.equal("the new a's work\n", helpers.read(fx.rig .. "/polecats/a/demo/new.txt"))
    assert.equal("hello\nworld\n", helpers.read(fx.rig .. "/polecats/a/demo/a.txt"))
    assert.same({ "a" }, witness.records(fx))
    assert.equal("?? new.txt", git(fx.rig .. "/polecats/a/demo", "status", "--porcelain"))
    assert.same({}, witness.disagreements(fx))
  end)

  it("gt polecat empty-trash --dry-run lists what is left, and empties it", function()
    local entry = remove_killed(fx, "trash.prove=kill")
    local name = entry:match("[^/]+$")
    -- (Not witness.snapshot: it waits for the deleter, which is dead.)
    local function state()
      return { files = witness.files(entry), ops = witness.query(fx, "SELECT * FROM operations ORDER BY id"),
        events = witness.query(fx, "SELECT * FROM events ORDER BY seq") }
    end
    local before = state()
    local code, out, err = helpers.gt_rig(fx, { "polecat", "empty-trash", "--dry-run" })
    assert.equal(0, code, err)
    assert.equal("ENTRY" .. (" "):rep(#name - 3) .. "PLAN\n" .. name .. "  delete\n", out)
    assert.same(before, state())
    code, out, err = helpers.gt_rig(fx, { "polecat", "empty-trash", "--json" })
    assert.equal(0, code, err)
    assert.same({ { name = name, path = entry, result = "deleted" } }, require("gt.json").decode(out))
    assert.is_nil(fs.lstat(entry))
    assert.same({}, witness.disagreements(fx))
  end)
end)

describe("gt polecat remove of a project with submodules", function()
  local fx
  before_each(function()
    -- origin's project has a submodule lib, never initialised in a polecat (as git.git's).
    local lib = helpers.origin(helpers.tmpdir("lib"))
    local o = helpers.origin(helpers.tmpdir("super"))
    git(o.work, "-c", "protocol.file.allow=always", "submodule", "add", "-q", lib.origin, "lib")
    git(o.work, "commit", "-q", "-m", "lib")
    git(o.work, "push", "-q", "origin", "main")
    fx = helpers.fixture()
    git(fx.rig .. "/.repo.git", "remote", "set-url", "origin", o.origin)
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
  end)

  it("returns at once while no submodule is initialised", function()
    local code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "--json", "a" })
    assert.equal(0, code, err)
    local entry = require("gt.json").decode(out)[1]
    assert.is_true(entry.background)
    assert.is_false(helpers.exists(fx.rig .. "/polecats/a"))
    assert.is_true(witness.settle(fx))
    assert.same({}, trash_entries(fx))
    assert.equal("", git(fx.rig .. "/.repo.git", "for-each-ref", "refs/gt/salvage/"))
    assert.same({}, witness.disagreements(fx))
  end)

  it("takes it apart before returning once one is (its repository is proven first)", function()
    local wt = fx.rig .. "/polecats/a/demo"
    git(wt, "-c", "protocol.file.allow=always", "submodule", "update", "-q", "--init")
    local code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "--json", "a" })
    assert.equal(0, code, err)
    assert.is_falsy(require("gt.json").decode(out)[1].background)
    assert.is_false(helpers.exists(fx.rig .. "/polecats/a"))
    assert.same({}, trash_entries(fx))
    assert.same({}, witness.disagreements(fx))
  end)
end)
