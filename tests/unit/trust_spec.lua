-- gt.trust on real files: what it reads (regular files only, bounded), the folders the user
-- owns, and the trust given to files by content. Its records live in $XDG_STATE_HOME/gt, which
-- it finds through the environment: every test that records something runs gt.trust in a
-- fresh gt process (helpers.lua_child) with a state folder of its own, and reads the records it
-- left with plain file reads; sha256sum is the witness of the hashes.
local trust = require("gt.trust")
local fs = require("gt.fs")
local helpers = require("helpers")

--- The SHA-256 of file `path` as sha256sum computes it.
local function sha256sum(path)
  local r = helpers.run({ "sha256sum", path })
  assert.equal(0, r.code, r.stderr)
  return r.stdout:match("^(%x+)  ")
end

--- Runs gt.trust[fname](...) in a child gt whose state folder is `state`; returns its result
--- table (helpers.lua_child). opts.cwd: where it runs.
local function call(state, fname, args, opts)
  local full = { fname }
  for _, a in ipairs(args or {}) do full[#full + 1] = a end
  return helpers.lua_child('local fname = ...\nreturn require("gt.trust")[fname](select(2, ...))', full,
    { env = { XDG_STATE_HOME = state }, cwd = opts and opts.cwd })
end

--- As call, returning what the function returned (the test fails if it raised).
local function ok(state, fname, ...)
  local res = call(state, fname, { ... })
  assert(res.ok, res.message)
  return table.unpack(res, 1, res.n)
end

--- As call, for a function that must raise: returns the error ({kind, message}).
local function raises(state, fname, ...)
  local res = call(state, fname, { ... })
  assert.is_false(res.ok, "no error was raised")
  return res
end

describe("gt.trust", function()
  local dir, state
  before_each(function()
    dir = helpers.tmpdir("trust")
    state = dir .. "/state"
  end)

  local function db() return helpers.read(state .. "/gt/trust") end
  local function owned_file() return helpers.read(state .. "/gt/owned") end

  describe("read", function()
    it("returns the whole content of a regular file, also through a link", function()
      helpers.write(dir .. "/f.lua", "return 1\n\0binary\255")
      assert.equal("return 1\n\0binary\255", trust.read(dir .. "/f.lua"))
      assert.is_true(helpers.run({ "ln", "-s", dir .. "/f.lua", dir .. "/link.lua" }).ok)
      assert.equal("return 1\n\0binary\255", trust.read(dir .. "/link.lua"))
      helpers.write(dir .. "/empty", "")
      assert.equal("", trust.read(dir .. "/empty"))
    end)

    it("refuses a FIFO without waiting on it, a folder and a link to a device (ENOTREG)", function()
      assert.is_true(helpers.run({ "mkfifo", dir .. "/fifo" }).ok)
      assert.is_true(helpers.run({ "ln", "-s", "/dev/zero", dir .. "/zero" }).ok)
      assert.same({ nil, dir .. "/fifo: not a regular file (other)", "ENOTREG" },
        { trust.read(dir .. "/fifo") })
      assert.same({ nil, dir .. ": not a regular file (directory)", "ENOTREG" }, { trust.read(dir) })
      assert.same({ nil, dir .. "/zero: not a regular file (other)", "ENOTREG" },
        { trust.read(dir .. "/zero") })
    end)

    it("reads a file of MAX_BYTES, refuses one byte more (ETOOBIG)", function()
      assert.equal(1024 * 1024, trust.MAX_BYTES)
      helpers.write(dir .. "/max", ("x"):rep(trust.MAX_BYTES))
      assert.equal(trust.MAX_BYTES, #trust.read(dir .. "/max"))
      helpers.write(dir .. "/big", ("x"):rep(trust.MAX_BYTES + 1))
      local data, err, code = trust.read(dir .. "/big")
      assert.is_nil(data)
      assert.equal("ETOOBIG", code)
      assert.equal(dir .. "/big: larger than 1048576 bytes", err)
    end)

    it("says why a missing file cannot be read", function()
      local data, err, code = trust.read(dir .. "/missing")
      assert.is_nil(data)
      assert.equal(dir .. "/missing: No such file or directory", err)
      assert.equal("ENOTFOUND", code)
    end)
  end)

  describe("the records", function()
    it("live in $XDG_STATE_HOME/gt", function()
      assert.same({ state .. "/gt/trust", state .. "/gt/owned" },
        { ok(state, "db_path"), ok(state, "owned_path") })
    end)
  end)

  describe("own, owns, owned", function()
    it("records a folder's real path once, however it is named", function()
      local town = dir .. "/town"
      assert(fs.mkdir_p(town))
      assert.is_true(helpers.run({ "ln", "-s", town, dir .. "/alias" }).ok)
      assert.is_false(ok(state, "owns", town))
      assert.equal(town, ok(state, "own", dir .. "/alias"))
      assert.equal(town .. "\n", owned_file())
      assert.is_true(ok(state, "owns", town))
      assert.is_true(ok(state, "owns", dir .. "/alias"))
      assert.is_true(ok(state, "owns", town .. "/"))
      -- Again, by either name: still one record.
      assert.equal(town, ok(state, "own", town))
      assert.equal(town, ok(state, "own", dir .. "/./alias"))
      assert.equal(town .. "\n", owned_file())
      assert.same({ town }, ok(state, "owned"))
    end)

    it("keeps the folders apart: one owned, another not, a gone one not", function()
      for _, n in ipairs({ "a", "b", "c" }) do assert(fs.mkdir_p(dir .. "/" .. n)) end
      ok(state, "own", dir .. "/a")
      ok(state, "own", dir .. "/c")
      assert.same({ dir .. "/a", dir .. "/c" }, ok(state, "owned"))
      assert.is_false(ok(state, "owns", dir .. "/b"))
      assert.is_false(ok(state, "owns", dir))
      assert.is_false(ok(state, "owns", dir .. "/a/sub"))
      assert(fs.rmdir(dir .. "/c"))
      assert.is_false(ok(state, "owns", dir .. "/c"))
      -- The records are not the file of file trust.
      assert.is_nil(db())
    end)

    it("owns nothing when nothing is recorded; refuses to own a missing folder", function()
      assert.same({}, ok(state, "owned"))
      local e = raises(state, "own", dir .. "/missing")
      assert.equal("notfound", e.kind)
      assert.equal(dir .. "/missing: No such file or directory", e.message)
      assert.is_nil(owned_file())
    end)
  end)

  describe("add", function()
    it("records a file's SHA-256 and real path, and returns them", function()
      local file = dir .. "/project/.gt/hooks.lua"
      helpers.write(file, "print('hi')\n")
      assert.is_true(helpers.run({ "ln", "-s", dir .. "/project", dir .. "/alias" }).ok)
      local sha = sha256sum(file)
      assert.same({ file, sha }, { ok(state, "add", dir .. "/alias/.gt/hooks.lua") })
      assert.equal(sha .. " " .. file .. "\n", db())
      assert.same({ { sha = sha, path = file } }, ok(state, "entries"))
    end)

    it("resolves a relative path from the current folder", function()
      local file = dir .. "/project/hooks.lua"
      helpers.write(file, "x = 1\n")
      local res = call(state, "add", { "hooks.lua" }, { cwd = dir .. "/project" })
      assert(res.ok, res.message)
      assert.equal(file, res[1])
      assert.equal(sha256sum(file) .. " " .. file .. "\n", db())
    end)

    it("replaces the record of a file trusted again, keeping the others", function()
      local a, b = dir .. "/a.lua", dir .. "/b.lua"
      helpers.write(a, "a = 1\n")
      helpers.write(b, "b = 1\n")
      ok(state, "add", a)
      ok(state, "add", b)
      local sha_b = sha256sum(b)
      helpers.write(a, "a = 2\n")
      local _, sha_a = ok(state, "add", a)
      assert.equal(sha256sum(a), sha_a)
      assert.equal(sha_b .. " " .. b .. "\n" .. sha_a .. " " .. a .. "\n", db())
    end)

    it("of a town or a rig folder, records it as the user's own", function()
      local town, rig = dir .. "/town", dir .. "/town/demo"
      helpers.write(town .. "/.gt/town.lua", "return {}\n")
      helpers.write(rig .. "/.gt/rig.lua", "return {}\n")
      assert.same({ town }, { ok(state, "add", town) })
      assert.same({ rig }, { ok(state, "add", rig .. "/") })
      assert.equal(town .. "\n" .. rig .. "\n", owned_file())
      assert.is_nil(db())
    end)

    it("of a plain folder is a usage error, and records nothing", function()
      assert(fs.mkdir_p(dir .. "/plain/.gt"))
      local e = raises(state, "add", dir .. "/plain")
      assert.equal("usage", e.kind)
      assert.equal(dir .. "/plain is a folder but not a town or a rig: trust a file, or a town or rig folder",
        e.message)
      assert.is_nil(owned_file())
      assert.is_nil(db())
    end)

    it("of a missing file, a FIFO or a file too large, fails and records nothing", function()
      local e = raises(state, "add", dir .. "/missing.lua")
      assert.same({ "notfound", "no file " .. dir .. "/missing.lua" }, { e.kind, e.message })
      assert.is_true(helpers.run({ "mkfifo", dir .. "/fifo" }).ok)
      e = raises(state, "add", dir .. "/fifo")
      assert.same({ "failure", dir .. "/fifo: not a regular file (other)" }, { e.kind, e.message })
      helpers.write(dir .. "/big.lua", ("-"):rep(trust.MAX_BYTES + 1))
      e = raises(state, "add", dir .. "/big.lua")
      assert.same({ "failure", dir .. "/big.lua: larger than 1048576 bytes" }, { e.kind, e.message })
      assert.is_nil(db())
    end)
  end)

  describe("check", function()
    it("says untrusted, trusted, then changed, returning the real path, hash and content", function()
      local file = dir .. "/hooks.lua"
      helpers.write(file, "one = 1\n")
      assert.is_true(helpers.run({ "ln", "-s", file, dir .. "/link.lua" }).ok)
      local sha1 = sha256sum(file)
      assert.same({ "untrusted", file, sha1, "one = 1\n" }, { ok(state, "check", dir .. "/link.lua") })
      ok(state, "add", file)
      assert.same({ "trusted", file, sha1, "one = 1\n" }, { ok(state, "check", dir .. "/link.lua") })
      helpers.write(file, "two = 2\n")
      assert.same({ "changed", file, sha256sum(file), "two = 2\n" }, { ok(state, "check", file) })
      -- Back to the content that was trusted: trusted again.
      helpers.write(file, "one = 1\n")
      assert.equal("trusted", (ok(state, "check", file)))
    end)

    it("trusts by path and content: the same content elsewhere is not trusted", function()
      helpers.write(dir .. "/a/hooks.lua", "same\n")
      helpers.write(dir .. "/b/hooks.lua", "same\n")
      ok(state, "add", dir .. "/a/hooks.lua")
      assert.equal("untrusted", (ok(state, "check", dir .. "/b/hooks.lua")))
    end)

    it("cannot read a folder, a FIFO or a missing file: nil, why, code", function()
      assert.is_true(helpers.run({ "mkfifo", dir .. "/fifo" }).ok)
      assert.same({ nil, dir .. "/fifo: not a regular file (other)", "ENOTREG" }, { trust.check(dir .. "/fifo") })
      assert.same({ nil, dir .. ": not a regular file (directory)", "ENOTREG" }, { trust.check(dir) })
      assert.same({ nil, dir .. "/missing: No such file or directory", "ENOTFOUND" },
        { trust.check(dir .. "/missing") })
    end)
  end)

  describe("scope", function()
    local rig
    local function hooks(name, rig_root)
      return (rig_root or rig) .. "/polecats/" .. name .. "/demo/.gt/hooks.lua"
    end
    before_each(function() rig = dir .. "/town/demo" end)

    it("is layout.trust_scope", function()
      assert.equal(require("gt.layout").trust_scope, trust.scope)
      assert.equal(rig .. "/polecats/*/demo/.gt/hooks.lua", trust.scope(hooks("a")))
    end)

    it("makes trust in one polecat's file cover the same content in another polecat of the rig", function()
      helpers.write(hooks("a"), "v1\n")
      helpers.write(hooks("b"), "v1\n")
      ok(state, "add", hooks("a"))
      assert.same({ "trusted", hooks("b"), sha256sum(hooks("b")), "v1\n" }, { ok(state, "check", hooks("b")) })
      -- Other content in b: changed, as in a.
      helpers.write(hooks("b"), "v2\n")
      assert.equal("changed", (ok(state, "check", hooks("b"))))
      -- Trust in b too: both contents are trusted in a third polecat; a third content is not.
      ok(state, "add", hooks("b"))
      helpers.write(hooks("c"), "v1\n")
      assert.equal("trusted", (ok(state, "check", hooks("c"))))
      helpers.write(hooks("c"), "v2\n")
      assert.equal("trusted", (ok(state, "check", hooks("c"))))
      helpers.write(hooks("c"), "v3\n")
      assert.equal("changed", (ok(state, "check", hooks("c"))))
    end)

    it("stops at the rig: the same file in another rig's polecat, or another file, is not covered", function()
      local other = dir .. "/town/web"
      helpers.write(hooks("a"), "v1\n")
      helpers.write(hooks("a", other), "v1\n")
      helpers.write(rig .. "/polecats/b/demo/other.lua", "v1\n")
      ok(state, "add", hooks("a"))
      assert.equal("untrusted", (ok(state, "check", hooks("a", other))))
      assert.equal("untrusted", (ok(state, "check", rig .. "/polecats/b/demo/other.lua")))
    end)
  end)

  describe("revoke", function()
    it("withdraws a file's trust and returns how many records went", function()
      helpers.write(dir .. "/a.lua", "a\n")
      helpers.write(dir .. "/b.lua", "b\n")
      ok(state, "add", dir .. "/a.lua")
      ok(state, "add", dir .. "/b.lua")
      assert.equal(1, ok(state, "revoke", dir .. "/a.lua"))
      assert.equal(sha256sum(dir .. "/b.lua") .. " " .. dir .. "/b.lua\n", db())
      assert.equal("untrusted", (ok(state, "check", dir .. "/a.lua")))
      assert.equal(1, ok(state, "revoke", dir .. "/b.lua"))
      assert.equal("", db())
    end)

    it("withdraws the trust that covers the file in every polecat of the rig", function()
      local rig = dir .. "/town/demo"
      local a = rig .. "/polecats/a/demo/.gt/hooks.lua"
      local b = rig .. "/polecats/b/demo/.gt/hooks.lua"
      local keep = dir .. "/elsewhere/.gt/hooks.lua"
      helpers.write(a, "v1\n")
      helpers.write(b, "v2\n")
      helpers.write(keep, "v1\n")
      ok(state, "add", a)
      ok(state, "add", b)
      ok(state, "add", keep)
      -- Through a third polecat's copy.
      helpers.write(rig .. "/polecats/c/demo/.gt/hooks.lua", "v3\n")
      assert.equal(2, ok(state, "revoke", rig .. "/polecats/c/demo/.gt/hooks.lua"))
      assert.equal(sha256sum(keep) .. " " .. keep .. "\n", db())
      assert.equal("untrusted", (ok(state, "check", a)))
    end)

    it("withdraws the trust of a file that is gone, by its absolute or relative path", function()
      local rig = dir .. "/town/demo"
      local a = rig .. "/polecats/a/demo/.gt/hooks.lua"
      helpers.write(a, "v1\n")
      helpers.write(dir .. "/gone.lua", "x\n")
      ok(state, "add", a)
      ok(state, "add", dir .. "/gone.lua")
      assert(fs.remove_tree(rig .. "/polecats/a"))
      assert(os.remove(dir .. "/gone.lua"))
      assert.equal(1, ok(state, "revoke", dir .. "/gone.lua"))
      local res = call(state, "revoke", { "./polecats/a/demo/.gt/hooks.lua" }, { cwd = rig })
      assert(res.ok, res.message)
      assert.equal(1, res[1])
      assert.equal("", db())
    end)

    -- A gone file's path is resolved as far as it still exists (trust.real_path).
    it("withdraws the trust of a gone file named through a link or with ..", function()
      local a = dir .. "/town/demo/polecats/a/demo/.gt/hooks.lua"
      helpers.write(a, "v1\n")
      assert.is_true(helpers.run({ "ln", "-s", dir .. "/town", dir .. "/alias" }).ok)
      ok(state, "add", a)
      assert(fs.remove_tree(dir .. "/town/demo/polecats/a"))
      assert.equal(1, ok(state, "revoke", dir .. "/alias/demo/polecats/a/demo/.gt/hooks.lua"))
      helpers.write(a, "v1\n")
      ok(state, "add", a)
      assert(fs.remove_tree(dir .. "/town/demo/polecats/a"))
      assert.equal(1, ok(state, "revoke", dir .. "/town/demo/polecats/../polecats/a/demo/.gt/hooks.lua"))
    end)

    it("withdraws the ownership of a folder, and leaves the trust of its files", function()
      local town = dir .. "/town"
      helpers.write(town .. "/.gt/town.lua", "return {}\n")
      helpers.write(town .. "/.gt/init.lua", "x = 1\n")
      ok(state, "own", town)
      ok(state, "own", dir)
      ok(state, "add", town .. "/.gt/init.lua")
      assert.equal(1, ok(state, "revoke", town))
      assert.equal(dir .. "\n", owned_file())
      assert.is_false(ok(state, "owns", town))
      assert.equal("trusted", (ok(state, "check", town .. "/.gt/init.lua")))
    end)

    it("raises notfound when nothing was trusted, and changes no record", function()
      helpers.write(dir .. "/a.lua", "a\n")
      local e = raises(state, "revoke", dir .. "/a.lua")
      assert.same({ "notfound", dir .. "/a.lua is not trusted" }, { e.kind, e.message })
      ok(state, "add", dir .. "/a.lua")
      local before = db()
      helpers.write(dir .. "/b.lua", "b\n")
      e = raises(state, "revoke", dir .. "/b.lua")
      assert.same({ "notfound", dir .. "/b.lua is not trusted" }, { e.kind, e.message })
      e = raises(state, "revoke", dir .. "/never-there.lua")
      assert.same({ "notfound", dir .. "/never-there.lua is not trusted" }, { e.kind, e.message })
      assert.equal(before, db())
    end)
  end)
end)
