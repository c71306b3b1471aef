-- The gt executable itself: version, help, usage errors, completion, script mode (-l), where
-- its Lua comes from, and what it refuses to load.
local helpers = require("helpers")

local gt_ = helpers.gt
-- The source tree, for CMakeLists.txt and lua/.
local ROOT = require("gt.fs").realpath(debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") .. "/../..")
local _ -- discarded results (code, _, err = ...)
local NO_RUNTIME = { GT_RUNTIME = false } -- the built-in Lua, whatever the caller's environment

local function lines(s) return helpers.lines(s) end

describe("gt", function()
  describe("--version", function()
    it("prints gt's version and commit, Lua's, libgit2's and sqlite's versions", function()
      local code, out, err = gt_({ "--version" })
      assert.equal(0, code, err)
      assert.equal("", err)
      local cmake = helpers.read(ROOT .. "/CMakeLists.txt")
      assert.equal(cmake:match("project%(gt VERSION ([%d.]+)"), gt.version)
      assert.equal(("gt %s (commit %s; Lua 5.4, libgit2 %s, sqlite %s; MIT License)\n"):format(
        gt.version, gt.commit, require("gt.git").libgit2_version(),
        require("gt.ledger").sqlite_version()), out)
      assert.matches("^MIT License\n", helpers.read(ROOT .. "/LICENSE"))
      assert.equal(require("gt.git").libgit2_version(), require("gt.git").LIBGIT2_BUILT)
      assert.matches("^gt 0%.1%.0 %(commit [%w._+-]+; Lua 5%.4, libgit2 %d+%.%d+%.%d+, " ..
        "sqlite %d+%.%d+%.%d+; MIT License%)\n$", out)
    end)

    -- The commit is the source's at build time (cmake/commit.cmake; install_spec.lua tests it
    -- on a repository of its own): one of the checkout's commits, "-dirty" when tracked files
    -- differed from it, "unknown" when the source is no git checkout.
    it("says the commit it was built from", function()
      local r = helpers.run({ "git", "-C", ROOT, "rev-parse", "--show-toplevel" })
      if r.code ~= 0 or require("gt.fs").realpath((r.stdout:gsub("\n$", ""))) ~= ROOT then
        assert.equal("unknown", gt.commit)
        return
      end
      local hash = gt.commit:match("^(%x+)%-dirty$") or gt.commit:match("^(%x+)$")
      assert.truthy(hash, gt.commit)
      assert.is_true(#hash >= 7)
      assert.equal(0, helpers.run({ "git", "-C", ROOT, "cat-file", "-e", hash .. "^{commit}" }).code)
    end)

    -- libgit2 and its 14 libraries are loaded at the first use of git (src/git2_lazy.h): the
    -- dynamic loader's own log (LD_DEBUG=files) says which libraries a run loaded.
    it("loads libgit2 only for commands that use git", function()
      local fx = helpers.fixture()
      assert.equal(0, (helpers.gt_rig(fx, { "polecat", "add", "ace" })))
      local function loads(args)
        local code, _, err = helpers.gt_rig(fx, args, { env = { LD_DEBUG = "files" } })
        assert.equal(0, code, err)
        return err:find("file=libgit2", 1, true) ~= nil
      end
      assert.is_false(loads({ "--version" }))
      assert.is_false(loads({ "polecat", "list" }))
      assert.is_false(loads({ "rig", "list" }))
      assert.is_true(loads({ "polecat", "status", "ace" }))
    end)

    -- gt --version builds a parser without commands (cli.run): what else is on the line must
    -- still be parsed with every command.
    it("takes gt's own options, and still knows the commands with -h or a word", function()
      local _, version = gt_({ "--version" })
      local code, out, err = gt_({ "-v", "--town", "/nonexistent", "--version", "--rig=x", "--clean", "-q" })
      assert.equal(0, code, err)
      assert.equal(version, out)
      code, out = gt_({ "--version", "-h" })
      assert.equal(0, code)
      assert.matches("\n   polecat%s", out)
      code, out, err = gt_({ "--version", "nosuch" })
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("^gt: unknown command 'nosuch'", err)
      code, _, err = gt_({ "--version", "--town" })
      assert.equal(2, code)
      assert.matches("^gt: option '%-%-town' requires an argument", err)
    end)
  end)

  describe("help", function()
    it("lists the commands", function()
      local code, out, err = gt_({ "help" })
      assert.equal(0, code, err)
      assert.equal("", err)
      assert.matches("^Usage: gt %[%-h%] %[%-%-town <dir>%] %[%-%-rig <name>%] %[%-v%] %[%-q%] %[%-%-clean%]\n" ..
        "%s+%[%-%-version%] %[<command>%] %.%.%.\n", out)
      for _, cmd in ipairs({ "init", "rig", "polecat", "help", "completion" }) do
        assert.matches("\n   " .. cmd .. "%s", out)
      end
      local _, out_h = gt_({ "--help" })
      assert.equal(out, out_h)
    end)

    it("prints the usage of one command", function()
      local code, out, err = gt_({ "help", "polecat", "add" })
      assert.equal(0, code, err)
      assert.equal("", err)
      assert.equal("Usage: gt polecat add [-h] [--issue <id>] [--run <cmd>] [--no-fetch]", lines(out)[1])
      assert.matches("\n   %-%-issue <id>%s+Issue the polecat works on%.\n", out)
      local _, out_h = gt_({ "polecat", "add", "--help" })
      assert.equal(out, out_h)
      code, out = gt_({ "help", "rig" })
      assert.equal(0, code)
      assert.matches("^Usage: gt rig %[%-h%] <command> %.%.%.", out)
    end)

    it("refuses an unknown command with exit 2", function()
      local code, out, err = gt_({ "help", "nosuch" })
      assert.equal(2, code)
      assert.equal("", out)
      assert.equal("gt: help: unknown command 'nosuch'\n", err)
      code, out, err = gt_({ "help", "polecat", "nosuch" })
      assert.equal(2, code)
      assert.equal("gt: help: unknown command 'polecat nosuch'\n", err)
    end)
  end)

  describe("usage errors", function()
    it("prints the help on stderr and exits 2 when no command is given", function()
      local _, help = gt_({ "help" })
      local code, out, err = gt_({})
      assert.equal(2, code)
      assert.equal("", out)
      assert.equal(help, err)
      code, out, err = gt_({ "--town", "/nonexistent" })
      assert.equal(2, code)
      assert.equal(help, err)
    end)


    it("reports unknown commands, options and missing arguments in one line", function()
      local cases = {
        { { "nosuch" }, "gt: unknown command 'nosuch' (see gt help)\n" },
        { { "polecat" }, "gt: a command is required (see gt help)\n" },
        { { "--nosuch" }, "gt: unknown option '--nosuch' (see gt help)\n" },
        { { "rig", "list", "--bogus" }, "gt: unknown option '--bogus' (see gt help)\n" },
        { { "rig", "add", "x" }, "gt: missing argument 'source' (see gt help)\n" },
        { { "init", "a", "b" }, "gt: too many arguments (see gt help)\n" },
        { { "--town" }, "gt: option '--town' requires an argument (see gt help)\n" },
      }
      for _, c in ipairs(cases) do
        local code, out, err = gt_(c[1])
        assert.equal(2, code, table.concat(c[1], " "))
        assert.equal("", out)
        assert.equal(c[2], err)
      end
    end)

    it("reports user errors as one line, without a traceback", function()
      local town = helpers.tmpdir("cli") .. "/town"
      assert.equal(0, (gt_({ "init", town })))
      local code, out, err = gt_({ "--town", town, "rig", "add", "a b", "/x" })
      assert.equal(2, code)
      assert.equal("", out)
      assert.equal("gt: rig add: invalid rig name 'a b': must contain only letters, digits, '.', " ..
        "'_' and '-' (found ' ')\n", err)
    end)
  end)

  describe("completion", function()
    for _, shell in ipairs({ "bash", "zsh", "fish" }) do
      it("prints a " .. shell .. " script generated from the commands", function()
        local code, out, err = gt_({ "completion", shell })
        assert.equal(0, code, err)
        assert.equal("", err)
        assert.is_true(#out > 200)
        for _, word in ipairs({ "polecat", "remove", "discard", "rig", "branch", "init", "completion" }) do
          assert.truthy(out:find(word, 1, true), shell .. " script lacks " .. word)
        end
      end)
    end

    it("gives bash a script that loads and completes", function()
      local script = 'source <("$GT" completion bash) || exit 1\n' ..
        'complete -p gt\n' ..
        'COMP_WORDS=(gt pol); COMP_CWORD=1; COMPREPLY=(); _gt; echo "[${COMPREPLY[*]}]"\n' ..
        'COMP_WORDS=(gt polecat re); COMP_CWORD=2; COMPREPLY=(); _gt; echo "[${COMPREPLY[*]}]"\n'
      local r = helpers.run({ "bash", "-c", script }, { env = { GT = gt.executable } })
      assert.equal(0, r.code, r.stderr)
      assert.equal("", r.stderr)
      local out = lines(r.stdout)
      assert.matches("^complete .*%-F _gt gt$", out[1])
      assert.equal("[polecat]", out[2])
      assert.equal("[remove]", out[3])
    end)

    it("refuses other shells", function()
      local code, out, err = gt_({ "completion", "tcsh" })
      assert.equal(2, code)
      assert.equal("", out)
      assert.equal("gt: argument 'shell' must be one of 'bash', 'zsh', 'fish' (see gt help)\n", err)
    end)
  end)

  describe("-l FILE", function()
    local dir
    before_each(function() dir = helpers.tmpdir("cli") end)

    it("runs the file with arg and ... set, in gt's runtime", function()
      helpers.write(dir .. "/s.lua", [[
        local n = select("#", ...)
        print(#arg, arg[-1] == gt.executable, arg[0], arg[1], arg[2], arg[3], n, ...)
        print(type(require("gt.git").open), gt.api_version, type(gt.fs.stat))
      ]])
      local code, out, err = gt_({ "-l", dir .. "/s.lua", "one", "", "three x" })
      assert.equal(0, code, err)
      assert.equal("", err)
      assert.equal(("3\ttrue\t%s/s.lua\tone\t\tthree x\t3\tone\t\tthree x\nfunction\t1\tfunction\n"):format(dir), out)
    end)

    it("exits with the integer the file returns", function()
      helpers.write(dir .. "/s.lua", "return tonumber(arg[1])")
      assert.equal(7, (gt_({ "-l", dir .. "/s.lua", "7" })))
      assert.equal(0, (gt_({ "-l", dir .. "/s.lua", "0" })))
      assert.equal(0, (gt_({ "-l", dir .. "/s.lua", "2.5" })))
      assert.equal(0, (gt_({ "-l", dir .. "/s.lua" })))
    end)

    it("reports an error as gt: <message> and exits 1", function()
      helpers.write(dir .. "/s.lua", "\nerror('boom')")
      local code, out, err = gt_({ "-l", dir .. "/s.lua" })
      assert.equal(1, code)
      assert.equal("", out)
      assert.equal("gt: " .. dir .. "/s.lua:2: boom", lines(err)[1])
      assert.equal("stack traceback:", lines(err)[2])
      helpers.write(dir .. "/syntax.lua", "x = = 1")
      code, _, err = gt_({ "-l", dir .. "/syntax.lua" })
      assert.equal(1, code)
      assert.equal("gt: " .. dir .. "/syntax.lua:1: unexpected symbol near '='\n", err)
    end)

    it("reports a gt error raised by the file with its exit status, without a traceback", function()
      helpers.write(dir .. "/s.lua", "require('gt.errors').raise('refused', 'kept %s', 'it')")
      local code, out, err = gt_({ "-l", dir .. "/s.lua" })
      assert.equal(3, code)
      assert.equal("", out)
      assert.equal("gt: kept it\n", err)
    end)

    it("refuses a missing file, a bytecode file and no file at all", function()
      local code, out, err = gt_({ "-l", dir .. "/nope.lua" })
      assert.equal(1, code)
      assert.equal("", out)
      assert.equal("gt: cannot open " .. dir .. "/nope.lua: No such file or directory\n", err)
      local f = assert(io.open(dir .. "/b.lua", "wb"))
      f:write(string.dump(function() print("ran") end))
      f:close()
      code, out, err = gt_({ "-l", dir .. "/b.lua" })
      assert.equal(1, code)
      assert.equal("", out)
      assert.equal("gt: " .. dir .. "/b.lua: attempt to load a binary chunk (mode is 't')\n", err)
      code, out, err = gt_({ "-l" })
      assert.equal(2, code)
      assert.equal("gt: -l needs a file to run\n", err)
    end)
  end)

  describe("built-in Lua", function()
    it("comes from the binary, with chunk names like gt/polecat.lua", function()
      local dir = helpers.tmpdir("cli")
      helpers.write(dir .. "/s.lua", [[
        local info = debug.getinfo(require("gt.polecat").get, "S")
        print(info.source, info.short_src)
        require("gt.polecat").get(nil, "x")
      ]])
      -- from a folder with no lua/ in sight
      local code, out, err = gt_({ "-l", dir .. "/s.lua" }, { cwd = dir, env = NO_RUNTIME })
      assert.equal(1, code)
      assert.equal("@gt/polecat.lua\tgt/polecat.lua\n", out)
      assert.matches("^gt: gt/polecat%.lua:%d+: attempt to index a nil value %(local 'rig'%)\n", err)
      assert.matches("\n%s+gt/polecat%.lua:%d+: in function 'gt%.polecat%.get'\n", err)
      assert.matches("\n%s+gt/main%.lua:%d+: in ", err)
    end)

    it("comes from GT_RUNTIME=<dir> when it is set", function()
      local dir = helpers.tmpdir("cli")
      local rt = dir .. "/lua"
      assert.equal(0, helpers.run({ "cp", "-R", ROOT .. "/lua", rt }).code)
      local path = rt .. "/gt/commands/town.lua"
      local src = assert(helpers.read(path))
      local changed = src:gsub('"created town at %%s"', '"GT_RUNTIME town at %%s"')
      assert.are_not.equal(src, changed)
      helpers.write(path, changed)
      local code, out, err = gt_({ "init", dir .. "/t1" }, { env = { GT_RUNTIME = rt } })
      assert.equal(0, code, err)
      assert.equal("GT_RUNTIME town at " .. dir .. "/t1\n", out)
      code, out = gt_({ "init", dir .. "/t2" }, { env = NO_RUNTIME })
      assert.equal(0, code)
      assert.equal("created town at " .. dir .. "/t2\n", out)
      helpers.write(dir .. "/s.lua", 'print(debug.getinfo(require("gt.polecat").add, "S").source)')
      code, out = gt_({ "-l", dir .. "/s.lua" }, { env = { GT_RUNTIME = rt } })
      assert.equal(0, code)
      assert.equal("@" .. rt .. "/gt/polecat.lua\n", out)
    end)

    it("is loaded from GT_RUNTIME in text mode only", function()
      local rt = helpers.tmpdir("cli") .. "/lua"
      assert.equal(0, helpers.run({ "cp", "-R", ROOT .. "/lua", rt }).code)
      local f = assert(io.open(rt .. "/gt/commands/town.lua", "wb"))
      f:write(string.dump(function() return {} end))
      f:close()
      local code, out, err = gt_({ "help" }, { env = { GT_RUNTIME = rt } })
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("^gt: error loading module 'gt.commands.town' from file '" ..
        rt:gsub("%p", "%%%0") .. "/gt/commands/town.lua':\n\tattempt to load a binary chunk", err)
    end)
  end)

  describe("module search path", function()
    local printer = [[
      for _, field in ipairs({ "path", "cpath" }) do
        io.write(field, "=", package[field], "\n")
      end
    ]]

    it("has no relative entries, even when LUA_PATH and LUA_CPATH have some", function()
      local dir = helpers.tmpdir("cli")
      helpers.write(dir .. "/p.lua", printer)
      for _, env in ipairs({
        { LUA_PATH = "./?.lua;./?/init.lua;;", LUA_CPATH = "./?.so;;" },
        { LUA_PATH_5_4 = "?.lua;lib/?.lua;;", LUA_CPATH_5_4 = "?.so;;" },
        { LUA_PATH = false, LUA_CPATH = false, LUA_PATH_5_4 = false, LUA_CPATH_5_4 = false },
      }) do
        local code, out, err = gt_({ "-l", dir .. "/p.lua" }, { env = env })
        assert.equal(0, code, err)
        local l = lines(out)
        assert.matches("^path=/", l[1])
        assert.matches("^cpath=/", l[2])
        for _, line in ipairs(l) do
          for entry in line:match("=(.*)$"):gmatch("[^;]+") do
            assert.matches("^/", entry, line)
          end
        end
      end
      local code, out = gt_({ "-l", dir .. "/p.lua" }, { env = { LUA_PATH_5_4 = "./?.lua;/abs/?.lua" } })
      assert.equal(0, code)
      assert.equal("path=/abs/?.lua", lines(out)[1])
    end)

    it("never loads gt's modules or its libraries from the current directory", function()
      local dir = helpers.tmpdir("cli")
      for _, f in ipairs({ "argparse.lua", "dkjson.lua", "gt/cli.lua", "gt/main.lua", "gt/town.lua",
          "gt/json.lua", "gt.lua", "gt/commands/rig.lua" }) do
        helpers.write(dir .. "/" .. f, 'io.stderr:write("PLANTED ' .. f .. '\\n") os.exit(99)')
      end
      local env = { LUA_PATH = "./?.lua;./?/init.lua;;", GT_RUNTIME = false }
      local code, out, err = gt_({ "help" }, { cwd = dir, env = env })
      assert.equal(0, code, err)
      assert.equal("", err)
      assert.matches("^Usage: gt", out)
      code, out, err = gt_({ "init", dir }, { cwd = dir, env = env })
      assert.equal(0, code, err)
      code, out, err = gt_({ "rig", "list", "--json" }, { cwd = dir, env = env })
      assert.equal(0, code, err)
      assert.equal("[]\n", out)
    end)
  end)
end)
