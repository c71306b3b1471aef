-- Commands from user code (gt.commands.register and override) and module overrides by path
-- (<rig>/.gt/lua, <town>/.gt/lua, $XDG_CONFIG_HOME/gt/lua), run with the gt binary.
local helpers = require("helpers")
local witness = require("witness")
local user_code = require("user_code")
local _ -- discarded results (code, _, err = ...)

local gt_rig, init, pat = user_code.gt, user_code.init, user_code.pat
local ROOT = debug.getinfo(1, "S").source:match("^@(.-)/?tests/functional/[^/]*$")
if ROOT == "" then ROOT = "." end

local HELLO = [[
gt.commands.register({
  name = "hello",
  summary = "Greet people.",
  arguments = { { "who", "Whom to greet.", args = "+" } },
  options = { { "--greeting", "The word to greet with.", argname = "<word>", default = "hello" } },
  flags = { { "-l --loud", "Shout." } },
  run = function(cmd)
    local s = cmd.args.greeting .. ", " .. table.concat(cmd.args.who, " and ")
    print(cmd.args.loud and s:upper() or s)
    return #cmd.args.who
  end,
})
gt.commands.register({
  name = "polecat sweep", summary = "Sweep the rig.", needs = "rig",
  flags = { { "-n --dry-run", "Only say what would go." } },
  run = function(cmd)
    print(("sweep %s of %s (dry run: %s)"):format(cmd.rig.name, cmd.town.root, tostring(cmd.args.dry_run)))
    return 0
  end,
})
]]

