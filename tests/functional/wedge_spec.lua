-- Nothing wedges a rig for good (issue 7, "Wedged"): origin renaming its default branch, the
-- host name changing under an unfinished command, a rig add killed half-way, an empty ledger,
-- a broken user file. Each is met as a user would meet it, and gt says or does what gets them
-- going again.
local helpers = require("helpers")
local witness = require("witness")
local _ -- discarded results (code, _, err = ...)
local git = helpers.git

local function holds(s, part)
  assert(s:find(part, 1, true), ("%q does not hold %q"):format(s, part))
end

describe("origin renaming its default branch", function()
  local fx
  before_each(function()
    fx = helpers.fixture()
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "b" })))
    git(fx.origin, "branch", "-m", "main", "trunk")
    git(fx.origin, "symbolic-ref", "HEAD", "refs/heads/trunk")
    -- A fetch as git does it: origin/main goes, origin/HEAD still names it.
    git(fx.rig .. "/.repo.git", "fetch", "-q", "--prune", "origin")
  end)

  it("leaves polecats removable: the safety gate works with the remote-tracking refs that remain", function()
    local code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "a" })
    assert.equal(0, code, err)
    assert.equal("removed polecat a\n", out)
    local wt = fx.rig .. "/polecats/b/demo"
    helpers.write(wt .. "/f.txt", "f\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-q", "-m", "unpushed")
    code, _, err = helpers.gt_rig(fx, { "polecat", "remove", "b" })
    assert.equal(3, code)
    holds(err, "1 commit on no remote: ")
  end)

  it("is reported by gt doctor, and gt rig set-default follows origin's new default", function()
    local code, out = helpers.gt_rig(fx, { "doctor" })
    assert.equal(1, code)
    assert.equal("problem rig demo: origin has no branch main any more: gt rig set-default demo " ..
      "[BRANCH] (without BRANCH: the one origin's HEAD names)\n", out)
    local err
    code, out, err = helpers.gt({ "--town", fx.town, "rig", "set-default", "demo" })
    assert.equal(0, code, err)
    assert.equal("rig demo starts polecats from origin/trunk (was main)\n", out)
    assert.matches('\n  default_branch = "trunk",\n', helpers.read(fx.rig .. "/.gt/rig.lua"))
    code, out = helpers.gt_rig(fx, { "doctor" })
    assert.equal(0, code, out)
    code, _, err = helpers.gt_rig(fx, { "polecat", "add", "c" })
    assert.equal(0, code, err)
    assert.equal(git(fx.origin, "rev-parse", "trunk"), witness.agent(fx, "c") and
      git(fx.rig .. "/polecats/c/demo", "rev-parse", "HEAD"))
  end)

  it("is followed by gt's own next fetch, which says so", function()
    local path = fx.rig .. "/.gt/rig.lua"
    helpers.write(path, (helpers.read(path):gsub("\nreturn {\n", "\nreturn {\n  fetch_ttl_ms = 0,\n")))
    local code, _, err = helpers.gt_rig(fx, { "polecat", "add", "c" })
    assert.equal(0, code, err)
    assert.equal("gt: origin's branch main is gone and its default is now trunk: rig demo follows it\n", err)
    assert.equal("refs/remotes/origin/trunk", git(fx.rig .. "/.repo.git", "symbolic-ref", "refs/remotes/origin/HEAD"))
  end)

  it("is fixed by gt doctor --fix", function()
    local code, out = helpers.gt_rig(fx, { "doctor", "--fix" })
    assert.equal(0, code, out)
    assert.matches("^fixed rig demo: origin has no branch main any more", out)
    assert.matches('\n  default_branch = "trunk",\n', helpers.read(fx.rig .. "/.gt/rig.lua"))
  end)

  it("to a branch origin does not have is refused by set-default (exit 4)", function()
    local code, _, err = helpers.gt({ "--town", fx.town, "rig", "set-default", "demo", "nope" })
    assert.equal(4, code)
    assert.equal("gt: rig set-default: origin has no branch 'nope' (as last fetched)\n", err)
  end)
end)

