-- repo:status, the dirty check behind gt.safety (a stat-data walk, not a tree-to-index diff),
-- against the git CLI on real repositories: each case makes a repository with git, changes it
-- as a user would, and compares with `git status --porcelain` (flags unhidden where gt sees more).
local gitlib = require("gt.git")
local helpers = require("helpers")
local git = helpers.git

--- `git status --porcelain -uall` as {staged, unstaged, untracked, conflicted, nested (the
--- repositories it lists as untracked "dir/")}, sorted.
local function porcelain(dir)
  local out = git(dir, "status", "--porcelain", "-uall", "--ignore-submodules=all")
  local r = { staged = {}, unstaged = {}, untracked = {}, conflicted = {}, nested = {} }
  for line in out:gmatch("[^\n]+") do
    local x, y, path = line:sub(1, 1), line:sub(2, 2), line:sub(4)
    if x == "?" and path:sub(-1) == "/" then r.nested[#r.nested + 1] = path -- a repository
    elseif x == "?" then r.untracked[#r.untracked + 1] = path
    elseif x == "U" or y == "U" or (x == "A" and y == "A") or (x == "D" and y == "D") then
      r.conflicted[#r.conflicted + 1] = path
    else
      if x ~= " " then r.staged[#r.staged + 1] = path end
      if y ~= " " then r.unstaged[#r.unstaged + 1] = path end
    end
  end
  for _, l in pairs(r) do table.sort(l) end
  return r
end

local function status(dir, opts)
  local w <close> = assert(gitlib.open(dir))
  return assert(w:status(opts))
end

local function same_as_git(dir)
  local st, want = status(dir), porcelain(dir)
  for _, k in ipairs({ "staged", "unstaged", "untracked", "conflicted", "nested" }) do
    assert.same(want[k], st[k], k)
  end
  return st
end

describe("repo:status", function()
  local dir
  before_each(function()
    dir = helpers.tmpdir("status") .. "/r"
    git(helpers.tmpdir("status"), "init", "-q", "-b", "main", dir)
    helpers.write(dir .. "/a.txt", "a\n")
    helpers.write(dir .. "/src/b.txt", "bb\n")
    helpers.write(dir .. "/deep/a/b/c.txt", "x\n")
    helpers.write(dir .. "/run.sh", "#!/bin/sh\n")
    helpers.write(dir .. "/.gitignore", "*.log\nbuild/\n")
    assert.is_true(helpers.run({ "ln", "-s", "a.txt", dir .. "/link" }).ok)
    git(dir, "add", "-A")
    git(dir, "commit", "-q", "-m", "init")
  end)

  it("is clean in a clean worktree, and after files are only touched", function()
    assert.same({ staged = {}, unstaged = {}, untracked = {}, conflicted = {}, unreadable = {},
      nested = {} }, same_as_git(dir))
    assert.is_true(helpers.run({ "touch", dir .. "/a.txt", dir .. "/src/b.txt" }).ok)
    assert.same({}, same_as_git(dir).unstaged)
  end)

  it("sees a same-size edit with the recorded time stamp (racily clean)", function()
    git(dir, "config", "core.trustctime", "false")
    helpers.write(dir .. "/a.txt", "q\n")
    assert.is_true(helpers.run({ "touch", "-d", "+1 hour", dir .. "/a.txt" }).ok)
    git(dir, "add", "a.txt")
    git(dir, "commit", "-q", "-m", "q")
    local stamp = helpers.run({ "stat", "-c", "%y", dir .. "/a.txt" }).stdout:gsub("\n$", "")
    helpers.write(dir .. "/a.txt", "z\n")
    assert.is_true(helpers.run({ "touch", "-d", stamp, dir .. "/a.txt" }).ok)
    assert.same({ "a.txt" }, same_as_git(dir).unstaged)
  end)

  it("sees a mode change, a retargeted link, a deletion, a file replaced by a folder or a link", function()
    assert.is_true(helpers.run({ "chmod", "+x", dir .. "/a.txt" }).ok)
    os.remove(dir .. "/link")
    assert.is_true(helpers.run({ "ln", "-s", "src/b.txt", dir .. "/link" }).ok)
    os.remove(dir .. "/deep/a/b/c.txt")
    os.remove(dir .. "/src/b.txt")
    helpers.write(dir .. "/src/b.txt/inside", "in\n")
    os.remove(dir .. "/run.sh")
    assert.is_true(helpers.run({ "ln", "-s", "a.txt", dir .. "/run.sh" }).ok)
    local st = same_as_git(dir)
    assert.same({ "a.txt", "deep/a/b/c.txt", "link", "run.sh", "src/b.txt" }, st.unstaged)
    assert.same({ "src/b.txt/inside" }, st.untracked)
  end)

  it("lists staged additions, edits and deletions, and an intent-to-add file", function()
    helpers.write(dir .. "/n.txt", "new\n")
    helpers.write(dir .. "/src/b.txt", "mod\n")
    git(dir, "add", "n.txt", "src/b.txt")
    git(dir, "rm", "-q", "deep/a/b/c.txt")
    assert.same({ "deep/a/b/c.txt", "n.txt", "src/b.txt" }, same_as_git(dir).staged)
    helpers.write(dir .. "/ita.txt", "i\n")
    git(dir, "add", "-N", "ita.txt")
    local st = status(dir)
    assert.same({ "ita.txt" }, st.unstaged) -- git: " A ita.txt"
    assert.same({ "deep/a/b/c.txt", "ita.txt", "n.txt", "src/b.txt" }, st.staged)
  end)

  it("lists a conflicted path as such only", function()
    git(dir, "checkout", "-q", "-b", "other")
    helpers.write(dir .. "/a.txt", "other\n")
    git(dir, "commit", "-q", "-am", "other")
    git(dir, "checkout", "-q", "main")
    helpers.write(dir .. "/a.txt", "mine\n")
    git(dir, "commit", "-q", "-am", "mine")
    helpers.run({ "git", "-C", dir, "merge", "-q", "other" })
    assert.same({ "a.txt" }, same_as_git(dir).conflicted)
  end)

  it("lists untracked files at the top and deep, not ignored ones; counts those when asked", function()
    helpers.write(dir .. "/top.txt", "u\n")
    helpers.write(dir .. "/x/y/z/deep.txt", "d\n")
    helpers.write(dir .. "/build/sub/o.bin", "12345")
    helpers.write(dir .. "/k.log", "l\n")
    helpers.write(dir .. "/build/.env.local", "secret\n")
    assert.same({ "top.txt", "x/y/z/deep.txt" }, same_as_git(dir).untracked)
    local st = status(dir, { ignored = true, keep = { ".env*" } })
    assert.same({ files = 3, bytes = 5 + 2 + 7, kept = { "build/.env.local" } }, st.ignored)
    assert.same({}, st.blocked)
  end)

  it("lists a nested repository (in an ignored folder too, when asked) and skips a submodule", function()
    git(dir, "init", "-q", "vendor/lib")
    helpers.write(dir .. "/vendor/lib/v.txt", "v\n")
    git(dir, "init", "-q", "build/inner")
    local sub = helpers.origin(helpers.tmpdir("sub"))
    git(dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", sub.origin, "lib")
    git(dir, "commit", "-q", "-m", "sub")
    helpers.write(dir .. "/lib/dirty.txt", "d\n")
    local st = same_as_git(dir)
    assert.same({ "vendor/lib/" }, st.nested)
    assert.same({ "build/inner/", "vendor/lib/" }, status(dir, { ignored = true }).nested)
    local w <close> = assert(gitlib.open(dir))
    assert.equal(1, #w:submodules())
  end)

  it("is clean for a file git checks out with CRLF line ends (*.bat text eol=crlf)", function()
    helpers.write(dir .. "/.gitattributes", "*.bat text eol=crlf\n")
    helpers.write(dir .. "/x.bat", "echo 1\necho 2\n")
    git(dir, "add", "-A")
    git(dir, "commit", "-q", "-m", "crlf")
    os.remove(dir .. "/x.bat")
    git(dir, "checkout", "-q", "--", "x.bat")
    assert.equal("echo 1\r\necho 2\r\n", helpers.read(dir .. "/x.bat"))
    assert.is_true(helpers.run({ "touch", dir .. "/x.bat" }).ok) -- stat data stale: hashed
    assert.same({}, same_as_git(dir).unstaged)
  end)

  it("sees edits behind assume-unchanged and skip-worktree, not an absent skip-worktree file", function()
    git(dir, "update-index", "--assume-unchanged", "a.txt")
    git(dir, "update-index", "--skip-worktree", "src/b.txt")
    helpers.write(dir .. "/a.txt", "e\n") -- same size
    helpers.write(dir .. "/src/b.txt", "edited\n")
    assert.equal("", git(dir, "status", "--porcelain"))
    assert.same({ "a.txt", "src/b.txt" }, status(dir).unstaged)
    os.remove(dir .. "/src/b.txt")
    assert.same({ "a.txt" }, status(dir).unstaged)
  end)

  it("reads a version 4 index, and one with a stale cache tree", function()
    git(dir, "update-index", "--index-version", "4")
    helpers.write(dir .. "/deep/a/b/c.txt", "m\n")
    assert.same({ "deep/a/b/c.txt" }, same_as_git(dir).unstaged)
    git(dir, "add", "deep/a/b/c.txt")
    assert.same({ "deep/a/b/c.txt" }, same_as_git(dir).staged)
    git(dir, "reset", "-q", "--mixed")
    assert.same({}, same_as_git(dir).staged)
  end)

  it("reports a folder it cannot list, with the reason, when asked", function()
    if helpers.run({ "sh", "-c", "[ \"$(id -u)\" = 0 ] && command -v setpriv" }).ok then
      return pending("root reads anything: keep_work_spec covers it with setpriv")
    end
    helpers.write(dir .. "/secret/in.txt", "x\n")
    assert.is_true(helpers.run({ "chmod", "000", dir .. "/secret" }).ok)
    local st = status(dir, { ignored = true })
    assert.is_true(helpers.run({ "chmod", "700", dir .. "/secret" }).ok)
    assert.same({ { path = "secret/", reason = "Permission denied" } }, st.blocked)
  end)
end)
