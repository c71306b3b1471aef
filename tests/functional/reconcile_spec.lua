-- gt doctor reconciles the ledger, the folders, git's records and branches, and git's lock
-- files: each mismatch made by hand is reported, and --fix mends it without losing a commit.
local helpers = require("helpers")
local json = require("gt.json")

local gt_rig = helpers.gt_rig

--- The problems gt doctor --json reports (with `args` after it).
local function problems(fx, ...)
  local code, out, err = gt_rig(fx, { "doctor", "--json", ... })
  local report = json.decode(out)
  assert(report, "doctor --json printed no JSON: " .. out .. err)
  return report.problems, code
end

local function kinds(list)
  local out = {}
  for _, p in ipairs(list) do out[#out + 1] = p.kind .. (p.fixed and " (fixed)" or "") end
  table.sort(out)
  return out
end

--- Adds polecat `name` with one commit of its own (not on origin); returns its branch.
local function add_with_commit(fx, name)
  local code, out, err = gt_rig(fx, { "polecat", "add", name, "--no-fetch", "--json" })
  assert.equal(0, code, err)
  local p = json.decode(out)
  helpers.write(p.path .. "/work.txt", "mine\n")
  helpers.git(p.path, "add", "work.txt")
  helpers.git(p.path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "work")
  return p.branch, p.path, helpers.git(p.path, "rev-parse", "HEAD")
end

describe("gt doctor reconciles", function()
  local fx
  before_each(function()
    fx = helpers.fixture()
  end)

  it("a broken .gt/town.lua: a problem, not 'not inside a town'", function()
    helpers.write(fx.town .. "/.gt/town.lua", "return {\n")
    local code, out, err = gt_rig(fx, { "doctor" })
    assert.equal(1, code, err)
    assert.matches("^problem town%-config: reading town config: " .. fx.town:gsub("%p", "%%%0") ..
      "/%.gt/town%.lua:2: ", out)
    assert.not_matches("not inside a town", out)
  end)

  it("a polecat whose folder was deleted by hand: --fix saves its commits, then ends it", function()
    local branch, _, commit = add_with_commit(fx, "a")
    assert(require("gt.fs").remove_tree(fx.rig .. "/polecats/a"))
    assert.same({ "missing" }, kinds((problems(fx))))
    local list, code = problems(fx, "--fix")
    assert.equal(0, code)
    assert.same({ "missing (fixed)" }, kinds(list))
    assert.matches("its commits saved to refs/gt/salvage/demo/a/", list[1].message)
    -- The commit is kept by the salvage; the branch and the polecat are gone.
    local ref = helpers.git(fx.rig .. "/.repo.git", "for-each-ref", "--format=%(refname)", "refs/gt/salvage/")
    assert.is_true(helpers.run({ "git", "-C", fx.rig .. "/.repo.git", "merge-base", "--is-ancestor",
      commit, ref }).code == 0)
    assert.equal("", helpers.git(fx.rig .. "/.repo.git", "branch", "--list", branch))
    assert.same({}, (problems(fx)))
  end)

  it("a branch deleted by hand: --fix makes it again where the worktree last was", function()
    local branch, path, commit = add_with_commit(fx, "a")
    helpers.git(fx.rig .. "/.repo.git", "update-ref", "-d", "refs/heads/" .. branch)
    local list, code = problems(fx)
    assert.equal(1, code)
    assert.same({ "branch-gone" }, kinds(list))
    assert.equal("a", list[1].name)
    list, code = problems(fx, "--fix")
    assert.equal(0, code)
    assert.same({ "branch-gone (fixed)" }, kinds(list))
    assert.equal(commit, helpers.git(fx.rig .. "/.repo.git", "rev-parse", "refs/heads/" .. branch))
    assert.equal(commit, helpers.git(path, "rev-parse", "HEAD"))
    assert.same({}, (problems(fx)))
  end)

  it("a git lock file left by a process that died: --fix removes it; a fresh one is left", function()
    local stale = fx.rig .. "/.repo.git/packed-refs.lock"
    helpers.write(stale, "")
    helpers.run({ "touch", "-d", "1 hour ago", stale })
    local fresh = fx.rig .. "/.repo.git/config.lock"
    helpers.write(fresh, "")
    local list = problems(fx)
    assert.same({ "stale-lock" }, kinds(list))
    assert.equal(stale, list[1].path)
    list = problems(fx, "--fix")
    assert.same({ "stale-lock (fixed)" }, kinds(list))
    assert.is_false(helpers.exists(stale))
    assert.is_true(helpers.exists(fresh))
  end)

  it("a session killed from outside: --fix records its end; the polecat is reported stalled", function()
    local sys = require("gt.sys")
    local code, _, err = gt_rig(fx, { "polecat", "add", "a", "--no-fetch" })
    assert.equal(0, code, err)
    local out
    code, out, err = gt_rig(fx, { "polecat", "run", "a", "--detach", "--", "sh", "-c", "while :; do sleep 0.05; done" })
    assert.equal(0, code, err)
    local pid = assert(math.tointeger(tonumber(out:match("^(%d+)\n$"))), out)
    assert(sys.kill(-pid, 9))
    local deadline = sys.now_ms() + 10000
    while sys.proc_start(pid) and sys.now_ms() < deadline do sys.sleep_ms(20) end
    assert.same({ "dead-session", "stalled" }, kinds((problems(fx))))
    -- Without --fix nothing was recorded: it is still reported.
    assert.same({ "dead-session", "stalled" }, kinds((problems(fx))))
    local list = problems(fx, "--fix")
    assert.same({ "dead-session (fixed)", "stalled" }, kinds(list))
    assert.same({ "stalled" }, kinds((problems(fx))))
  end)
end)
