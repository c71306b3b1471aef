-- gt.snapshot against real worktrees made with gt.git and checked with the git CLI.
local gitlib = require("gt.git")
local snapshot = require("gt.snapshot")
local fs = require("gt.fs")
local helpers = require("helpers")
local git = helpers.git

local function witness_ls(d)
  local names = fs.dir(d) or {}
  table.sort(names)
  return names
end

describe("gt.snapshot", function()
  local dir, repo, path, index

  before_each(function()
    dir = helpers.tmpdir("snap")
    local o = helpers.origin(dir)
    repo = assert(gitlib.clone(o.origin, dir .. "/bare.git", { bare = true }))
    assert(repo:branch_create("b1", "refs/remotes/origin/main"))
    path = dir .. "/wt"
    assert(repo:worktree_add("w1", path, "b1"))
    index = dir .. "/bare.git/worktrees/w1/index"
    helpers.write(path .. "/.gitignore", "*.log\nnode_modules/\n.env*\n")
    git(path, "add", ".gitignore")
    git(path, "commit", "-q", "-m", "ignore")
  end)

  after_each(function()
    repo:close()
  end)

  --- The files of tree `tree` (git CLI): { path = content }.
  local function files_of(tree)
    local out = {}
    for _, p in ipairs(helpers.lines(git(dir .. "/bare.git", "ls-tree", "-r", "--name-only", tree))) do
      out[p] = helpers.run({ "git", "-C", dir .. "/bare.git", "cat-file", "blob", tree .. ":" .. p }).stdout
    end
    return out
  end

  describe("take", function()
    it("writes the whole working tree as a tree, without touching the worktree or its index", function()
      helpers.write(path .. "/a.txt", "changed\n")
      helpers.write(path .. "/untracked dir/u.bin", "\0\1\2")
      helpers.write(path .. "/staged.txt", "staged\n")
      git(path, "add", "staged.txt")
      os.remove(path .. "/src/b.txt")
      helpers.write(path .. "/x.log", "ignored\n")
      local index_tree_git = git(path, "write-tree") -- (this writes the index's tree cache)
      local index_before = helpers.read(index)
      local porcelain = git(path, "status", "--porcelain")
      local s <close> = assert(snapshot.open(repo, path, { index = index }))
      local tree, index_tree = s:take()
      assert.equal(index_before, helpers.read(index))
      assert.equal(porcelain, git(path, "status", "--porcelain"))
      assert.equal(index_tree_git, index_tree)
      assert.same({ [".gitignore"] = "*.log\nnode_modules/\n.env*\n", ["a.txt"] = "changed\n",
        ["untracked dir/u.bin"] = "\0\1\2", ["staged.txt"] = "staged\n" }, files_of(tree))
    end)

    it("keeps ignored files that match a keep pattern, at any depth", function()
      helpers.write(path .. "/.env", "SECRET=1\n")
      helpers.write(path .. "/src/.env.local", "S=2\n")
      helpers.write(path .. "/node_modules/x/.env", "in an ignored folder\n")
      helpers.write(path .. "/node_modules/x/i.js", "junk\n")
      local s <close> = assert(snapshot.open(repo, path, { index = index }))
      local files = files_of((s:take({ keep = { ".env*" } })))
      assert.equal("SECRET=1\n", files[".env"])
      assert.equal("S=2\n", files["src/.env.local"])
      assert.equal("in an ignored folder\n", files["node_modules/x/.env"])
      assert.is_nil(files["node_modules/x/i.js"])
      local s2 <close> = assert(snapshot.open(repo, path, { index = index }))
      assert.is_nil(files_of((s2:take()))[".env"])
    end)

    it("sees edits hidden by assume-unchanged and skip-worktree flags", function()
      git(path, "update-index", "--assume-unchanged", "a.txt")
      git(path, "update-index", "--skip-worktree", "src/b.txt")
      helpers.write(path .. "/a.txt", "edited\n")
      helpers.write(path .. "/src/b.txt", "edited too\n")
      local s <close> = assert(snapshot.open(repo, path, { index = index }))
      local files = files_of((s:take()))
      assert.equal("edited\n", files["a.txt"])
      assert.equal("edited too\n", files["src/b.txt"])
    end)

    it("takes everything of a folder git does not manage, limited to some names", function()
      local home = dir .. "/home"
      helpers.write(home .. "/notes.md", "notes\n")
      helpers.write(home .. "/logs/run.log", "log\n")
      helpers.write(home .. "/other/x", "not asked for\n")
      local s <close> = assert(snapshot.open(repo, home, { all = true, only = { "notes.md", "logs" } }))
      assert.same({ ["notes.md"] = "notes\n", ["logs/run.log"] = "log\n" }, files_of((s:take())))
    end)

    it("refuses a repository nested in the folder, naming it", function()
      git(path, "init", "-q", "vendor/lib")
      local s <close> = assert(snapshot.open(repo, path, { index = index }))
      local tree, err, code = s:take({ keep = { ".env*" } })
      assert.is_nil(tree)
      assert.equal("ENESTED", code)
      assert.equal(path .. "/vendor/lib: a repository of its own, which a snapshot cannot hold", err)
    end)
  end)

  describe("scan", function()
    it("says how much is ignored, what a pattern keeps, nested repositories and special files", function()
      helpers.write(path .. "/x.log", "12345")
      helpers.write(path .. "/node_modules/a/b.js", "123")
      helpers.write(path .. "/.env", "1")
      git(path, "init", "-q", "nested")
      assert.is_true(helpers.run({ "mkfifo", path .. "/fifo" }).ok)
      local s <close> = assert(snapshot.open(repo, path, { index = index }))
      local found = assert(s:scan({ keep = { ".env*" } }))
      assert.equal(3, found.ignored_files)
      assert.equal(9, found.ignored_bytes)
      assert.same({ ".env" }, found.kept)
      assert.same({ "nested" }, found.nested)
      assert.same({ "fifo" }, found.special)
      assert.same({}, found.unreadable)
    end)
  end)

  describe("keep patterns", function()
    it("match as .gitignore patterns do", function()
      helpers.write(path .. "/.gitignore", "*.log\nnode_modules/\n.env*\nsecrets/\nconf/\n")
      helpers.write(path .. "/secrets/api.key", "k")
      helpers.write(path .. "/conf/top.key", "k")
      helpers.write(path .. "/conf/a/b/deep.key", "k")
      helpers.write(path .. "/conf/a/b/deep.txt", "t")
      helpers.write(path .. "/x.log", "l")
      local cases = {
        ["secrets/"] = { "secrets/api.key" },
        ["/secrets/"] = { "secrets/api.key" },
        ["secrets"] = { "secrets/api.key" },
        ["conf/**/*.key"] = { "conf/a/b/deep.key", "conf/top.key" },
        ["**/*.key"] = { "conf/a/b/deep.key", "conf/top.key", "secrets/api.key" },
        ["*.key"] = { "conf/a/b/deep.key", "conf/top.key", "secrets/api.key" },
        ["conf/*.key"] = { "conf/top.key" },
        ["x.lo[gh]"] = { "x.log" },
        ["deep.*"] = { "conf/a/b/deep.key", "conf/a/b/deep.txt" },
        ["a/"] = { "conf/a/b/deep.key", "conf/a/b/deep.txt" },
        ["/a/"] = {},
      }
      for pattern, want in pairs(cases) do
        local s <close> = assert(snapshot.open(repo, path, { index = index }))
        local kept = assert(s:scan({ keep = { pattern } })).kept
        table.sort(kept)
        assert.same(want, kept, pattern)
      end
    end)
  end)

  describe("remove", function()
    local function tree_of(p)
      local out = {}
      local function walk(rel)
        for _, n in ipairs(fs.dir(p .. rel) or {}) do
          out[#out + 1] = rel .. n
          if fs.lstat(p .. rel .. n).type == "directory" and n ~= ".git" then walk(rel .. n .. "/") end
        end
      end
      walk("/")
      table.sort(out)
      return out
    end

    it("deletes what was taken and ignored files, not the folder itself nor a .git folder", function()
      helpers.write(path .. "/new.txt", "new\n")
      helpers.write(path .. "/x.log", "ignored\n")
      helpers.write(path .. "/node_modules/a/b.js", "junk\n")
      local s <close> = assert(snapshot.open(repo, path, { index = index }))
      assert(s:take())
      assert.is_true(s:remove({ dotgit = true }))
      assert.same({}, tree_of(path))
      assert.is_true(helpers.exists(path))
    end)

    it("reports the files it deleted to a progress function, and stops when it raises", function()
      helpers.write(path .. "/x.log", "ignored\n")
      local s <close> = assert(snapshot.open(repo, path, { index = index }))
      assert(s:take())
      local calls = {}
      assert.is_true(s:remove({ dotgit = true, progress = function(n) calls[#calls + 1] = n end }))
      -- a.txt, src/b.txt, .gitignore, x.log (the .git file is not counted)
      assert.same({ 4 }, calls)
      assert.same({}, tree_of(path))

      helpers.write(path .. "/a.txt", "a\n")
      local s2 <close> = assert(snapshot.open(repo, path, { index = index }))
      assert(s2:take())
      local ok, err = pcall(s2.remove, s2, { progress = function() error("enough", 0) end })
      assert.is_false(ok)
      assert.equal("enough", err)
      assert.has_error(function() s2:remove({ progress = true }) end)
    end)

    it("deletes a file that was only touched since (same content, new times)", function()
      local s <close> = assert(snapshot.open(repo, path, { index = index }))
      assert(s:take())
      assert.is_true(helpers.run({ "touch", "-d", "2001-01-01", path .. "/a.txt" }).ok)
      assert.is_true(s:remove({ dotgit = true }))
      assert.is_false(helpers.exists(path .. "/a.txt"))
    end)

    it("stops at a file that changed since, or appeared, keeping it", function()
      local s <close> = assert(snapshot.open(repo, path, { index = index }))
      assert(s:take())
      helpers.write(path .. "/src/late.txt", "late\n")
      local ok, err, code = s:remove()
      assert.is_nil(ok)
      assert.equal("ECHANGED", code)
      assert.equal(path .. "/src/late.txt appeared since it was saved", err)
      assert.equal("late\n", helpers.read(path .. "/src/late.txt"))

      local s2 <close> = assert(snapshot.open(repo, path, { index = index }))
      assert(s2:take())
      helpers.write(path .. "/src/late.txt", "later, longer\n")
      ok, err, code = s2:remove()
      assert.is_nil(ok)
      assert.equal("ECHANGED", code)
      assert.equal(path .. "/src/late.txt changed since it was saved", err)
      assert.equal("later, longer\n", helpers.read(path .. "/src/late.txt"))
    end)

    it("stops at an ignored file a keep pattern names that appeared since", function()
      local s <close> = assert(snapshot.open(repo, path, { index = index }))
      assert(s:take({ keep = { ".env*" } }))
      helpers.write(path .. "/.env.late", "K=1\n")
      local _, err, code = s:remove()
      assert.equal("ECHANGED", code)
      assert.equal(path .. "/.env.late appeared since it was saved", err)
      assert.equal("K=1\n", helpers.read(path .. "/.env.late"))
    end)

    it("stops at a repository, even in an ignored folder, and deletes from where the folder moved", function()
      helpers.write(path .. "/node_modules/x.js", "x")
      local s <close> = assert(snapshot.open(repo, path, { index = index }))
      assert(s:take())
      git(path, "init", "-q", "node_modules/dep")
      local _, err, code = s:remove()
      assert.equal("ECHANGED", code)
      assert.equal(path .. "/node_modules/dep holds a repository of its own", err)
      assert.is_true(helpers.exists(path .. "/node_modules/dep/.git/HEAD"))
      require("gt.fs").remove_tree(path .. "/node_modules/dep")
      local s2 <close> = assert(snapshot.open(repo, path, { index = index }))
      assert(s2:take())
      assert(os.rename(path, dir .. "/moved"))
      assert.is_true(s2:remove({ dotgit = true, dir = dir .. "/moved" }))
      assert.same({}, witness_ls(dir .. "/moved"))
    end)

    it("raises when nothing was taken", function()
      local s <close> = assert(snapshot.open(repo, path, { index = index }))
      assert.error_matches(function() s:remove() end, "nothing was taken")
    end)
  end)
end)
