-- The hooks of examples/, loaded from an init file with dofile as docs/hooks.md says, each
-- doing its job in a real spawn or remove.
local helpers = require("helpers")
local witness = require("witness")
local user_code = require("user_code")

local gt_rig, init, pat = user_code.gt, user_code.init, user_code.pat
local ROOT = debug.getinfo(1, "S").source:match("^@(.-)/?tests/functional/[^/]*$")
if ROOT == "" then ROOT = "." end
ROOT = assert(require("gt.fs").realpath(ROOT))

--- The path of example `name`, and the number of its first line that matches `pattern`.
local function example(name, pattern)
  local path = ROOT .. "/examples/" .. name
  local n = 0
  for line in io.lines(path) do
    n = n + 1
    if pattern and line:find(pattern) then return path, n end
  end
  assert(not pattern, "no line matches " .. tostring(pattern))
  return path
end

--- Writes a user init file that runs example `name`.
local function use(fx, name)
  init(fx, "user", ("dofile(%q)\n"):format(example(name)))
end

local function spawned(fx, name)
  return ("polecat %s spawned in rig demo\n  branch  %s\n  path    %s/polecats/%s/demo\n"):format(
    name, witness.agent(fx, name).branch, fx.rig, name)
end

describe("examples/", function()
  local fx
  before_each(function() fx = user_code.fixture({ fetch_always = true }) end)

  describe("install-deps.lua", function()
    -- npm, offline: a project whose one dependency is a folder of its own (file:), so that
    -- `npm ci` makes node_modules without the network.
    local NPM_ENV
    before_each(function()
      NPM_ENV = { npm_config_offline = "true", npm_config_update_notifier = "false",
        npm_config_cache = fx.dir .. "/npm-cache" }
      helpers.write(fx.work .. "/lib/package.json", '{ "name": "lib", "version": "1.0.0" }\n')
      helpers.write(fx.work .. "/package.json",
        '{ "name": "app", "version": "1.0.0", "dependencies": { "lib": "file:lib" } }\n')
      helpers.push_commit(fx, "package-lock.json", [[
{
  "name": "app",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": { "name": "app", "version": "1.0.0", "dependencies": { "lib": "file:lib" } },
    "lib": { "version": "1.0.0" },
    "node_modules/lib": { "resolved": "lib", "link": true }
  }
}
]], "an npm project")
      use(fx, "install-deps.lua")
    end)

    it("runs npm ci in the new worktree", function()
      if not require("gt.proc").which("npm") then return pending("needs npm") end
      local code, out, err = gt_rig(fx, { "polecat", "add", "a" }, { env = NPM_ENV })
      assert.equal(0, code, err)
      assert.equal(spawned(fx, "a"), out)
      assert.matches("^gt: a: npm ci %-%-no%-audit %-%-no%-fund\n", err)
      local wt = fx.rig .. "/polecats/a/demo"
      assert.equal("link", require("gt.fs").lstat(wt .. "/node_modules/lib").type)
      assert.equal(wt .. "/lib", require("gt.fs").realpath(wt .. "/node_modules/lib"))
    end)

    it("rolls the spawn back when npm ci fails", function()
      if not require("gt.proc").which("npm") then return pending("needs npm") end
      -- package.json asks for what the lock file does not pin: npm ci refuses.
      helpers.write(fx.work .. "/other/package.json", '{ "name": "other", "version": "1.0.0" }\n')
      helpers.push_commit(fx, "package.json", '{ "name": "app", "version": "1.0.0", ' ..
        '"dependencies": { "lib": "file:lib", "other": "file:other" } }\n', "lock out of date")
      local path, line = example("install-deps.lua", "if not r%.ok then error")
      local code, out, err = gt_rig(fx, { "polecat", "add", "a" }, { env = NPM_ENV })
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("\ngt: polecat add: a: post_spawn hook %(" .. pat(path) .. ":" .. line ..
        "%): npm failed %(exit 1%): npm error", err)
      assert.same({}, witness.ls(fx.rig .. "/polecats"))
      assert.same({}, witness.branches(fx, "polecat/"))
      assert.same({}, witness.records(fx))
      assert.equal("failed", witness.agent(fx, "a").state)
    end)
  end)

  describe("copy-env.lua", function()
    it("copies <rig>/.gt/template into the new worktree, leaving tracked files alone", function()
      local template = fx.rig .. "/.gt/template"
      helpers.write(template .. "/.env", "TOKEN=s3cret\n")
      helpers.run({ "chmod", "600", template .. "/.env" })
      helpers.write(template .. "/config/local.json", "{ \"debug\": true }\n")
      helpers.write(template .. "/a.txt", "from the template\n") -- a.txt is the project's
      use(fx, "copy-env.lua")
      local code, out, err = gt_rig(fx, { "polecat", "add", "a" })
      assert.equal(0, code, err)
      assert.equal(spawned(fx, "a"), out)
      assert.matches("^gt: a: copied %.env %((%a+)%)\ngt: a: copied config/local%.json %((%a+)%)\n$", err)
      for how in err:gmatch("%((%a+)%)") do assert.is_true(how == "reflink" or how == "copy", how) end
      local wt = fx.rig .. "/polecats/a/demo"
      assert.equal("TOKEN=s3cret\n", helpers.read(wt .. "/.env"))
      assert.equal(tonumber("600", 8), require("gt.fs").stat(wt .. "/.env").mode)
      assert.equal("{ \"debug\": true }\n", helpers.read(wt .. "/config/local.json"))
      assert.equal("hello\nworld\n", helpers.read(wt .. "/a.txt"))
      assert.equal("?? .env\n?? config/\n", helpers.git(wt, "status", "--porcelain") .. "\n")
    end)

    it("does nothing without a template", function()
      use(fx, "copy-env.lua")
      local code, out, err = gt_rig(fx, { "polecat", "add", "a" })
      assert.equal(0, code, err)
      assert.equal("", err)
      assert.equal(spawned(fx, "a"), out)
      assert.equal("", helpers.git(fx.rig .. "/polecats/a/demo", "status", "--porcelain"))
    end)
  end)

  describe("open-issue-guard.lua", function()
    it("refuses to remove a polecat whose branch says its issue is open, even forced", function()
      use(fx, "open-issue-guard.lua")
      local code, _, err = gt_rig(fx, { "--clean", "polecat", "add", "a", "--issue", "42" })
      assert.equal(0, code, err)
      local wt = fx.rig .. "/polecats/a/demo"
      helpers.write(wt .. "/fix.txt", "half a fix\n")
      helpers.git(wt, "add", "fix.txt")
      helpers.git(wt, "commit", "-q", "-m", "start the fix\n\nIssue-State: open")
      local oid = helpers.git(wt, "rev-parse", "HEAD")
      local path, line = example("open-issue-guard.lua", "error%(")

      local before = witness.snapshot(fx)
      local out
      code, out, err = gt_rig(fx, { "polecat", "remove", "--force", "a" })
      assert.equal(3, code)
      assert.equal("", out)
      assert.equal(("gt: polecat remove: a: pre_remove hook (%s:%d): a's issue 42 is still open " ..
        "(commit %s says so); close it first\n"):format(path, line, oid:sub(1, 10)), err)
      assert.same(before, witness.snapshot(fx))

      -- A later commit closes it: the remove goes through (saving the unpushed commits).
      helpers.write(wt .. "/fix.txt", "the whole fix\n")
      helpers.git(wt, "commit", "-q", "-am", "finish the fix\n\nIssue-State: closed")
      code, out, err = gt_rig(fx, { "polecat", "remove", "--force", "a" })
      assert.equal(0, code, err)
      assert.equal("", err)
      assert.matches("^removed polecat a\n  unsaved work saved to refs/gt/salvage/demo/a/", out)
      assert.equal("removed", witness.agent(fx, "a").state)
      assert.is_false(helpers.exists(wt))
    end)

    it("lets a branch without the trailer go", function()
      use(fx, "open-issue-guard.lua")
      local code, _, err = gt_rig(fx, { "--clean", "polecat", "add", "a" })
      assert.equal(0, code, err)
      local out
      code, out, err = gt_rig(fx, { "polecat", "remove", "a" })
      assert.equal(0, code, err)
      assert.equal("removed polecat a\n", out)
    end)
  end)
end)