describe("an unfinished command recorded under another host name", function()
  it("is recovered: the lock it held proves it dead, and doctor --fix goes on with the town", function()
    local fx = helpers.fixture()
    for _, name in ipairs({ "a", "b" }) do
      local r = helpers.gt_fault(fx, "add.checkout=kill", { "polecat", "add", name })
      assert.equal(9, r.signal, r.stderr)
    end
    -- The container restarted with a new host name.
    local db <close> = assert(require("gt.ledger").open(fx.town .. "/.gt/ledger.db"))
    assert(db:exec("UPDATE operations SET host = 'old-host-name'"))
    local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(0, code, out .. err)
    code, out, err = helpers.gt_rig(fx, { "doctor", "--fix" })
    assert.equal(0, code, out .. err)
    assert.matches("^fixed demo/b: an interrupted add %(pid %d+%) was finished\n$", out)
    assert.same({}, witness.disagreements(fx))
  end)

  it("that is still running (its lock held) is left alone by doctor, and not called fixed", function()
    local fx = helpers.fixture()
    local script = ([[
      GT_FAULT=add.checkout=pause GT_FAULT_PAUSE_MS=3000 %q --town %q --rig demo polecat add a &
      sleep 1
      %q --town %q --rig demo doctor; echo "doctor=$?"
      %q --town %q --rig demo doctor --fix; echo "fix=$?"
      wait; echo "add=$?"
    ]]):format(gt.executable, fx.town, gt.executable, fx.town, gt.executable, fx.town)
    local r = helpers.run({ "sh", "-c", script })
    local before_spawn = r.stdout:match("^(.-)polecat a spawned") or r.stdout
    assert.equal("no problems found\ndoctor=0\nno problems found\nfix=0\n", before_spawn)
    assert.matches("add=0\n$", r.stdout)
    assert.same({}, witness.disagreements(fx))
  end)
end)

describe("a lock file a killed process left on the polecat's branch", function()
  local fx, lockfile
  before_each(function()
    fx = helpers.fixture()
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
    lockfile = fx.rig .. "/.repo.git/refs/heads/" .. witness.agent(fx, "a").branch .. ".lock"
    helpers.write(lockfile, "")
  end)

  it("is removed once nothing has it open and nothing touched it for 10 s, and the remove goes on", function()
    assert.is_true(helpers.run({ "touch", "-d", "1 minute ago", lockfile }).ok)
    local code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "a" })
    assert.equal(0, code, err)
    assert.equal("removed polecat a\n", out)
    assert.equal("gt: removed " .. lockfile .. ", a lock file left by a process that died\n", err)
    assert.same({}, witness.disagreements(fx))
  end)

  it("is left alone while it may be a git command's (it was just written), and the remove waits for a rerun", function()
    local code, _, err = helpers.gt_rig(fx, { "polecat", "remove", "a" })
    assert.equal(5, code) -- busy: another process may hold it
    holds(err, "failed to lock file '" .. lockfile .. "'")
    assert.is_true(helpers.exists(lockfile))
    assert.is_true(helpers.run({ "touch", "-d", "1 minute ago", lockfile }).ok)
    local out
    code, out, err = helpers.gt_rig(fx, { "polecat", "remove", "a" })
    assert.equal(0, code, err)
    assert.equal("removed polecat a\n", out)
    assert.same({}, witness.disagreements(fx))
  end)
end)

describe("a rig add killed half-way", function()
  local fx, o
  before_each(function()
    fx = helpers.fixture()
    o = helpers.origin(helpers.tmpdir("second"))
  end)

  for _, point in ipairs({ "rig_add.folder", "rig_add.clone" }) do
    it(("(at %s) is reported by doctor, and rolled back by the next rig add of the name"):format(point), function()
      local r = helpers.run({ gt.executable, "--town", fx.town, "rig", "add", "web", o.origin },
        { env = { GT_FAULT = point .. "=kill" } })
      assert.equal(9, r.signal, r.stderr)
      assert.is_true(helpers.exists(fx.town .. "/web"))
      local code, out = helpers.gt({ "--town", fx.town, "doctor" })
      assert.equal(1, code)
      holds(out, "problem rig web: a rig add that did not finish left " .. fx.town ..
        "/web (gt doctor --fix rolls it back)\n")
      local err
      code, out, err = helpers.gt({ "--town", fx.town, "rig", "add", "web", o.origin })
      assert.equal(0, code, err)
      assert.equal("gt: rolled back an interrupted rig add of web\n", err)
      assert.matches("^added rig web at ", out)
      code, out = helpers.gt({ "--town", fx.town, "doctor" })
      assert.equal(0, code, out)
    end)
  end

  it("is rolled back by gt doctor --fix, unless its folder holds something gt did not make", function()
    local r = helpers.run({ gt.executable, "--town", fx.town, "rig", "add", "web", o.origin },
      { env = { GT_FAULT = "rig_add.clone=kill" } })
    assert.equal(9, r.signal, r.stderr)
    helpers.write(fx.town .. "/web/notes.txt", "mine\n")
    local code, out = helpers.gt({ "--town", fx.town, "doctor", "--fix" })
    assert.equal(1, code)
    holds(out, "problem rig web: a rig add that did not finish left " .. fx.town .. "/web: a rig add of " ..
      "web was interrupted, and " .. fx.town .. "/web/notes.txt is not gt's: gt will not delete it; move it away first")
    assert.equal("mine\n", helpers.read(fx.town .. "/web/notes.txt"))
    os.remove(fx.town .. "/web/notes.txt")
    code, out = helpers.gt({ "--town", fx.town, "doctor", "--fix" })
    assert.equal(0, code, out)
    assert.equal("fixed rig web: a rig add that did not finish left " .. fx.town .. "/web (rolled back)\n", out)
    assert.is_false(helpers.exists(fx.town .. "/web"))
  end)
end)

