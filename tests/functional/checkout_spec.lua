-- The parallel checkout of a new polecat (Repo:write_tree_into, used when no filter applies):
-- the worktree must be what `git worktree add` makes of the same commit, byte for byte, with
-- an index whose stat data is right, whatever the number of threads (GT_JOBS).
local helpers = require("helpers")
local witness = require("witness")
local git = helpers.git

-- Every path below `dir` (but .git) with its type, permissions and link target, sorted.
local function listing(dir)
  local r = helpers.run({ "find", ".", "-path", "./.git", "-prune", "-o", "-printf", "%y %m %p %l\n" },
    { cwd = dir })
  assert.equal(0, r.code, r.stderr)
  local lines = helpers.lines(r.stdout)
  table.sort(lines)
  return lines
end

-- The stat data git's index holds for each path of `dir` (git ls-files --debug), and what
-- lstat says of the path now: {path = "size mtime ino"}.
local function stat_data(dir)
  local index, disk = {}, {}
  local path
  for _, line in ipairs(helpers.lines(git(dir, "ls-files", "--debug"))) do
    if not line:match("^%s") then
      path = line
      index[path] = {}
    elseif line:match("^%s+mtime:") then
      index[path].mtime = line:match("mtime: (%d+)")
    elseif line:match("^%s+dev:") then
      index[path].ino = line:match("ino: (%d+)")
    elseif line:match("^%s+size:") then
      index[path].size = line:match("size: (%d+)")
    end
  end
  for p, v in pairs(index) do
    index[p] = ("%s %s %s"):format(v.size, v.mtime, v.ino)
    local r = helpers.run({ "stat", "-c", "%s %Y %i", p }, { cwd = dir })
    assert.equal(0, r.code, r.stderr)
    disk[p] = r.stdout:gsub("\n$", "")
    -- git keeps no size for a gitlink
    if p == "sub" then disk[p] = "0 " .. disk[p]:match("^%S+ (.*)$") end
  end
  return index, disk
end

