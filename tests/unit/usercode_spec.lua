-- gt.usercode: running a user's file (its own environment, text only, what it registered
-- dropped when it fails), the one-line messages, and the gates of trust (content, init files,
-- a repository's hook file). usercode.run and one_line run in-process (the hooks it registers
-- are put back after each test); what records problems, says them once, tracks the command
-- table or reads the trust records of $XDG_STATE_HOME runs in a fresh gt process
-- (helpers.lua_child) with a state folder of its own.
local usercode = require("gt.usercode")
local hooks = require("gt.hooks")
local fs = require("gt.fs")
local helpers = require("helpers")

--- Runs `body` in a child gt whose state folder is `state`, with `args`; returns its result
--- table (ok, the values, stderr).
local function child(state, body, args, opts)
  local env = { XDG_STATE_HOME = state }
  for k, v in pairs(opts and opts.env or {}) do env[k] = v end
  local res = helpers.lua_child(body, args, { env = env, cwd = opts and opts.cwd })
  assert(res.ok, tostring(res.message) .. "\n" .. res.stderr)
  return res
end

--- The {event, where, only} of the hooks registered (hooks.list), in a child's body.
local LISTED = [[
local function listed()
  local out = {}
  for i, h in ipairs(require("gt.hooks").list()) do out[i] = { h.event, h.where, h.only } end
  return out
end
]]

