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
end)
