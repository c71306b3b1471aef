-- gt.filters: when checking out a commit needs libgit2's checkout filters, decided from real
-- repositories made with the git CLI (their config, their .gitattributes, the repository's
-- info/attributes and the user's attributes file), with the answer cached in a real ledger.
local filters = require("gt.filters")
local store = require("gt.store")
local gitlib = require("gt.git")
local helpers = require("helpers")
local git = helpers.git

-- A machine-wide /etc/gitattributes that converts makes every answer true: the specs that
-- expect "no filters" cannot run there.
local SYSTEM_CONVERTS = filters.attributes_convert(helpers.read("/etc/gitattributes") or "")

describe("gt.filters", function()
  describe("attributes_convert", function()
    it("is true when a line sets, unsets or gives a value to a converting attribute", function()
      for _, text in ipairs({
        "*.txt text\n",
        "*.txt text=auto\n",
        "* -text\n",
        "*.sh !eol\n",
        "*.bat eol=crlf\n",
        "*.dos crlf\n",
        "*.dos -crlf\n",
        "*.c ident\n",
        "*.psd filter=lfs diff=lfs merge=lfs -text\n",
        "*.utf16 working-tree-encoding=UTF-16LE\n",
        "*.md diff=markdown\n*.txt\ttext\n", -- on a later line, after a tab
        "   *.txt   linguist-vendored   eol=lf  \n", -- leading and extra blanks
        "*.txt text\r\n", -- CRLF lines
        "[attr]mine text\n", -- a macro defined with one
      }) do
        assert.is_true(filters.attributes_convert(text), text)
      end
    end)

    it("is false for no text, comments, patterns alone and attributes that do not convert", function()
      for _, text in ipairs({
        "",
        "\n\n",
        "# *.txt text\n",
        "   # eol=crlf\n",
        "text\n", -- a pattern named text, without attributes
        "eol -diff\n", -- a pattern named eol
        "*.png -diff binary\n",
        "*.md linguist-documentation diff=markdown merge=union export-ignore\n",
        "*.txt texts eoln identity filters crlf2\n",
      }) do
        assert.is_false(filters.attributes_convert(text), text)
      end
    end)
  end)

  describe("needed", function()
    local dir, work, db
    local repos = {}

    --- Opens the work repository afresh (libgit2 reads its config when it opens it).
    local function open()
      local repo = assert(gitlib.open(work))
      repos[#repos + 1] = repo
      return repo
    end

    local function commit(path, content, message)
      helpers.write(work .. "/" .. path, content)
      git(work, "add", "-A")
      git(work, "commit", "-q", "-m", message or ("add " .. path))
      return git(work, "rev-parse", "HEAD")
    end

    before_each(function()
      if SYSTEM_CONVERTS then pending("/etc/gitattributes converts content on this machine") end
      dir = helpers.tmpdir("filters")
      work = helpers.origin(dir).work
      db = store.open(dir .. "/ledger.db", { create = true })
    end)

    after_each(function()
      for _, r in ipairs(repos) do r:close() end
      repos = {}
      if db then db:close() end
      db = nil
    end)

    it("is false for a tree without .gitattributes, and caches that for the tree", function()
      local head = git(work, "rev-parse", "HEAD")
      local tree = git(work, "rev-parse", "HEAD^{tree}")
      assert.is_nil(store.tree_needs_filters(db, tree))
      local needs, why = filters.needed(open(), head, db)
      assert.is_false(needs)
      assert.is_nil(why)
      assert.is_false(store.tree_needs_filters(db, tree))
    end)

    it("is true for a tree whose .gitattributes converts, and caches that for the tree", function()
      local head = commit(".gitattributes", "*.sh eol=lf\n")
      local tree = git(work, "rev-parse", "HEAD^{tree}")
      local needs, why = filters.needed(open(), head, db)
      assert.is_true(needs)
      assert.equal(".gitattributes", why)
      assert.is_true(store.tree_needs_filters(db, tree))
    end)

    it("finds a .gitattributes in a subfolder", function()
      local head = commit("src/deep/.gitattributes", "*.txt working-tree-encoding=UTF-16\n")
      assert.same({ true, ".gitattributes" }, { filters.needed(open(), head, db) })
    end)

    it("is false for a .gitattributes with no converting attribute", function()
      local head = commit(".gitattributes", "*.png binary\n*.md diff=markdown\n")
      commit("src/.gitattributes", "# *.txt text\n")
      assert.same({ false }, { filters.needed(open(), git(work, "rev-parse", "HEAD"), db) })
      assert.is_false(filters.needed(open(), head, db))
    end)

    it("answers per commit: an older commit without the attributes needs none", function()
      local old = git(work, "rev-parse", "HEAD")
      local new = commit(".gitattributes", "* text=auto\n")
      assert.is_true((filters.needed(open(), new, db)))
      assert.is_false((filters.needed(open(), old, db)))
      assert.is_true(store.tree_needs_filters(db, git(work, "rev-parse", new .. "^{tree}")))
      assert.is_false(store.tree_needs_filters(db, git(work, "rev-parse", old .. "^{tree}")))
    end)

    it("takes a revision as well as a commit id", function()
      commit(".gitattributes", "*.c ident\n")
      assert.is_true((filters.needed(open(), "HEAD", db)))
      assert.is_false((filters.needed(open(), "HEAD~1", db)))
    end)

    it("trusts the ledger's answer for a tree it has seen", function()
      local head = git(work, "rev-parse", "HEAD")
      store.set_tree_needs_filters(db, git(work, "rev-parse", "HEAD^{tree}"), true)
      assert.same({ true, ".gitattributes" }, { filters.needed(open(), head, db) })
      -- Without a ledger it reads the tree itself.
      assert.same({ false }, { filters.needed(open(), head, nil) })
    end)

    it("computes without caching when given no ledger", function()
      local head = commit(".gitattributes", "*.txt text\n")
      assert.is_true((filters.needed(open(), head, nil)))
      assert.is_nil(store.tree_needs_filters(db, git(work, "rev-parse", "HEAD^{tree}")))
    end)

    it("is true with core.autocrlf true or input, not false, before any cache", function()
      local head = git(work, "rev-parse", "HEAD")
      store.set_tree_needs_filters(db, git(work, "rev-parse", "HEAD^{tree}"), false)
      git(work, "config", "core.autocrlf", "false")
      assert.same({ false }, { filters.needed(open(), head, db) })
      git(work, "config", "core.autocrlf", "true")
      assert.same({ true, "core.autocrlf" }, { filters.needed(open(), head, db) })
      git(work, "config", "core.autocrlf", "input")
      assert.same({ true, "core.autocrlf" }, { filters.needed(open(), head, db) })
    end)

    it("is true with core.eol set", function()
      git(work, "config", "core.eol", "lf")
      assert.same({ true, "core.eol" }, { filters.needed(open(), "HEAD", db) })
    end)

    it("is true when the repository's info/attributes converts", function()
      local repo = open()
      local path = repo:commondir() .. "info/attributes"
      helpers.write(path, "*.txt -text\n")
      assert.same({ true, path }, { filters.needed(repo, "HEAD", db) })
      helpers.write(path, "*.txt -diff\n")
      assert.same({ false }, { filters.needed(repo, "HEAD", db) })
    end)

    it("reads info/attributes of the common folder from a worktree", function()
      local wt = dir .. "/wt"
      git(work, "worktree", "add", "-q", "-b", "side", wt)
      local repo = assert(gitlib.open(wt))
      repos[#repos + 1] = repo
      local path = work .. "/.git/info/attributes"
      helpers.write(path, "* eol=lf\n")
      assert.same({ true, work .. "/.git/info/attributes" }, { filters.needed(repo, "HEAD", db) })
    end)

    it("is true when the file core.attributesFile names converts", function()
      local path = dir .. "/my-attributes"
      helpers.write(path, "*.txt filter=x\n")
      git(work, "config", "core.attributesFile", path)
      assert.same({ true, path }, { filters.needed(open(), "HEAD", db) })
      helpers.write(path, "*.txt diff\n")
      assert.same({ false }, { filters.needed(open(), "HEAD", db) })
      git(work, "config", "core.attributesFile", dir .. "/missing")
      assert.same({ false }, { filters.needed(open(), "HEAD", db) })
    end)

    describe("plan", function()
      it("is nil when nothing converts, all with core.autocrlf true or core.eol crlf", function()
        assert.is_nil(filters.plan(open(), "HEAD", db))
        commit(".gitattributes", "*.sh text eol=lf\n")
        git(work, "config", "core.autocrlf", "true")
        assert.same({ all = true }, filters.plan(open(), "HEAD", db))
        git(work, "config", "core.autocrlf", "input")
        git(work, "config", "core.eol", "crlf")
        assert.same({ rules = {} }, filters.plan(open(), "HEAD", db))
        git(work, "config", "--unset", "core.autocrlf")
        assert.same({ all = true }, filters.plan(open(), "HEAD", db))
      end)

      it("keeps only the rules that may convert on checkout, with their folder", function()
        commit(".gitattributes", table.concat({ "* text=auto", "*.sh text eol=lf", "*.bat text eol=crlf",
          "*.c ident", "-x -text", "*.psd filter=lfs -text", "*.u working-tree-encoding=UTF-16",
          "[attr]dos text eol=crlf", "[attr]dos2 dos", "*.dos dos2", "*.png binary", "# *.y eol=crlf",
          "!*.neg eol=crlf", "*.q -ident", "" }, "\n"))
        commit("sub/.gitattributes", "deep/*.x eol=crlf\n")
        local plan = filters.plan(open(), "HEAD", db)
        table.sort(plan.rules, function(a, b) return a.base .. a.pattern < b.base .. b.pattern end)
        assert.same({ { base = "", pattern = "*.bat" }, { base = "", pattern = "*.c" },
          { base = "", pattern = "*.dos" }, { base = "", pattern = "*.psd" }, { base = "", pattern = "*.u" },
          { base = "sub/", pattern = "deep/*.x" } }, plan.rules)
      end)

      it("fails on a quoted pattern that converts: libgit2 does not read those", function()
        commit(".gitattributes", "\"a b\" eol=crlf\n\"c d\" diff\n")
        local ok, err = pcall(filters.plan, open(), "HEAD", db)
        assert.is_false(ok)
        assert.matches("%.gitattributes: a quoted pattern sets eol=crlf", tostring(err.message or err))
      end)
    end)

    describe("the user's attributes file (a child gt with its own HOME and XDG_CONFIG_HOME)", function()
      local script

      before_each(function()
        script = dir .. "/needed.lua"
        helpers.write(script, [[
          local r = assert(require("gt.git").open(arg[1]))
          local needs, why = require("gt.filters").needed(r, "HEAD", nil)
          io.write(tostring(needs), " ", tostring(why), "\n")
        ]])
      end)

      local function needed_in_child(env)
        local code, out, err = helpers.gt({ "-l", script, work }, { env = env })
        assert.equal(0, code, err)
        return (out:gsub("\n$", ""))
      end

      it("reads $XDG_CONFIG_HOME/git/attributes", function()
        local home, xdg = helpers.tmpdir("home"), helpers.tmpdir("xdg")
        assert.equal("false nil", needed_in_child({ HOME = home, XDG_CONFIG_HOME = xdg }))
        helpers.write(xdg .. "/git/attributes", "*.txt text\n")
        assert.equal("true " .. xdg .. "/git/attributes", needed_in_child({ HOME = home, XDG_CONFIG_HOME = xdg }))
        -- The file in HOME is not read when XDG_CONFIG_HOME is set.
        helpers.write(xdg .. "/git/attributes", "")
        helpers.write(home .. "/.config/git/attributes", "*.txt text\n")
        assert.equal("false nil", needed_in_child({ HOME = home, XDG_CONFIG_HOME = xdg }))
      end)

      it("reads ~/.config/git/attributes when XDG_CONFIG_HOME is unset or empty", function()
        local home = helpers.tmpdir("home")
        helpers.write(home .. "/.config/git/attributes", "*.bat eol=crlf\n")
        local expected = "true " .. home .. "/.config/git/attributes"
        assert.equal(expected, needed_in_child({ HOME = home, XDG_CONFIG_HOME = false }))
        assert.equal(expected, needed_in_child({ HOME = home, XDG_CONFIG_HOME = "" }))
      end)

      it("expands ~/ in core.attributesFile", function()
        local home = helpers.tmpdir("home")
        helpers.write(home .. "/attrs", "*.c ident\n")
        git(work, "config", "core.attributesFile", "~/attrs")
        assert.equal("true " .. home .. "/attrs", needed_in_child({ HOME = home, XDG_CONFIG_HOME = false }))
      end)
    end)
  end)
end)