describe("gt.usercode", function()
  local dir, state, saved
  before_each(function()
    dir = helpers.tmpdir("usercode")
    state = dir .. "/state"
    saved = hooks.checkpoint()
  end)
  after_each(function()
    hooks.rollback(saved)
  end)

  --- Writes `source` at `path` and runs it with usercode.run; returns its results.
  local function run_file(path, source, opts)
    helpers.write(path, source)
    return usercode.run(path, assert(usercode.read(path)), opts)
  end

  describe("run", function()
    it("runs a file in an environment of its own: its globals do not reach _G nor another file", function()
      local ok, value = run_file(dir .. "/a.lua", [[
from_a = "a"
print = "shadowed"
return { from_a = from_a, string = type(string.format), gt = type(gt), print = print }
]])
      assert.is_true(ok)
      assert.same({ from_a = "a", string = "function", gt = "table", print = "shadowed" }, value)
      assert.is_nil(rawget(_G, "from_a"))
      assert.equal("function", type(print))
      ok, value = run_file(dir .. "/b.lua", "return tostring(from_a), type(print)\n")
      assert.is_true(ok)
      assert.equal("nil", value)
    end)

    it("returns true and what the file returned", function()
      assert.same({ true, 42 }, { run_file(dir .. "/a.lua", "return 42, 'only the first'\n") })
      assert.same({ true }, { run_file(dir .. "/b.lua", "local x = 1\n") })
    end)

    it("refuses bytecode, naming the file", function()
      local path = dir .. "/compiled.lua"
      local bytes = string.dump(assert(load("hooked = true")))
      helpers.write(path, bytes)
      local ok, err = usercode.run(path, assert(usercode.read(path)))
      assert.is_false(ok)
      assert.equal(path .. ": attempt to load a binary chunk (mode is 't')", err)
      assert.is_nil(rawget(_G, "hooked"))
    end)

    it("says a syntax error in one line with the full path and line", function()
      local path = dir .. "/" .. ("deep-folder/"):rep(6) .. "init.lua"
      local ok, err = run_file(path, "local x = 1\nlocal = 2\n")
      assert.is_false(ok)
      assert.equal(path .. ":2: <name> expected near '='", err)
    end)

    it("says a runtime error in one line: its first line, the file's path in front", function()
      local path = dir .. "/init.lua"
      assert.same({ false, path .. ":2: boom" }, { run_file(path, "local x = 1\nerror('boom')\n") })
      -- require's error lists the places it searched on more lines: only the first is said.
      assert.same({ false, path .. ":1: module 'no.such.module' not found" },
        { run_file(path, "require('no.such.module')\n") })
      -- A gt error is said by its message, after the path.
      assert.same({ false, path .. ": issue T-1 is open" },
        { run_file(path, "error(gt.errors.new('refused', 'issue %s is open', 'T-1'))\n") })
      assert.same({ false, path .. ": plain" }, { run_file(path, "error('plain', 0)\n") })
    end)

    it("drops the hooks a failing file registered, keeping those registered before", function()
      hooks.on("post_remove", function() end)
      local before = hooks.list()
      local ok = run_file(dir .. "/init.lua", [[
gt.hooks.on("pre_spawn", function() end)
gt.hooks.on("post_remove", function() end)
error("late")
]])
      assert.is_false(ok)
      assert.same(before, hooks.list())
      -- The same file, fixed: its hooks stay.
      ok = run_file(dir .. "/init.lua", 'gt.hooks.on("pre_spawn", function() end)\n')
      assert.is_true(ok)
      assert.equal(#before + 1, #hooks.list())
      assert.equal(dir .. "/init.lua:1", hooks.list("pre_spawn")[1].where)
    end)

    it("checks the returned value with opts.check; a wrong one fails and drops what it registered", function()
      local seen = {}
      local function check(v)
        seen[#seen + 1] = v
        if type(v) ~= "table" then return "returned " .. tostring(v) .. ", not a table" end
      end
      local before = #hooks.list()
      local ok, err = run_file(dir .. "/m.lua", 'gt.hooks.on("pre_spawn", function() end)\nreturn 7\n',
        { check = check })
      assert.same({ false, dir .. "/m.lua: returned 7, not a table" }, { ok, err })
      assert.equal(before, #hooks.list())
      local value
      ok, value = run_file(dir .. "/m.lua", "return { x = 1 }\n", { check = check })
      assert.same({ true, { x = 1 } }, { ok, value })
      assert.same({ 7, { x = 1 } }, seen)
      -- Not called for a file that failed.
      run_file(dir .. "/m.lua", "error('x')\n", { check = check })
      assert.equal(2, #seen)
    end)

    it("restricts the hooks it registered to opts.scope, and only those", function()
      hooks.on("post_spawn", function() end)
      local path = dir .. "/polecats/a/demo/.gt/hooks.lua"
      local ok = run_file(path,
        'gt.hooks.on("post_spawn", function() end)\ngt.hooks.on("pre_remove", function() end)\n',
        { scope = "demo/a" })
      assert.is_true(ok)
      local only = {}
      for _, h in ipairs(hooks.list()) do only[#only + 1] = (h.only or "-") .. " " .. h.file:gsub("^.*/", "") end
      assert.same({ "- usercode_spec.lua", "demo/a hooks.lua", "demo/a hooks.lua" }, only)
      -- A failing scoped file leaves nothing.
      local before = hooks.list()
      assert.is_false((run_file(path, 'gt.hooks.on("pre_remove", function() end)\nerror("x")\n', { scope = "demo/b" })))
      assert.same(before, hooks.list())
    end)

    it("drops the commands of a failing file once the command table is tracked (tracked once)", function()
      local res = child(state, [[
local usercode = require("gt.usercode")
local commands = require("gt.commands")
local path = ...
local function run(src) return (usercode.run(path, src)) end
local register = 'gt.commands.register({ name = "zz %s", summary = "x", run = function() return 0 end })\n'
local out = {}
out.untracked = run(register:format("one") .. "error('x')")
out.one_stays = commands.get("zz one") ~= nil
usercode.track(commands)
out.tracked = run(register:format("two") ..
  "gt.commands.override('polecat list', function(orig, cmd) return orig(cmd) end)\nerror('x')")
out.two_gone = commands.get("zz two") == nil
out.list_source = commands.get("polecat list").source
out.fixed = run(register:format("three"))
out.three_stays = commands.get("zz three") ~= nil
-- Any registry with checkpoint and rollback; tracked twice, it is asked once.
local calls = { checkpoint = 0, rollback = 0 }
local registry = {
  checkpoint = function() calls.checkpoint = calls.checkpoint + 1 return {} end,
  rollback = function() calls.rollback = calls.rollback + 1 end,
}
usercode.track(registry)
usercode.track(registry)
run("error('x')")
out.calls = calls
return out
]], { dir .. "/init.lua" })
      assert.same({ untracked = false, one_stays = true, tracked = false, two_gone = true,
        list_source = "built-in", fixed = true, three_stays = true, calls = { checkpoint = 1, rollback = 1 } }, res[1])
    end)
  end)

  describe("one_line", function()
    local path = "/home/ana/" .. ("a-long-folder-name/"):rep(4) .. ".config/gt/init.lua"

    it("keeps the first line, without the colon Lua left before the next", function()
      assert.equal(path .. ":3: module 'x' not found",
        usercode.one_line(path .. ":3: module 'x' not found:\n\tno field package.preload['x']\n\tno file 'x.lua'",
          path))
      assert.equal(path .. ":3: a: b", usercode.one_line(path .. ":3: a: b\nmore", path))
      assert.equal(path .. ":3: ends with a colon:", usercode.one_line(path .. ":3: ends with a colon:", path))
    end)

    it("gives back the full path where Lua shortened it", function()
      local short = "..." .. path:sub(-50) .. ":12: boom"
      assert.equal(path .. ":12: boom", usercode.one_line(short, path))
    end)

    it("puts the path in front of a message that does not name the file", function()
      assert.equal("/u/init.lua: refused", usercode.one_line("refused", "/u/init.lua"))
      assert.equal("/u/init.lua: 42", usercode.one_line(42, "/u/init.lua"))
      assert.equal("/u/init.lua: first", usercode.one_line("first:\nsecond", "/u/init.lua"))
      assert.equal("/u/init.lua:1: x", usercode.one_line("/u/init.lua:1: x", "/u/init.lua"))
    end)
  end)

  describe("content", function()
    it("of a folder the user owns: the file read as it is, or why it cannot be", function()
      helpers.write(dir .. "/init.lua", "x = 1\n")
      assert.same({ "x = 1\n" }, { usercode.content(dir .. "/init.lua", true) })
      assert.same({ nil, dir .. "/missing.lua: No such file or directory" },
        { usercode.content(dir .. "/missing.lua", true) })
      assert.is_true(helpers.run({ "mkfifo", dir .. "/fifo.lua" }).ok)
      assert.same({ nil, dir .. "/fifo.lua: not a regular file (other)" },
        { usercode.content(dir .. "/fifo.lua", true) })
      helpers.write(dir .. "/big.lua", ("-"):rep(require("gt.trust").MAX_BYTES + 1))
      assert.same({ nil, dir .. "/big.lua: larger than 1048576 bytes" }, { usercode.content(dir .. "/big.lua", true) })
    end)

    it("of another folder: the file only when trusted; else a refusal, recorded and said once", function()
      local town = dir .. "/clone"
      local path = town .. "/.gt/init.lua"
      helpers.write(path, "x = 1\n")
      assert.is_true(helpers.run({ "mkfifo", dir .. "/fifo.lua" }).ok)
      local refusal = path .. " was not run: " .. town .. " is not a town or rig you made here (gt init, " ..
        "gt rig add); if it is yours: gt trust " .. town
      local res = child(state, [[
local usercode = require("gt.usercode")
local trust = require("gt.trust")
local path, fifo = ...
local out = {}
out.untrusted = { usercode.content(path, false) }
out.again = { usercode.content(path, false) }
out.unreadable = { usercode.content(fifo, false) }
trust.add(path)
out.trusted = { usercode.content(path, false) }
local f = assert(io.open(path, "a")) f:write("y = 2\n") f:close()
out.changed = { usercode.content(path, false) }
out.problems = usercode.problems
return out
]], { path, dir .. "/fifo.lua" })
      local out = res[1]
      assert.same({ nil, nil, refusal }, out.untrusted)
      assert.same({ nil, nil, refusal }, out.again)
      local fifo_refusal = dir .. "/fifo.lua was not run: " .. dir .. "/fifo.lua: not a regular file (other)"
      assert.same({ nil, nil, fifo_refusal }, out.unreadable)
      assert.same({ "x = 1\n" }, out.trusted)
      assert.same({ nil, nil, refusal }, out.changed)
      -- Said on stderr and recorded once for each file.
      assert.equal("gt: " .. refusal .. "\ngt: " .. fifo_refusal .. "\n", res.stderr)
      assert.same({ { kind = "untrusted", path = path, message = refusal },
        { kind = "untrusted", path = dir .. "/fifo.lua", message = fifo_refusal } }, out.problems)
    end)
  end)

  describe("load_init", function()
    local LOAD = LISTED .. [[
local usercode = require("gt.usercode")
local hooks = require("gt.hooks")
local path, owned, trust_it = ...
if trust_it == "trust" then require("gt.trust").add(path) end
local result = usercode.load_init(path, owned == "owned")
local loaded, why = pcall(hooks.check_loaded)
return { result = result, hooks = listed(), problems = usercode.problems, loaded = loaded,
  why = not loaded and why.message or nil, leaked = rawget(_G, "RAN") }
]]
    local mark
    before_each(function() mark = ("io.open(%q, 'w'):close()\n"):format(dir .. "/RAN") end)

    local function load_init(path, ...)
      local res = child(state, LOAD, { path, ... })
      return res[1], res.stderr
    end

    it("returns nil for a missing file, and records nothing", function()
      local out, err = load_init(dir .. "/init.lua", "owned")
      assert.same({ hooks = {}, problems = {}, loaded = true }, out)
      assert.equal("", err)
    end)

    it("runs the file of an owned folder: true, its hooks registered", function()
      local path = dir .. "/init.lua"
      helpers.write(path, "RAN = true\ngt.hooks.on('pre_spawn', function() end)\n" .. mark)
      local out, err = load_init(path, "owned")
      assert.equal("", err)
      assert.is_true(helpers.exists(dir .. "/RAN"))
      -- Its global RAN stays in its own environment (no `leaked`).
      assert.same({ result = true, hooks = { { "pre_spawn", path .. ":2" } }, problems = {}, loaded = true }, out)
    end)

    it("of a broken file: false, said in one line, its hooks dropped, recorded, hooks refuse to run", function()
      local path = dir .. "/init.lua"
      helpers.write(path, "gt.hooks.on('pre_spawn', function() end)\nerror('boom')\n")
      local out, err = load_init(path, "owned")
      local why = path .. ":2: boom"
      assert.equal("gt: init file failed, going on without it: " .. why .. "\n", err)
      assert.same({ result = false, hooks = {}, problems = { { kind = "init", path = path, message = why } },
        loaded = false, why = "refusing to run without the hooks of an init file that did not load: " ..
        why .. "; fix it, or run gt --clean to go on without user code" }, out)
    end)

    it("of an unreadable file: false, recorded", function()
      local path = dir .. "/init.lua"
      assert(fs.mkdir_p(path))
      local out, err = load_init(path, "owned")
      local why = path .. ": not a regular file (directory)"
      assert.equal("gt: init file failed, going on without it: " .. why .. "\n", err)
      assert.same({ { kind = "init", path = path, message = why } }, out.problems)
      assert.same({ false, false }, { out.result, out.loaded })
    end)

    it("of a folder not owned: not run unless the file is trusted, and hooks refuse to run", function()
      local path = dir .. "/clone/.gt/init.lua"
      helpers.write(path, "RAN = true\ngt.hooks.on('pre_spawn', function() end)\n" .. mark)
      local out, err = load_init(path, "not-owned")
      local refusal = path .. " was not run: " .. dir .. "/clone is not a town or rig you made here " ..
        "(gt init, gt rig add); if it is yours: gt trust " .. dir .. "/clone"
      assert.equal("gt: " .. refusal .. "\n", err)
      assert.same({ result = false, hooks = {}, problems = { { kind = "untrusted", path = path, message = refusal } },
        loaded = false, why = "refusing to run without the hooks of an init file that did not load: " ..
        refusal .. "; fix it, or run gt --clean to go on without user code" }, out)
      assert.is_false(helpers.exists(dir .. "/RAN"))
      out, err = load_init(path, "not-owned", "trust")
      assert.equal("", err)
      assert.is_true(helpers.exists(dir .. "/RAN"))
      assert.same({ result = true, hooks = { { "pre_spawn", path .. ":2" } }, problems = {}, loaded = true }, out)
    end)
  end)

  describe("load_repo_hooks", function()
    local wt, file, MARK
    before_each(function()
      wt = dir .. "/town/demo/polecats/a/demo"
      file = wt .. "/.gt/hooks.lua"
      MARK = ("io.open(%q, 'w'):close()\n"):format(dir .. "/RAN")
    end)

    local LOAD = LISTED .. [[
local wt, trust_it, enabled = ...
if trust_it == "trust" then require("gt.trust").add(wt .. "/.gt/hooks.lua") end
local usercode = require("gt.usercode")
usercode.enabled = enabled ~= "clean"
return usercode.load_repo_hooks(wt, "demo/a"), listed()
]]
    local function load(...)
      local res = child(state, LOAD, { wt, ... })
      return res[1], res[2], res.stderr
    end
    local function ran() return helpers.exists(dir .. "/RAN") end

    it("finds none in a worktree without a hook file", function()
      assert(fs.mkdir_p(wt))
      assert.same({ "none", {}, "" }, { load() })
    end)

    it("does not run an untrusted file, and says how to trust it", function()
      helpers.write(file, "gt.hooks.on('post_spawn', function() end)\n" .. MARK)
      assert.same({ "untrusted", {}, ("gt: warning: %s is not trusted, so it was not run (read it, then: " ..
        "gt trust %s)\n"):format(file, file) }, { load() })
      assert.is_false(ran())
    end)

    it("runs a trusted file, its hooks for that polecat only", function()
      helpers.write(file, "gt.hooks.on('post_spawn', function() end)\n" ..
        "gt.hooks.on('pre_remove', function() end)\n" .. MARK)
      assert.same({ "trusted", { { "post_spawn", file .. ":1", "demo/a" }, { "pre_remove", file .. ":2", "demo/a" } },
        "" }, { load("trust") })
      assert.is_true(ran())
    end)

    it("does not run a file changed since it was trusted", function()
      helpers.write(file, "gt.hooks.on('post_spawn', function() end)\n")
      assert.equal("trusted", (load("trust")))
      helpers.write(file, "gt.hooks.on('post_spawn', function() end)\n" .. MARK)
      assert.same({ "changed", {}, ("gt: warning: %s is changed since it was trusted, so it was not run " ..
        "(read it, then: gt trust %s)\n"):format(file, file) }, { load() })
      assert.is_false(ran())
    end)

    it("skips what is not a regular file, saying why", function()
      assert(fs.mkdir_p(wt .. "/.gt"))
      assert.is_true(helpers.run({ "mkfifo", file }).ok)
      assert.same({ "skipped", {},
        ("gt: warning: %s was not run: %s: not a regular file (other)\n"):format(file, file) }, { load() })
    end)

    it("drops all the hooks of a trusted file that fails, and says so", function()
      helpers.write(file, "gt.hooks.on('post_spawn', function() end)\nerror('late')\n")
      assert.same({ "failed", {}, ("gt: warning: repository hooks %s failed to load, going on without them: " ..
        "%s:2: late\n"):format(file, file) }, { load("trust") })
    end)

    it("runs nothing with gt --clean (enabled = false), nor does load_init", function()
      helpers.write(file, "gt.hooks.on('post_spawn', function() end)\n" .. MARK)
      assert.same({ "none", {}, "" }, { load("trust", "clean") })
      local init = dir .. "/init.lua"
      helpers.write(init, MARK)
      local res = child(state, [[
local usercode = require("gt.usercode")
usercode.enabled = false
local result = usercode.load_init(..., true)
return result == nil, #usercode.problems
]], { init })
      assert.same({ true, 0 }, { res[1], res[2] })
      assert.equal("", res.stderr)
      assert.is_false(ran())
    end)
  end)

  it("reads user files as gt.trust does", function()
    assert.equal(require("gt.trust").read, usercode.read)
  end)
end)