describe("a new polecat's checkout", function()
  local fx, commit
  lazy_setup(function()
    fx = helpers.fixture()
    local w = fx.work
    helpers.write(w .. "/run.sh", "#!/bin/sh\necho hi\n")
    helpers.run({ "chmod", "+x", w .. "/run.sh" })
    helpers.write(w .. "/deep/er/and/deeper/leaf.txt", "leaf\n")
    helpers.write(w .. "/empty", "")
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    helpers.write(w .. "/blob.bin", table.concat(bytes):rep(40))
    helpers.run({ "ln", "-s", "a.txt", w .. "/link" })
    helpers.run({ "ln", "-s", "../../a.txt", w .. "/deep/er/up" })
    helpers.run({ "ln", "-s", "nowhere/at/all", w .. "/dangling" })
    git(w, "add", "-A")
    -- A submodule's gitlink (no .gitmodules: git leaves an empty folder).
    git(w, "update-index", "--add", "--cacheinfo", "160000," .. git(w, "rev-parse", "HEAD") .. ",sub")
    git(w, "commit", "-q", "-m", "all kinds of entries")
    git(w, "push", "-q", "origin", "main")
    commit = git(w, "rev-parse", "HEAD")
  end)

  for _, jobs in ipairs({ "1", "4" }) do
    describe("with GT_JOBS=" .. jobs, function()
      local name, path, ref
      lazy_setup(function()
        name = "j" .. jobs
        local code, _, err = helpers.gt_rig(fx, { "polecat", "add", name }, { env = { GT_JOBS = jobs } })
        assert.equal(0, code, err)
        path = fx.rig .. "/polecats/" .. name .. "/demo"
        ref = fx.dir .. "/ref-" .. jobs
        git(fx.work, "worktree", "add", "-q", "--detach", ref, commit)
      end)

      it("writes no file git would see as changed (index stat data right)", function()
        assert.equal("", git(path, "diff-files"))
        local index, disk = stat_data(path)
        assert.same(disk, index)
        assert.equal("", git(path, "status", "--porcelain", "--untracked-files=all", "--ignored"))
        assert.equal("", git(path, "diff-files"))
      end)

      it("has git's index entries, modes and object ids", function()
        assert.equal(commit, git(path, "rev-parse", "HEAD"))
        assert.equal(git(ref, "ls-files", "-s"), git(path, "ls-files", "-s"))
        assert.matches("160000 %x+ 0\tsub", git(path, "ls-files", "-s"))
      end)

      it("has the same paths, types, permissions and link targets as git worktree add", function()
        local got = listing(path)
        assert.same(listing(ref), got)
        assert.is_truthy(helpers.exists(path .. "/sub"))
        assert.same({}, witness.ls(path .. "/sub"))
        local all = "\n" .. table.concat(got, "\n") .. "\n"
        for _, line in ipairs({ "\nf [75]%d%d %./run%.sh \n", "\nl %d+ %./link a%.txt\n",
          "\nl %d+ %./deep/er/up %.%./%.%./a%.txt\n", "\nd %d+ %./sub \n", "\nf [64]%d%d %./empty \n",
          "\nl %d+ %./dangling nowhere/at/all\n" }) do
          assert.matches(line, all)
        end
      end)

      it("has the same bytes in every file", function()
        assert.same(witness.files(ref), witness.files(path))
        assert.equal(256 * 40, #helpers.read(path .. "/blob.bin"))
      end)

      it("never overwrites anything: writing a tree again fails, naming what is there", function()
        helpers.write(path .. "/leaf.txt", "mine\n")
        local code, out, err = witness.script([[
          local w = assert(require("gt.git").open(arg[1]))
          print(w:write_tree_into("HEAD", { jobs = tonumber(arg[2]) }))
          -- a tree without folders: only the threads write, and one finds leaf.txt there
          print(w:write_tree_into("HEAD:deep/er/and/deeper", { jobs = tonumber(arg[2]) }))
        ]], { path, jobs })
        assert.equal(0, code, err)
        local p = path:gsub("%p", "%%%0")
        assert.matches("^nil\t" .. p .. "/deep: [^\t\n]*\tEEXISTS\nnil\t" .. p ..
          "/leaf.txt: [^\t\n]*\tEEXISTS\n$", out)
        assert.equal("mine\n", helpers.read(path .. "/leaf.txt"))
        assert.equal("", git(path, "diff-files"))
        os.remove(path .. "/leaf.txt")
      end)
    end)
  end

  it("refuses a tree with a path git does not check out, and rolls back", function()
    local fx2 = helpers.fixture()
    local w = fx2.work
    local blob = helpers.run({ "git", "-C", w, "hash-object", "-w", "--stdin" },
      { stdin = "x\n" }).stdout:gsub("\n$", "")
    local tree = helpers.run({ "git", "-C", w, "mktree" },
      { stdin = ("100644 blob %s\t.GIT\n100644 blob %s\tok\n"):format(blob, blob) }).stdout:gsub("\n$", "")
    local bad = git(w, "commit-tree", "-m", "bad", "-p", "HEAD", tree)
    git(w, "push", "-q", "origin", bad .. ":refs/heads/main")
    local code, out, err = helpers.gt_rig(fx2, { "polecat", "add", "a" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.matches("%.GIT: a path git does not check out", err)
    assert.same({}, witness.ls(fx2.rig .. "/polecats"))
    assert.same({}, witness.branches(fx2, "polecat/"))
    assert.same({}, witness.records(fx2))
    assert.equal("failed", witness.agent(fx2, "a").state)
  end)

  it("reports its progress from the calling thread, and stops when the progress function raises", function()
    local code, out, err = witness.script([[
      local git = require("gt.git")
      local repo = assert(git.open(arg[1] .. "/.repo.git", { bare = true }))
      local function fresh(name)
        assert(repo:branch_create(name, "refs/remotes/origin/main"))
        assert(repo:worktree_add(name, arg[2] .. "/" .. name, name, { checkout = false }))
        return assert(git.open(arg[2] .. "/" .. name))
      end
      local calls = {}
      local n = fresh("p1"):write_tree_into("HEAD", { jobs = 2, progress = function(done, total)
        calls[#calls + 1] = { done, total }
      end })
      local last = 0
      for _, c in ipairs(calls) do
        assert(c[2] == n and c[1] >= last and c[1] <= n, c[1] .. "/" .. c[2])
        last = c[1]
      end
      print(n, #calls >= 2, calls[1][1], calls[#calls][1])
      local w2 = fresh("p2")
      print(pcall(w2.write_tree_into, w2, "HEAD", { progress = function() error("enough") end }))
      print(pcall(w2.write_tree_into, w2, "HEAD", { progress = 42 }))
    ]], { fx.rig, fx.dir })
    assert.equal(0, code, err)
    local lines = helpers.lines(out)
    local n = lines[1]:match("^(%d+)\ttrue\t0\t(%d+)$")
    assert.truthy(n, lines[1])
    assert.equal(n .. "\ttrue\t0\t" .. n, lines[1])
    assert.matches("^false\t.*enough$", lines[2])
    assert.matches("^false\t.*progress must be a function", lines[3])
  end)
end)

-- Attributes and settings that convert content: the new polecat's files must still be, byte for
-- byte, what `git worktree add` writes from the same repository (its config included), with
-- the same index, whether a path takes git's conversion steps or is written as it is.
describe("a new polecat's checkout where attributes convert content", function()
  -- `git worktree add` of `commit` from the rig's own repository (same config as gt's).
  local function reference(fx, name, commit)
    local ref = fx.dir .. "/ref-" .. name
    local r = helpers.run({ "git", "--git-dir=" .. fx.rig .. "/.repo.git", "worktree", "add", "-q",
      "--detach", ref, commit })
    return ref, r
  end

  -- The polecat's worktree is the reference's: paths, modes, link targets, bytes, index entries,
  -- and what git status and diff-files say of both.
  -- git status of `wt`, less the `dirty` paths: those whose checked-out content does not convert
  -- back to the blob, which git reports as modified once their time stamps are racy.
  local function status(wt, dirty)
    local kept = {}
    for _, line in ipairs(helpers.lines(git(wt, "status", "--porcelain", "--untracked-files=all"))) do
      if not (dirty or {})[line:sub(4)] then kept[#kept + 1] = line end
    end
    return kept
  end

  local function same_as_git(path, ref, dirty)
    assert.same(listing(ref), listing(path))
    assert.same(witness.files(ref), witness.files(path))
    assert.equal(git(ref, "ls-files", "-s"), git(path, "ls-files", "-s"))
    local index, disk = stat_data(path) -- before git status, which may write the index
    assert.same(disk, index)
    assert.same({}, status(ref, dirty))
    assert.same({}, status(path, dirty))
  end

  local function add(fx, name, env)
    local code, _, err = helpers.gt_rig(fx, { "polecat", "add", name }, { env = env })
    assert.equal(0, code, err)
    return fx.rig .. "/polecats/" .. name .. "/demo", err
  end

  local function commit_all(fx)
    git(fx.work, "add", "-A")
    git(fx.work, "commit", "-q", "-m", "files")
    git(fx.work, "push", "-q", "origin", "main")
    return git(fx.work, "rev-parse", "HEAD")
  end

  local LINES = "one\ntwo\nthree\n"

  describe("eol, text, binary, ident, encodings, filters and macros", function()
    local fx, commit
    lazy_setup(function()
      fx = helpers.fixture()
      local w = fx.work
      helpers.write(w .. "/.gitattributes", table.concat({
        "* text=auto",
        "*.bat text eol=crlf",
        "*.crlf eol=crlf",
        "*.bin eol=crlf",
        "*.bin -text",
        "*.dat eol=crlf binary",
        "docs/**/*.md text eol=crlf",
        "/top.y eol=crlf",
        "*.id ident",
        "*.idf ident filter=up",
        "*.up filter=up",
        "*.opt filter=opt",
        "*.pct filter=pct",
        "*.none filter=unconfigured",
        "*.u16 working-tree-encoding=UTF-16",
        "*.u16le working-tree-encoding=UTF-16LE-BOM",
        "*.l1 working-tree-encoding=ISO-8859-1",
        "*.u8 working-tree-encoding=utf8",
        "[attr]dos text eol=crlf",
        "*.dos dos",
        "# *.txt eol=crlf",
      }, "\n") .. "\n")
      helpers.write(w .. "/sub/.gitattributes", "*.sub eol=crlf\ndeep/*.x eol=crlf\n/anch.y eol=crlf\n")
      for _, p in ipairs({ "a.bat", "a.txt", "a.crlf", "x.bin", "y.dat", "quoted name.q", "docs/top.md",
        "docs/a/b/c.md", "other/docs/x.md", "top.y", "sub/top.y", "sub/a.sub", "sub/deep/b.x",
        "sub/deep/deeper/c.x", "b.x", "sub/anch.y", "sub/other/anch.y", "x.dos", "a.neg", "A.BAT",
        "plain.c", "a.none" }) do
        helpers.write(w .. "/" .. p, LINES)
      end
      helpers.write(w .. "/mixed.bat", "one\r\ntwo\nthree\r\r\nfour\rfive\n")
      helpers.write(w .. "/nul.bat", "a\0b\nc\n")
      helpers.write(w .. "/crlf.txt", "one\r\ntwo\r\n")
      helpers.write(w .. "/run.bat", "echo hi\necho ho\n")
      helpers.run({ "chmod", "+x", w .. "/run.bat" })
      helpers.run({ "ln", "-s", "a.bat", w .. "/link.bat" })
      helpers.write(w .. "/a.id", "$Id$\nx $Id$ y $Id: old $ z\n$Id: foreign id $\n$Idx$Id: abc$ $I$Id\n$Id: a\nb$\n")
      helpers.write(w .. "/b.id", "no keyword\n")
      helpers.write(w .. "/c.id", "bin\0$Id$\n")
      helpers.write(w .. "/a.idf", "$Id$ and $Idx$Id: abc$ and $Id: x y $\n")
      helpers.write(w .. "/a.up", "hello up\n")
      helpers.write(w .. "/a.opt", "kept as is\n")
      helpers.write(w .. "/we ird'!name.pct", "pct\n")
      -- (written in their working-tree encodings: git add stores them in UTF-8)
      helpers.write(w .. "/a.u16", "\xff\xfeh\0\xe9\0l\0l\0o\0\n\0")
      helpers.write(w .. "/a.u16le", "\xff\xfeh\0\xe9\0l\0l\0o\0\n\0")
      helpers.write(w .. "/a.l1", "h\xe9llo\n")
      helpers.write(w .. "/a.u8", "h\xc3\xa9llo\n")
      git(w, "update-index", "--add", "--cacheinfo", "160000," .. git(w, "rev-parse", "HEAD") .. ",gitlink.bat")
      commit = commit_all(fx)
      local repo = fx.rig .. "/.repo.git"
      git(repo, "config", "filter.up.smudge", "tr a-z A-Z")
      git(repo, "config", "filter.up.clean", "tr A-Z a-z")
      git(repo, "config", "filter.up.required", "true")
      git(repo, "config", "filter.opt.smudge", "cat >/dev/null; exit 3")
      git(repo, "config", "filter.pct.smudge", "{ printf '%%s\\n' %f; cat; }")
      git(repo, "config", "filter.pct.clean", "sed 1d")
    end)

    for _, jobs in ipairs({ "1", "4" }) do
      it("writes what git worktree add writes (GT_JOBS=" .. jobs .. ")", function()
        local path, err = add(fx, "j" .. jobs, { GT_JOBS = jobs })
        local ref = reference(fx, "j" .. jobs, commit)
        same_as_git(path, ref, { ["mixed.bat"] = true, ["a.id"] = true, ["a.idf"] = true })
        -- The cases are real: these did convert (or did not) as git decided.
        assert.equal("one\r\ntwo\r\nthree\r\n", helpers.read(path .. "/a.bat"))
        assert.equal("echo hi\r\necho ho\r\n", helpers.read(path .. "/run.bat"))
        assert.equal("one\r\ntwo\r\nthree\r\nfour\rfive\r\n", helpers.read(path .. "/mixed.bat"))
        assert.equal(LINES, helpers.read(path .. "/x.bin"))
        assert.equal(LINES:gsub("\n", "\r\n"), helpers.read(path .. "/docs/a/b/c.md"))
        assert.equal(LINES:gsub("\n", "\r\n"), helpers.read(path .. "/docs/top.md"))
        assert.equal(LINES, helpers.read(path .. "/other/docs/x.md"))
        assert.equal(LINES:gsub("\n", "\r\n"), helpers.read(path .. "/sub/deep/b.x"))
        assert.equal(LINES, helpers.read(path .. "/sub/other/anch.y"))
        assert.equal(LINES:gsub("\n", "\r\n"), helpers.read(path .. "/x.dos"))
        assert.equal("HELLO UP\n", helpers.read(path .. "/a.up"))
        assert.equal("kept as is\n", helpers.read(path .. "/a.opt"))
        assert.equal("we ird'!name.pct\npct\n", helpers.read(path .. "/we ird'!name.pct"))
        assert.matches("^%$Id: %x+ %$\n", helpers.read(path .. "/a.id"))
        assert.equal("\xff\xfeh\0\xe9\0l\0l\0o\0\n\0", helpers.read(path .. "/a.u16le"))
        assert.equal("h\xe9llo\n", helpers.read(path .. "/a.l1"))
        -- git reports the failed filter that is not required, and goes on: so does gt.
        assert.matches("external filter 'cat >/dev/null; exit 3' failed", err)
      end)
    end
  end)

  describe("core.autocrlf true", function()
    it("converts every text file git would, and no other", function()
      local fx = helpers.fixture()
      local w = fx.work
      helpers.write(w .. "/.gitattributes", "*.keep -text\n*.bat eol=lf\n")
      helpers.write(w .. "/lf.txt", LINES)
      helpers.write(w .. "/crlf.txt", "a\r\nb\r\n")
      helpers.write(w .. "/mixed.txt", "a\r\nb\n")
      helpers.write(w .. "/lonecr.txt", "a\rb\n")
      helpers.write(w .. "/nul.txt", "a\0b\n")
      helpers.write(w .. "/x.keep", LINES)
      helpers.write(w .. "/x.bat", LINES)
      helpers.run({ "ln", "-s", "lf.txt", w .. "/link" })
      local commit = commit_all(fx)
      git(fx.rig .. "/.repo.git", "config", "core.autocrlf", "true")
      local path = add(fx, "a")
      same_as_git(path, reference(fx, "a", commit))
      assert.equal(LINES:gsub("\n", "\r\n"), helpers.read(path .. "/lf.txt"))
      assert.equal("a\r\nb\n", helpers.read(path .. "/mixed.txt"))
      assert.equal(LINES, helpers.read(path .. "/x.keep"))
    end)
  end)

  describe("core.ignorecase true", function()
    it("writes what git writes where the case of patterns and paths agree", function()
      local fx = helpers.fixture()
      helpers.write(fx.work .. "/.gitattributes", "*.bat eol=crlf\nsub/*.x eol=crlf\n")
      helpers.write(fx.work .. "/shout.bat", LINES)
      helpers.write(fx.work .. "/sub/a.x", LINES)
      local commit = commit_all(fx)
      git(fx.rig .. "/.repo.git", "config", "core.ignorecase", "true")
      local path = add(fx, "a")
      same_as_git(path, reference(fx, "a", commit))
      assert.equal(LINES:gsub("\n", "\r\n"), helpers.read(path .. "/sub/a.x"))
    end)
  end)

  describe("what gt cannot write as git would", function()
    local fx
    -- A fixture whose tree has these files (path -> content).
    local function with(files)
      fx = helpers.fixture()
      for p, content in pairs(files) do helpers.write(fx.work .. "/" .. p, content) end
      return commit_all(fx)
    end

    local function refused(name, pattern)
      local code, out, err = helpers.gt_rig(fx, { "polecat", "add", name })
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches(pattern, err)
      assert.same({}, witness.ls(fx.rig .. "/polecats"))
      assert.same({}, witness.branches(fx, "polecat/"))
      assert.equal("failed", witness.agent(fx, name).state)
    end

    it("rolls the spawn back when a required driver's smudge fails, as git fails", function()
      local commit = with({ [".gitattributes"] = "*.bad filter=bad\n", ["x.bad"] = "x\n" })
      local repo = fx.rig .. "/.repo.git"
      git(repo, "config", "filter.bad.smudge", "exit 1")
      git(repo, "config", "filter.bad.required", "true")
      refused("a", "x%.bad: smudge filter bad failed")
      local _, r = reference(fx, "bad", commit)
      assert.is_not.equal(0, r.code)
      assert.matches("smudge filter bad failed", r.stderr)
    end)

    it("refuses a long-running (process) filter rather than write other bytes than git", function()
      with({ [".gitattributes"] = "*.lfs filter=lfs\n", ["x.lfs"] = "pointer\n" })
      git(fx.rig .. "/.repo.git", "config", "filter.lfs.process", "git-lfs filter-process")
      refused("b", "x%.lfs: filter%.lfs%.process is a long%-running filter")
    end)

    -- git-lfs configures both; git runs the process, whose bytes are the smudge's by contract.
    it("runs the smudge command of a driver that also has a process", function()
      with({ [".gitattributes"] = "*.up filter=up\n", ["x.up"] = "pointer\n" })
      git(fx.rig .. "/.repo.git", "config", "filter.up.smudge", "tr a-z A-Z")
      git(fx.rig .. "/.repo.git", "config", "filter.up.process", "no-such-filter-process")
      git(fx.rig .. "/.repo.git", "config", "filter.up.required", "true")
      local code, _, err = helpers.gt_rig(fx, { "polecat", "add", "e" })
      assert.equal(0, code, err)
      assert.equal("POINTER\n", helpers.read(fx.rig .. "/polecats/e/" .. fx.name .. "/x.up"))
    end)

    it("refuses a path a pattern matches only without regard to case (core.ignorecase)", function()
      with({ [".gitattributes"] = "*.bat eol=crlf\n", ["SHOUT.BAT"] = "a\n" })
      git(fx.rig .. "/.repo.git", "config", "core.ignorecase", "true")
      refused("c", "SHOUT%.BAT: core%.ignorecase is set")
    end)

    it("refuses a quoted pattern that converts (libgit2 does not read them)", function()
      with({ [".gitattributes"] = "\"a b.q\" eol=crlf\n", ["a b.q"] = "a\n" })
      refused("d", "%.gitattributes: a quoted pattern sets eol=crlf")
    end)
  end)
end)