describe("a rig folder the ledger does not know, with no journal of a rig add", function()
  it("is reported by doctor, and --fix does not delete it (its repository may hold salvages)", function()
    local fx = helpers.fixture()
    local code, _, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(0, code, err)
    helpers.write(fx.rig .. "/polecats/a/demo/work.txt", "work\n")
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "remove", "--force", "a" })))
    -- The ledger forgets the rig (a backup from before it was added, restored).
    local db <close> = assert(require("gt.ledger").open(fx.town .. "/.gt/ledger.db"))
    assert(db:exec("DELETE FROM rigs"))
    local out
    code, out = helpers.gt({ "--town", fx.town, "doctor", "--fix" })
    assert.equal(1, code)
    holds(out, "problem rig demo: " .. fx.rig .. " holds a repository but is no rig of the ledger")
    assert.equal(1, #helpers.lines(git(fx.rig .. "/.repo.git", "for-each-ref", "refs/gt/salvage/")))
  end)
end)

describe("a ledger that is empty, missing or not a database", function()
  for _, case in ipairs({ "empty", "missing", "garbage" }) do
    it(("(%s) is an error, not a fresh start; doctor lists the rigs on disk"):format(case), function()
      local fx = helpers.fixture()
      assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
      local path = fx.town .. "/.gt/ledger.db"
      for _, p in ipairs({ path, path .. "-wal", path .. "-shm" }) do os.remove(p) end
      if case == "empty" then helpers.write(path, "") end
      if case == "garbage" then helpers.write(path, ("not sqlite\n"):rep(500)) end
      local before = witness.ls(fx.town .. "/.gt")
      local code, out, err = helpers.gt_rig(fx, { "polecat", "list" })
      assert.equal(1, code)
      assert.equal("", out)
      holds(err, "gt: polecat list: the town's ledger " .. path .. " is " ..
        (case == "garbage" and "not a database" or case))
      assert.same(before, witness.ls(fx.town .. "/.gt"))
      if case == "empty" then assert.equal("", helpers.read(path)) end
      code, out = helpers.gt({ "--town", fx.town, "doctor" })
      assert.equal(1, code)
      holds(out, "(rigs on disk: demo; their folders are untouched)\n")
      assert.is_true(helpers.exists(fx.rig .. "/polecats/a/demo/a.txt"))
    end)
  end
end)

describe("a broken user file", function()
  it("(a module override that returns nothing) is reported in one line; commands go on", function()
    local fx = helpers.fixture()
    helpers.write(fx.town .. "/.gt/lua/gt/commands/polecat.lua", "-- returns nothing\n")
    local code, out, err = helpers.gt_rig(fx, { "polecat", "list" })
    assert.equal(0, code, err)
    assert.equal("no polecats\n", out)
    assert.equal("gt: module override failed, going on without it: " .. fx.town ..
      "/.gt/lua/gt/commands/polecat.lua: module gt.commands.polecat returned nil, not a table\n", err)
  end)

  it("can be written against require('gt'), which is gt", function()
    local fx = helpers.fixture()
    helpers.write(fx.town .. "/.gt/init.lua", "local g = require('gt')\nprint(g == gt, type(g.hooks.on))\n")
    local code, out, err = helpers.gt_rig(fx, { "polecat", "list" })
    assert.equal(0, code, err)
    assert.equal("true\tfunction\nno polecats\n", out)
  end)
end)
