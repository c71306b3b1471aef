-- gt polecat add, run as a user runs it: the branch and its stamp, the worktree and git's record
-- of it, the ledger, the start point, and names refused with nothing created.
local helpers = require("helpers")
local witness = require("witness")
local sys = require("gt.sys")
local git = helpers.git

describe("gt polecat add", function()
  describe("a polecat named a", function()
    local fx, before, after, code, out, err, branch, path
    lazy_setup(function()
      fx = helpers.fixture()
      before = sys.now_ms()
      code, out, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
      after = sys.now_ms()
      branch = out:match("branch  (%S+)")
      path = fx.rig .. "/polecats/a/demo"
    end)

    it("succeeds and says where it is", function()
      assert.equal(0, code, err)
      assert.equal("", err)
      assert.equal(("polecat a spawned in rig demo\n  branch  %s\n  path    %s\n"):format(branch, path), out)
    end)

    it("gets a branch polecat/a-<base36 ms> stamped during the command", function()
      local parsed = witness.parse_branch(branch, "a")
      assert.is_table(parsed, branch)
      assert.is_nil(parsed.issue)
      assert.is_true(parsed.ms >= before and parsed.ms <= after,
        ("stamp %d outside [%d, %d]"):format(parsed.ms, before, after))
      assert.same({ branch }, witness.branches(fx, "polecat/"))
    end)

    it("gets a clean worktree at <rig>/polecats/a/demo on its branch, at origin's main", function()
      assert.equal("refs/heads/" .. branch, git(path, "symbolic-ref", "HEAD"))
      assert.equal("", git(path, "status", "--porcelain", "--untracked-files=all"))
      assert.equal(git(fx.origin, "rev-parse", "main"), git(path, "rev-parse", "HEAD"))
      assert.same({ "a" }, witness.ls(fx.rig .. "/polecats"))
      assert.same({ "demo" }, witness.ls(fx.rig .. "/polecats/a"))
    end)

    it("has exactly origin's files, byte for byte", function()
      local files = witness.files(path)
      assert.same(witness.commit_files(fx.origin, "main"), files)
      assert.same({ ["a.txt"] = "hello\nworld\n", ["src/b.txt"] = "bee\n" }, files)
    end)

    it("has git's worktree record named a, locked with reason 'gt: demo/a'", function()
      assert.same({ "a" }, witness.records(fx))
      assert.equal("gt: demo/a", helpers.read(fx.rig .. "/.repo.git/worktrees/a/locked"))
      assert.same({ { path = path, head = git(fx.origin, "rev-parse", "main"),
        branch = "refs/heads/" .. branch, locked = "gt: demo/a" } }, witness.worktrees(fx))
    end)

    it("is working in the ledger, after the events spawning and spawned", function()
      local a = witness.agent(fx, "a")
      assert.equal("working", a.state)
      assert.equal("polecat", a.role)
      assert.equal(branch, a.branch)
      assert.equal(path, a.worktree)
      assert.is_nil(a.issue)
      assert.is_nil(a.removed_at)
      assert.is_true(a.created_at >= before and a.created_at <= after)
      assert.same({ "spawning", "spawned" }, witness.event_kinds(fx, "a"))
      assert.equal(git(fx.origin, "rev-parse", "main"), witness.events(fx, "a")[2].data.start)
      local ops = witness.operations(fx, "a")
      assert.equal(1, #ops)
      assert.equal("add", ops[1].kind)
      assert.equal("done", ops[1].status)
      assert.equal(ops[1].steps_planned, ops[1].steps_done)
    end)
  end)

  it("with --issue gets a branch polecat/<name>/<ID>@<base36 ms>", function()
    local fx = helpers.fixture()
    local before = sys.now_ms()
    local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "b", "--issue", "GT-12" })
    local after = sys.now_ms()
    assert.equal(0, code, err)
    local branch = out:match("branch  (%S+)")
    local parsed = witness.parse_branch(branch, "b")
    assert.equal("GT-12", parsed.issue)
    assert.is_true(parsed.ms >= before and parsed.ms <= after)
    assert.same({ branch }, witness.branches(fx, "polecat/"))
    assert.equal("refs/heads/" .. branch, git(fx.rig .. "/polecats/b/demo", "symbolic-ref", "HEAD"))
    assert.equal("GT-12", witness.agent(fx, "b").issue)
  end)

  it("with --json prints the polecat as one JSON object", function()
    local fx = helpers.fixture()
    local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "a", "--json" })
    assert.equal(0, code, err)
    assert.equal("", err)
    local dkjson = require("dkjson") -- decodes null as dkjson.null, not as a missing key
    local p = dkjson.decode(out, 1, dkjson.null)
    local keys = {}
    for k in pairs(p) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.same({ "branch", "issue", "name", "path", "reused", "rig", "start" }, keys)
    assert.equal(dkjson.null, p.issue)
    assert.equal(dkjson.null, p.reused) -- no idle polecat's worktree was taken
    assert.equal("a", p.name)
    assert.equal("demo", p.rig)
    assert.equal(fx.rig .. "/polecats/a/demo", p.path)
    assert.equal(witness.branches(fx, "polecat/")[1], p.branch)
    assert.equal(git(fx.origin, "rev-parse", "main"), p.start)
    assert.equal("\n", out:sub(-1))
  end)

  describe("starts from origin's default branch", function()
    it("even when the rig repository's own main has moved", function()
      local fx = helpers.fixture()
      local bare = fx.rig .. "/.repo.git"
      local tree = git(bare, "rev-parse", "main^{tree}")
      local moved = git(bare, "commit-tree", "-p", "main", "-m", "local only", tree)
      git(bare, "update-ref", "refs/heads/main", moved)
      local code, _, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
      assert.equal(0, code, err)
      local head = git(fx.rig .. "/polecats/a/demo", "rev-parse", "HEAD")
      assert.equal(git(fx.origin, "rev-parse", "main"), head)
      assert.are_not.equal(moved, head)
    end)

    it("fetched first by default; --no-fetch keeps the last fetched state", function()
      local fx = helpers.fixture()
      local old = git(fx.origin, "rev-parse", "main")
      local new = helpers.push_commit({ origin = fx.origin, work = fx.work }, "c.txt", "sea\n")
      local code, _, err = helpers.gt_rig(fx, { "polecat", "add", "stale", "--no-fetch" })
      assert.equal(0, code, err)
      assert.equal(old, git(fx.rig .. "/polecats/stale/demo", "rev-parse", "HEAD"))
      assert.equal(old, git(fx.rig .. "/.repo.git", "rev-parse", "refs/remotes/origin/main"))

      code, _, err = helpers.gt_rig(fx, { "polecat", "add", "fresh" })
      assert.equal(0, code, err)
      assert.equal(new, git(fx.rig .. "/polecats/fresh/demo", "rev-parse", "HEAD"))
      assert.equal(new, git(fx.rig .. "/.repo.git", "rev-parse", "refs/remotes/origin/main"))
      assert.equal("sea\n", helpers.read(fx.rig .. "/polecats/fresh/demo/c.txt"))
    end)
  end)

  it("still spawns from the last fetched state when origin cannot be reached, with a warning", function()
    local fx = helpers.fixture()
    local old = git(fx.origin, "rev-parse", "main")
    assert(os.rename(fx.origin, fx.origin .. ".moved"))
    local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(0, code, err)
    assert.matches("^gt: warning: could not fetch origin %(.+%); using origin/main as last fetched\n$", err)
    assert.matches("^polecat a spawned in rig demo\n", out)
    assert.equal(old, git(fx.rig .. "/polecats/a/demo", "rev-parse", "HEAD"))
  end)

  it("checks files out with the line endings origin's .gitattributes asks for", function()
    local fx = helpers.fixture()
    helpers.write(fx.work .. "/.gitattributes", "*.txt text eol=crlf\n")
    helpers.push_commit({ origin = fx.origin, work = fx.work }, "c.txt", "one\ntwo\n")
    for _, name in ipairs({ "a", "b" }) do -- the second one reads the answer cached in the ledger
      local code, _, err = helpers.gt_rig(fx, { "polecat", "add", name })
      assert.equal(0, code, err)
      local wt = fx.rig .. "/polecats/" .. name .. "/demo"
      assert.equal("one\r\ntwo\r\n", helpers.read(wt .. "/c.txt"))
      assert.equal("hello\r\nworld\r\n", helpers.read(wt .. "/a.txt"))
      assert.equal("", git(wt, "status", "--porcelain"))
    end
    local tree = git(fx.origin, "rev-parse", "main^{tree}")
    assert.same({ { tree = tree, needs_filters = 1 } }, witness.query(fx, "SELECT * FROM tree_facts"))
  end)

  it("refuses a name a live polecat has (exit 1), changing nothing", function()
    local fx = helpers.fixture()
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
    local branch = witness.agent(fx, "a").branch
    local before = witness.snapshot(fx)
    local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal(("gt: polecat add: polecat a already exists in rig demo (working on %s)\n"):format(branch), err)
    assert.same(before, witness.snapshot(fx))
  end)

  it("refuses when a folder of that name is in the way, changing nothing", function()
    local fx = helpers.fixture()
    helpers.write(fx.rig .. "/polecats/a/keep.txt", "not gt's\n")
    local before = witness.snapshot(fx)
    local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal(("gt: polecat add: %s/polecats/a exists but no live polecat a does; move it away first\n"):format(
      fx.rig), err)
    assert.same(before, witness.snapshot(fx, { "/.gt/locks/polecat-a.lock" }))
    assert.equal("not gt's\n", helpers.read(fx.rig .. "/polecats/a/keep.txt"))
  end)

  it("refuses when git already has a worktree of that name, changing nothing", function()
    local fx = helpers.fixture()
    local elsewhere = helpers.tmpdir("elsewhere") .. "/a"
    git(fx.rig .. "/.repo.git", "worktree", "add", "-q", "--detach", elsewhere, "main")
    local before = witness.snapshot(fx)
    local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal(("gt: polecat add: git already has a worktree named a (at %s); remove it first\n"):format(
      elsewhere), err)
    assert.same(before, witness.snapshot(fx, { "/.gt/locks/polecat-a.lock" }))
  end)

  it("adds a removed name again, on a new branch, keeping its history", function()
    local fx = helpers.fixture()
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
    local first = witness.agent(fx, "a").branch
    assert.equal(0, (helpers.gt_rig(fx, { "polecat", "remove", "a" })))
    sys.sleep_ms(2) -- a new stamp
    local code, _, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(0, code, err)
    local a = witness.agent(fx, "a")
    assert.equal("working", a.state)
    assert.are_not.equal(first, a.branch)
    assert.same({ a.branch }, witness.branches(fx, "polecat/"))
    assert.same({ "a" }, witness.records(fx))
    local kinds = { "spawning", "spawned", "removing", "removed", "spawning", "spawned" }
    -- (The events' data in the message: a trash_failed among them says why.)
    assert.same(kinds, witness.event_kinds(fx, "a"), require("gt.json").encode(witness.events(fx, "a")))
    local out
    code, out = helpers.gt_rig(fx, { "polecat", "history", "a", "--json" })
    assert.equal(0, code)
    local shown = {}
    for i, e in ipairs(require("gt.json").decode(out)) do shown[i] = e.kind end
    assert.same(kinds, shown)
  end)

  describe("refuses hostile names with nothing created", function()
    local fx, existing
    lazy_setup(function()
      fx = helpers.fixture()
      assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "a" })))
      existing = witness.agent(fx, "a").branch
    end)

    local only = "must contain only letters, digits, '.', '_' and '-'"
    local cases = {
      { "../x", "'../x': must start with a letter or a digit" },
      { "a b", "'a b': " .. only .. " (found ' ')" },
      { "x.lock", "'x.lock': must not end in '.lock'" },
      { "-rf", "'-rf': must start with a letter or a digit" },
      { "", "'': must not be empty" },
      { ("x"):rep(200), "'" .. ("x"):rep(200) .. "': is 200 characters long; the limit is 63" },
      { ("x"):rep(64), "'" .. ("x"):rep(64) .. "': is 64 characters long; the limit is 63" },
      { "a/b", "'a/b': " .. only .. " (found '/')" },
      { "café", "'caf\\xc3\\xa9': " .. only .. " (found '\\xc3')" },
      { ".hidden", "'.hidden': must start with a letter or a digit" },
      { "a\tb", "'a\\tb': " .. only .. " (found '\\t')" },
      { "a\nb", "'a\\nb': " .. only .. " (found '\\n')" },
      { "x..y", "'x..y': must not contain '..'" },
      { "x.", "'x.': must not end in '.'" },
      { "@{u}", "'@{u}': must start with a letter or a digit" },
      { "a@{u}", "'a@{u}': " .. only .. " (found '@')" },
      { "a~1", "'a~1': " .. only .. " (found '~')" },
    }
    for _, case in ipairs(cases) do
      local name, why = case[1], case[2]
      it(("%q (exit 2)"):format(name), function()
        local before = witness.snapshot(fx)
        local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "--", name })
        assert.equal(2, code)
        assert.equal("", out)
        assert.equal("gt: polecat add: invalid polecat name " .. why .. "\n", err)
        assert.same(before, witness.snapshot(fx))
      end)
    end

    it("-rf as an option (argparse refuses it, exit 2)", function()
      local before = witness.snapshot(fx)
      local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "-rf" })
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("^gt: unknown option '%-r'", err)
      assert.same(before, witness.snapshot(fx))
    end)

    it("an existing name (exit 1)", function()
      local before = witness.snapshot(fx)
      local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "a" })
      assert.equal(1, code)
      assert.equal("", out)
      assert.equal(("gt: polecat add: polecat a already exists in rig demo (working on %s)\n"):format(existing), err)
      assert.same(before, witness.snapshot(fx))
    end)

    local issues = {
      { "../x", "'../x': must start with a letter or a digit" },
      { "a b", "'a b': " .. only .. " (found ' ')" },
      { "@{u}", "'@{u}': must start with a letter or a digit" },
      { "x.lock", "'x.lock': must not end in '.lock'" },
      { "", "'': must not be empty" },
      { "1/../../x", "'1/../../x': " .. only .. " (found '/')" },
    }
    for _, case in ipairs(issues) do
      local issue, why = case[1], case[2]
      it(("--issue %q (exit 2)"):format(issue), function()
        local before = witness.snapshot(fx)
        local code, out, err = helpers.gt_rig(fx, { "polecat", "add", "b", "--issue", issue })
        assert.equal(2, code)
        assert.equal("", out)
        assert.equal("gt: polecat add: invalid issue id " .. why .. "\n", err)
        assert.same(before, witness.snapshot(fx))
        assert.is_nil(witness.agent(fx, "b"))
      end)
    end
  end)
end)