describe("commands from user code", function()
  local fx
  before_each(function() fx = user_code.fixture() end)

  describe("gt.commands.register", function()
    before_each(function() init(fx, "user", HELLO) end)

    it("adds a command that runs with its parsed arguments and returns the exit status", function()
      local code, out, err = gt_rig(fx, { "hello", "ana", "bo" })
      assert.equal(2, code, err)
      assert.equal("", err)
      assert.equal("hello, ana and bo\n", out)
      code, out, err = gt_rig(fx, { "hello", "--greeting", "hi", "-l", "ana" })
      assert.equal(1, code, err)
      assert.equal("HI, ANA\n", out)
      code, out, err = gt_rig(fx, { "hello" })
      assert.equal(2, code)
      assert.equal("", out)
      assert.matches("^gt: missing argument 'who' %(see gt help%)\n$", err)
    end)

    it("adds a command to a group, with the town and rig it needs resolved", function()
      local code, out, err = gt_rig(fx, { "polecat", "sweep", "-n" })
      assert.equal(0, code, err)
      assert.equal("sweep demo of " .. fx.town .. " (dry run: true)\n", out)
      -- Without a rig, it fails as the built-ins do.
      local r = helpers.run({ gt.executable, "polecat", "sweep" }, { cwd = fx.dir, env = user_code.env(fx) })
      assert.equal(4, r.code)
      assert.equal("", r.stdout)
      assert.matches("^gt: not inside a town ", r.stderr)
    end)

    it("puts the command in help, from the same spec", function()
      local code, out, err = gt_rig(fx, { "help" })
      assert.equal(0, code, err)
      assert.matches("\n   hello%s+Greet people%.\n", out)
      code, out = gt_rig(fx, { "help", "hello" })
      assert.equal(0, code)
      assert.equal("Usage: gt hello [-h] [--greeting <word>] [-l] <who> [<who>] ...\n\n" ..
        "Greet people.\n\n" ..
        "Arguments:\n" ..
        "   who                   Whom to greet.\n\n" ..
        "Options:\n" ..
        "   -h, --help            Show this help message and exit.\n" ..
        "   --greeting <word>     The word to greet with. (default: hello)\n" ..
        "   -l, --loud            Shout.\n", out)
      code, out = gt_rig(fx, { "help", "polecat" })
      assert.equal(0, code)
      assert.matches("\n   sweep%s+Sweep the rig%.\n", out)
      code, out = gt_rig(fx, { "help", "polecat", "sweep" })
      assert.equal(0, code)
      assert.matches("^Usage: gt polecat sweep %[%-h%] %[%-n%]\n", out)
    end)

    it("puts the command in the shell completions", function()
      local code, out, err = gt_rig(fx, { "completion", "bash" })
      assert.equal(0, code, err)
      assert.matches('compgen %-W "[^"]* hello[ "]', out)
      assert.matches('opts="%$opts %-h %-%-help %-%-greeting %-l %-%-loud"', out)
      assert.matches('compgen %-W "add list status remove history [^"]*sweep"', out)
      code, out = gt_rig(fx, { "completion", "fish" })
      assert.equal(0, code)
      assert.matches("%-xa 'hello' %-d 'Greet people'\n", out)
      assert.matches("'__fish_gt_seen_command hello' %-s l %-l loud %-d 'Shout'\n", out)
      code, out = gt_rig(fx, { "completion", "zsh" })
      assert.equal(0, code)
      assert.matches('"hello:Greet people"', out)
      assert.matches('"sweep:Sweep the rig"', out)
    end)

    it("reports a gt error of the command as gt does its own", function()
      init(fx, "user", [[
gt.commands.register({ name = "hello", summary = "Hi.", run = function()
  gt.errors.raise("notfound", "nobody to greet")
end })
]])
      local code, out, err = gt_rig(fx, { "hello" })
      assert.equal(4, code)
      assert.equal("", out)
      assert.equal("gt: hello: nobody to greet\n", err)
    end)
  end)

  it("registering a built-in's name replaces it, and --verbose says so", function()
    local path = init(fx, "user", [[
gt.commands.register({ name = "rig list", summary = "Mine.", run = function() print("my rigs") return 0 end })
]])
    local code, out, err = gt_rig(fx, { "rig", "list" })
    assert.equal(0, code, err)
    assert.equal("my rigs\n", out)
    assert.equal("", err)
    code, out, err = gt_rig(fx, { "--verbose", "rig", "list" })
    assert.equal(0, code, err)
    assert.equal("my rigs\n", out)
    assert.equal("gt: command 'rig list' from " .. path .. ":1 replaces the one from built-in\n", err)
    code, out = gt_rig(fx, { "help", "rig" })
    assert.matches("\n   list%s+Mine%.\n", out)
  end)

  describe("gt.commands.override", function()
    it("wraps a built-in, which it may call with changed arguments", function()
      local path = init(fx, "user", [[
gt.commands.override("polecat add", function(orig, cmd)
  cmd.args.issue = cmd.args.issue or os.getenv("TICKET")
  print("adding " .. cmd.args.name .. " for " .. tostring(cmd.args.issue))
  local status = orig(cmd)
  print("added, status " .. status)
  return status
end)
]])
      local code, out, err = gt_rig(fx, { "-v", "polecat", "add", "a" }, { env = { TICKET = "T-7" } })
      assert.equal(0, code, err)
      assert.equal("gt: command 'polecat add' is wrapped by " .. path .. ":1\n", err)
      local agent = witness.agent(fx, "a")
      assert.equal("T-7", agent.issue)
      assert.equal("T-7", witness.parse_branch(agent.branch, "a").issue)
      assert.equal("adding a for T-7\npolecat a spawned in rig demo\n  branch  " .. agent.branch ..
        "\n  path    " .. fx.rig .. "/polecats/a/demo\nadded, status 0\n", out)
    end)

    it("may decide not to run the built-in", function()
      init(fx, "user", [[
gt.commands.override("polecat add", function(orig, cmd)
  if cmd.args.name:match("^tmp") then
    gt.errors.raise("usage", "no temporary polecats")
  end
  return orig(cmd)
end)
]])
      local before = witness.snapshot(fx)
      local code, out, err = gt_rig(fx, { "polecat", "add", "tmp1" })
      assert.equal(2, code)
      assert.equal("", out)
      assert.equal("gt: polecat add: no temporary polecats\n", err)
      assert.same(before, witness.snapshot(fx))
      code, _, err = gt_rig(fx, { "polecat", "add", "a" })
      assert.equal(0, code, err)
      assert.equal("working", witness.agent(fx, "a").state)
    end)

    it("of one init file wraps what an earlier one registered", function()
      init(fx, "user", HELLO)
      init(fx, "rig", [[
gt.commands.override("hello", function(orig, cmd)
  table.insert(cmd.args.who, "the rig")
  return orig(cmd) + 10
end)
]])
      local code, out, err = gt_rig(fx, { "hello", "ana" })
      assert.equal(12, code, err)
      assert.equal("hello, ana and the rig\n", out)
    end)
  end)
end)

