-- gt rig add and gt rig list, and how a command finds its rig: --rig, GT_RIG, or the rig
-- holding the current directory (also from deep inside a polecat's worktree).
local helpers = require("helpers")
local fs = require("gt.fs")
local json = require("gt.json")
local luafile = require("gt.luafile")
local proc = require("gt.proc")
local sys = require("gt.sys")
local _ -- discarded results (code, _, err = ...)

local git = helpers.git

local function sorted(list)
  table.sort(list)
  return list
end

-- An origin whose HEAD is `trunk`, with branches trunk, dev and feature/x (one commit ahead).
local function trunk_origin(dir)
  local work = dir .. "/work"
  git(dir, "init", "-q", "-b", "trunk", work)
  helpers.write(work .. "/README", "trunk\n")
  git(work, "add", "-A")
  git(work, "commit", "-q", "-m", "first")
  git(work, "branch", "dev")
  git(work, "checkout", "-q", "-b", "feature/x")
  helpers.write(work .. "/x", "x\n")
  git(work, "add", "-A")
  git(work, "commit", "-q", "-m", "x")
  git(work, "checkout", "-q", "trunk")
  git(dir, "clone", "-q", "--bare", work, dir .. "/origin.git")
  return dir .. "/origin.git"
end

local function new_town(dir)
  local town = dir .. "/town"
  local code, _, err = helpers.gt({ "init", town })
  assert(code == 0, err)
  return town
end

-- Runs `gt --town <town> rig add ...`; returns code, stdout, stderr.
local function rig_add(town, args, opts)
  local full = { "--town", town, "rig", "add" }
  for _, a in ipairs(args) do full[#full + 1] = a end
  return helpers.gt(full, opts)
end

local function rig_list_json(town)
  local code, out, err = helpers.gt({ "--town", town, "rig", "list", "--json" })
  assert(code == 0, err)
  return assert(json.decode(out)), out
end

describe("gt rig add", function()
  local dir, origin, town
  before_each(function()
    dir = helpers.tmpdir("rig")
    assert(fs.mkdir(dir .. "/o"))
    origin = trunk_origin(dir .. "/o")
    town = new_town(dir)
  end)

  it("makes a bare clone with origin's branches, and a config with origin's HEAD as default", function()
    local code, out, err = rig_add(town, { "demo", origin })
    assert.equal(0, code, err)
    assert.equal(("added rig demo at %s/demo (default branch trunk)\n"):format(town), out)
    assert.equal("", err) -- no progress bar: stderr is not a terminal
    local repo = town .. "/demo/.repo.git"
    assert.equal("true", git(repo, "rev-parse", "--is-bare-repository"))
    local theirs = git(origin, "for-each-ref", "--format=%(objectname) %(refname:lstrip=2)", "refs/heads")
    local ours = {}
    for _, l in ipairs(helpers.lines(git(repo, "for-each-ref", "--format=%(objectname) %(refname:lstrip=3)",
        "refs/remotes/origin"))) do
      if not l:match(" HEAD$") then ours[#ours + 1] = l end
    end
    assert.same(sorted(helpers.lines(theirs)), sorted(ours))
    assert.equal(3, #ours)
    assert.equal(origin, git(repo, "config", "remote.origin.url"))
    local config = assert(luafile.read(town .. "/demo/.gt/rig.lua"))
    assert.equal("demo", config.name)
    assert.equal(origin, config.url)
    assert.equal("trunk", config.default_branch)
    assert.equal("integer", math.type(config.created_at))
    assert.equal("directory", fs.stat(town .. "/demo/.gt/locks").type)
    assert.equal("directory", fs.stat(town .. "/demo/polecats").type)
  end)

  it("takes another existing branch with --branch", function()
    local code, out, err = rig_add(town, { "demo", origin, "--branch", "feature/x" })
    assert.equal(0, code, err)
    assert.equal(("added rig demo at %s/demo (default branch feature/x)\n"):format(town), out)
    assert.equal("feature/x", luafile.read(town .. "/demo/.gt/rig.lua").default_branch)
    code, _, err = rig_add(town, { "--branch", "dev", "demo2", origin })
    assert.equal(0, code, err)
    assert.equal("dev", luafile.read(town .. "/demo2/.gt/rig.lua").default_branch)
    assert.equal("dev", rig_list_json(town)[2].default_branch)
  end)

  it("refuses a missing --branch (exit 4), listing origin's branches, leaving nothing", function()
    local code, out, err = rig_add(town, { "demo", origin, "--branch", "main" })
    assert.equal(4, code)
    assert.equal("", out)
    assert.equal(("gt: rig add: branch main not found in %s (it has: dev, feature/x, trunk)\n"):format(origin), err)
    assert.is_nil(fs.lstat(town .. "/demo"))
    assert.same({}, rig_list_json(town))
  end)

  it("refuses bad rig names (exit 2) before touching anything", function()
    local before = sorted(fs.dir(town))
    local cases = {
      { "a b", "must contain only letters, digits, '.', '_' and '-' (found ' ')" },
      { "../x", "must start with a letter or a digit" },
      { "a/b", "must contain only letters, digits, '.', '_' and '-' (found '/')" },
      { ".gt", "must start with a letter or a digit" },
      { "x.lock", "must not end in '.lock'" },
      { "x..y", "must not contain '..'" },
      { "", "must not be empty" },
      { ("r"):rep(64), "is 64 characters long; the limit is 63" },
    }
    for _, c in ipairs(cases) do
      local code, out, err = rig_add(town, { c[1], origin })
      assert.equal(2, code, c[1])
      assert.equal("", out)
      assert.equal(("gt: rig add: invalid rig name %s: %s\n"):format(require("gt.errors").quote(c[1]), c[2]), err)
    end
    assert.same(before, sorted(fs.dir(town)))
    assert.is_nil(fs.lstat(dir .. "/x"))
  end)

  it("refuses an existing rig (exit 1)", function()
    assert.equal(0, (rig_add(town, { "demo", origin })))
    local code, out, err = rig_add(town, { "demo", origin, "--branch", "dev" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal("gt: rig add: rig demo already exists\n", err)
    assert.equal("trunk", luafile.read(town .. "/demo/.gt/rig.lua").default_branch)
  end)

  it("refuses an existing folder and leaves it alone", function()
    helpers.write(town .. "/taken/mine.txt", "mine")
    local code, out, err = rig_add(town, { "taken", origin })
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal(("gt: rig add: %s/taken already exists; choose another rig name\n"):format(town), err)
    assert.same({ "mine.txt" }, fs.dir(town .. "/taken"))
    assert.equal("mine", helpers.read(town .. "/taken/mine.txt"))
    assert.same({}, rig_list_json(town))
  end)

  it("refuses a missing path (exit 4)", function()
    local code, out, err = rig_add(town, { "demo", dir .. "/nope.git" })
    assert.equal(4, code)
    assert.equal("", out)
    assert.equal(("gt: rig add: no repository at %s/nope.git\n"):format(dir), err)
    assert.is_nil(fs.lstat(town .. "/demo"))
  end)

  it("refuses an empty repository (exit 1) and removes its folder", function()
    git(dir, "init", "-q", "--bare", dir .. "/empty.git")
    local code, out, err = rig_add(town, { "demo", dir .. "/empty.git" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal(("gt: rig add: repository %s/empty.git is empty (no commits): push at least one " ..
      "commit first\n"):format(dir), err)
    assert.is_nil(fs.lstat(town .. "/demo"))
    assert.same({}, rig_list_json(town))
  end)

  it("refuses a folder that is not a repository, also inside one, and says why", function()
    helpers.write(dir .. "/plain/file", "")
    local code, out, err = rig_add(town, { "demo", dir .. "/plain" })
    assert.equal(4, code)
    assert.equal("", out)
    assert.equal(("gt: rig add: %s/plain: could not find repository from '%s/plain'\n"):format(dir, dir), err)
    assert.is_nil(fs.lstat(town .. "/demo"))
    -- no search upward: a folder inside a work tree is not that repository
    code, _, err = rig_add(town, { "demo", dir .. "/o/work/.git/refs" })
    assert.equal(4, code)
    assert.matches("^gt: rig add: .*could not find repository", err)
    assert.is_nil(fs.lstat(town .. "/demo"))
    assert.same({}, rig_list_json(town))
  end)

  it("takes a relative path, recorded as an absolute one", function()
    local code, _, err = rig_add(town, { "demo", "o/origin.git" }, { cwd = dir })
    assert.equal(0, code, err)
    assert.equal(origin, luafile.read(town .. "/demo/.gt/rig.lua").url)
    code, _, err = rig_add(town, { "demo2", "../o/./origin.git/" }, { cwd = town })
    assert.equal(0, code, err)
    assert.equal(origin, luafile.read(town .. "/demo2/.gt/rig.lua").url)
    assert.equal(origin, git(town .. "/demo2/.repo.git", "config", "remote.origin.url"))
  end)

  it("takes a file:// URL, kept as given", function()
    local url = "file://" .. origin
    local code, out, err = rig_add(town, { "demo", url })
    assert.equal(0, code, err)
    assert.equal(("added rig demo at %s/demo (default branch trunk)\n"):format(town), out)
    assert.equal("", err)
    assert.equal(url, luafile.read(town .. "/demo/.gt/rig.lua").url)
    assert.equal(git(origin, "rev-parse", "trunk"), git(town .. "/demo/.repo.git", "rev-parse", "origin/trunk"))
  end)

  it("draws a progress bar only when stderr is a terminal", function()
    local has_script = assert(proc.run({ argv = { "sh", "-c", "command -v script" } })).ok
    if not has_script then
      pending("needs script(1) for a pseudo-terminal")
      return
    end
    local url = "file://" .. origin
    local cmd = ("%s --town %s rig add demo %s"):format(gt.executable, town, url)
    local r = helpers.run({ "script", "-qec", "stty cols 80 && " .. cmd, "/dev/null" })
    assert.equal(0, r.code, r.stderr)
    -- objects, bytes and rate, then cleared before the command's own line
    assert.matches("\rReceiving objects 100%% %(%d+/%d+%), %d[%d.]* [KMG]?i?B | %d[%d.]* [KMG]?i?B/s " ..
      "%[#+%]\27%[K", r.stdout)
    assert.matches("\27%[K\r\27%[Kadded rig demo at ", r.stdout)
    -- the same clone with stderr on a pipe: nothing on stderr
    local code, _, err = rig_add(town, { "demo2", url })
    assert.equal(0, code, err)
    assert.equal("", err)
  end)
end)

describe("gt rig list", function()
  local dir, town, origin
  before_each(function()
    dir = helpers.tmpdir("rigl")
    origin = helpers.origin(dir).origin
    town = new_town(dir)
  end)

  it("says there are none", function()
    local code, out, err = helpers.gt({ "--town", town, "rig", "list" })
    assert.equal(0, code, err)
    assert.equal("no rigs (add one with gt rig add NAME URL-OR-PATH)\n", out)
    local _, raw = rig_list_json(town)
    assert.equal("[]\n", raw)
  end)

  it("lists rigs as a table and as JSON", function()
    local t0 = sys.now_ms()
    assert.equal(0, (rig_add(town, { "beta", origin })))
    assert.equal(0, (rig_add(town, { "alpha", "file://" .. origin })))
    local code, _, err = helpers.gt({ "--town", town, "--rig", "beta", "polecat", "add", "p" })
    assert.equal(0, code, err)
    local list = rig_list_json(town)
    assert.equal(2, #list)
    for _, r in ipairs(list) do
      local keys = {}
      for k in pairs(r) do keys[#keys + 1] = k end
      assert.same({ "added_at", "default_branch", "elsewhere", "missing", "name", "path", "polecats", "url" },
        sorted(keys))
      assert.is_true(r.added_at >= t0 and r.added_at <= sys.now_ms())
    end
    assert.same({ name = "alpha", url = "file://" .. origin, default_branch = "main", path = town .. "/alpha",
      polecats = 0, missing = false, elsewhere = false, added_at = list[1].added_at }, list[1])
    assert.same({ name = "beta", url = origin, default_branch = "main", path = town .. "/beta",
      polecats = 1, missing = false, elsewhere = false, added_at = list[2].added_at }, list[2])
    local out
    code, out, err = helpers.gt({ "--town", town, "rig", "list" })
    assert.equal(0, code, err)
    local l = helpers.lines(out)
    assert.equal(3, #l)
    assert.equal("RIG    BRANCH  POLECATS  AGE  URL", l[1])
    assert.matches("^alpha  main    0         %d+s%s+file://", l[2])
    assert.equal("beta   main    1         ", l[3]:sub(1, 25))
    assert.equal(origin, l[3]:match("%S+$"))
  end)

  it("marks a rig whose folder is gone as missing", function()
    assert.equal(0, (rig_add(town, { "demo", origin })))
    assert.is_true(fs.remove_tree(town .. "/demo"))
    local list = rig_list_json(town)
    assert.is_true(list[1].missing)
    local code, out = helpers.gt({ "--town", town, "rig", "list" })
    assert.equal(0, code)
    assert.matches("  %(folder missing%)\n$", out)
  end)
end)

describe("the rig of a command", function()
  local dir, town
  setup(function()
    dir = helpers.tmpdir("rigr")
    local o = helpers.origin(dir)
    -- The managed project has files named like gt's, committed.
    helpers.write(o.work .. "/.gt/town.lua", "return { version = 1 }\n")
    helpers.write(o.work .. "/.gt/rig.lua", 'return { name = "evil", default_branch = "main" }\n')
    helpers.write(o.work .. "/src/deep/.gt/rig.lua", 'return { name = "evil", default_branch = "main" }\n')
    helpers.write(o.work .. "/src/deep/.gt/town.lua", "return { version = 1 }\n")
    helpers.write(o.work .. "/beta/.gt/rig.lua", 'return { name = "beta", default_branch = "main" }\n')
    helpers.git(o.work, "add", "-A")
    helpers.git(o.work, "commit", "-q", "-m", "gt-like files")
    helpers.git(o.work, "push", "-q", "origin", "main")
    town = new_town(dir)
    for _, r in ipairs({ "alpha", "beta" }) do
      local code, _, err = rig_add(town, { r, o.origin })
      assert(code == 0, err)
      code, _, err = helpers.gt({ "--town", town, "--rig", r, "polecat", "add", "p-" .. r })
      assert(code == 0, err)
    end
  end)

  -- The rig `gt polecat list` works on, told by the polecat it lists.
  local function rig_of(args, opts)
    local full = { "polecat", "list", "--json" }
    for i, a in ipairs(args) do table.insert(full, i, a) end
    opts = opts or {}
    opts.env = opts.env or {}
    if opts.env.GT_TOWN == nil then opts.env.GT_TOWN = town end
    local code, out, err = helpers.gt(full, opts)
    assert(code == 0, err)
    local list = assert(json.decode(out))
    assert(#list == 1, out)
    return list[1].rig
  end

  it("is --rig, else $GT_RIG", function()
    assert.equal("alpha", rig_of({ "--rig", "alpha" }))
    assert.equal("beta", rig_of({}, { env = { GT_RIG = "beta" } }))
    assert.equal("alpha", rig_of({ "--rig", "alpha" }, { env = { GT_RIG = "beta" } }))
    assert.equal("alpha", rig_of({ "--rig", "alpha" }, { cwd = town .. "/beta" }))
    assert.equal("beta", rig_of({}, { env = { GT_RIG = "beta" }, cwd = town .. "/alpha" }))
  end)

  it("is else the rig holding the current directory", function()
    assert.equal("alpha", rig_of({}, { cwd = town .. "/alpha" }))
    assert.equal("beta", rig_of({}, { cwd = town .. "/beta/polecats" }))
    assert.equal("beta", rig_of({}, { cwd = town .. "/beta/.repo.git/refs" }))
    assert.equal("alpha", rig_of({}, { cwd = town .. "/alpha", env = { GT_TOWN = false } }))
  end)

  it("is found from deep inside a polecat's worktree holding gt-like files", function()
    for _, r in ipairs({ "alpha", "beta" }) do
      local wt = ("%s/%s/polecats/p-%s/%s"):format(town, r, r, r)
      assert.equal("file", fs.stat(wt .. "/.gt/rig.lua").type) -- checked out from the project
      assert.equal("file", fs.stat(wt .. "/src/deep/.gt/town.lua").type)
      assert.equal(r, rig_of({}, { cwd = wt .. "/src/deep" }))
      assert.equal(r, rig_of({}, { cwd = wt .. "/src/deep", env = { GT_TOWN = false } }))
      assert.equal(r, rig_of({}, { cwd = wt .. "/beta" }))
      assert.equal(r, rig_of({}, { cwd = wt }))
    end
  end)

  it("is required: without one, exit 2 naming --rig and GT_RIG", function()
    local code, out, err = helpers.gt({ "polecat", "list" }, { env = { GT_TOWN = town }, cwd = dir })
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal("gt: polecat list: no rig given (use --rig NAME or GT_RIG, or run gt inside a rig)\n", err)
    code, _, err = helpers.gt({ "polecat", "list" }, { cwd = town })
    assert.equal(2, code)
    assert.equal("gt: polecat list: no rig given (use --rig NAME or GT_RIG, or run gt inside a rig)\n", err)
    code, _, err = helpers.gt({ "polecat", "list" }, { cwd = town .. "/.gt" })
    assert.equal(2, code)
  end)

  it("must exist: an unknown rig is exit 4", function()
    local msg = ("gt: polecat list: no rig 'nope' in town %s\n"):format(town)
    local code, out, err = helpers.gt({ "--town", town, "--rig", "nope", "polecat", "list" })
    assert.equal(4, code)
    assert.equal("", out)
    assert.equal(msg, err)
    code, _, err = helpers.gt({ "polecat", "list" }, { env = { GT_TOWN = town, GT_RIG = "nope" } })
    assert.equal(4, code)
    assert.equal(msg, err)
    -- a folder of the town that is not a registered rig
    helpers.write(town .. "/fake/.gt/rig.lua", 'return { name = "fake", default_branch = "main" }\n')
    code, _, err = helpers.gt({ "polecat", "list" }, { cwd = town .. "/fake" })
    assert.equal(4, code)
    assert.equal(("gt: polecat list: no rig 'fake' in town %s\n"):format(town), err)
  end)
end)