describe("module overrides", function()
  local fx, builtin
  before_each(function()
    fx = user_code.fixture()
    builtin = assert(helpers.read(ROOT .. "/lua/gt/commands/polecat.lua"))
  end)

  --- Writes a copy of the built-in gt.commands.polecat at `level` that says who spawned.
  local function override(level)
    local path = user_code.lua_dir(fx, level) .. "/gt/commands/polecat.lua"
    local source, n = builtin:gsub('"polecat %%s spawned in rig %%s"', '"' .. level .. ': polecat %%s spawned"')
    assert(n == 1, "the built-in's message changed")
    helpers.write(path, source)
    return path
  end

  local function first_line(fx_, args)
    local code, out, err = gt_rig(fx_, args)
    assert.equal(0, code, err)
    return out:match("^[^\n]*"), err
  end

  it("a user's gt/commands/polecat.lua replaces the built-in; --verbose says which file", function()
    local path = override("user")
    assert.equal("user: polecat a spawned", first_line(fx, { "polecat", "add", "a" }))
    local line, err = first_line(fx, { "--verbose", "polecat", "add", "b" })
    assert.equal("user: polecat b spawned", line)
    assert.equal("gt: module gt.commands.polecat comes from " .. path .. "\n", err)
    -- The other polecat commands are the copy's.
    local code, out = gt_rig(fx, { "polecat", "list" })
    assert.equal(0, code)
    assert.matches("^NAME +STATE", out)
  end)

  it("the town's beats the user's, the rig's beats the town's", function()
    override("user")
    local town = override("town")
    local rig = override("rig")
    local line, err = first_line(fx, { "-v", "polecat", "add", "a" })
    assert.equal("rig: polecat a spawned", line)
    assert.equal("gt: module gt.commands.polecat comes from " .. rig .. "\n", err)
    assert.is_true(os.remove(rig))
    line, err = first_line(fx, { "-v", "polecat", "add", "b" })
    assert.equal("town: polecat b spawned", line)
    assert.equal("gt: module gt.commands.polecat comes from " .. town .. "\n", err)
    assert.is_true(os.remove(town))
    assert.equal("user: polecat c spawned", (first_line(fx, { "polecat", "add", "c" })))
  end)

  it("may be a small module of its own", function()
    helpers.write(user_code.lua_dir(fx, "town") .. "/gt/commands/polecat.lua", [[
return { { name = "polecat add", summary = "Not today.", arguments = { { "name", "Name." } },
  run = function(cmd) print("not adding " .. cmd.args.name) return 0 end } }
]])
    local code, out, err = gt_rig(fx, { "polecat", "add", "a" })
    assert.equal(0, code, err)
    assert.equal("not adding a\n", out)
    assert.is_nil(witness.agent(fx, "a"))
    code, _, err = gt_rig(fx, { "polecat", "list" })
    assert.equal(2, code)
    assert.matches("unknown command 'list'", err)
  end)

  it("that is broken is reported, and the next one (or the built-in) is used", function()
    local user = override("user")
    local rig = user_code.lua_dir(fx, "rig") .. "/gt/commands/polecat.lua"
    helpers.write(rig, "return {\n  { name = = 1 },\n}\n")
    local line, err = first_line(fx, { "polecat", "add", "a" })
    assert.equal("user: polecat a spawned", line)
    assert.equal("gt: module override failed, going on without it: " .. rig ..
      ":2: unexpected symbol near '='\n", err)
    -- An error while it runs, the same.
    helpers.write(user, "local t = {}\nreturn t.x.y\n")
    assert.is_true(os.remove(rig))
    line, err = first_line(fx, { "polecat", "add", "b" })
    assert.equal("polecat b spawned in rig demo", line)
    assert.equal("gt: module override failed, going on without it: " .. user ..
      ":2: attempt to index a nil value (field 'x')\n", err)
    local code, out = gt_rig(fx, { "doctor" })
    assert.equal(1, code)
    assert.matches("\nproblem override: " .. pat(user) .. ":2: attempt to index a nil value %(field 'x'%)\n$",
      "\n" .. out)
  end)
end)
