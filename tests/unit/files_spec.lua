local files = require("gt.files")
local fs = require("gt.fs")
local helpers = require("helpers")

--- The copied paths of a copy_into result, and whether each says how it was copied.
local function paths(copied)
  local list = {}
  for i, c in ipairs(copied) do
    assert.is_true(c.how == "reflink" or c.how == "copy", c.how)
    list[i] = c.path
  end
  return list
end

local function mode(path)
  return assert(fs.stat(path)).mode
end

describe("gt.files.copy_into", function()
  local src, dest
  before_each(function()
    local dir = helpers.tmpdir("files")
    src, dest = dir .. "/src", dir .. "/dest"
    helpers.write(src .. "/.env", "TOKEN=1\n")
    helpers.write(src .. "/config/deep/local.json", "{}\n")
    helpers.write(src .. "/run.sh", "#!/bin/sh\n")
    helpers.write(src .. "/.git/HEAD", "ref: refs/heads/main\n")
    assert(fs.mkdir_p(dest))
  end)

  it("copies a whole tree but .git, making the folders, in name order", function()
    local copied, skipped = files.copy_into(dest, { from = src })
    assert.same({ ".env", "config/deep/local.json", "run.sh" }, paths(copied))
    assert.same({}, skipped)
    assert.equal("TOKEN=1\n", helpers.read(dest .. "/.env"))
    assert.equal("{}\n", helpers.read(dest .. "/config/deep/local.json"))
    assert.is_false(helpers.exists(dest .. "/.git"))
  end)

  it("keeps the permission bits", function()
    helpers.run({ "chmod", "600", src .. "/.env" })
    helpers.run({ "chmod", "750", src .. "/run.sh" })
    files.copy_into(dest, { from = src })
    assert.equal(tonumber("600", 8), mode(dest .. "/.env"))
    assert.equal(tonumber("750", 8), mode(dest .. "/run.sh"))
  end)

  it("skips files that exist, unless overwrite", function()
    helpers.write(dest .. "/.env", "TOKEN=mine\n")
    local copied, skipped = files.copy_into(dest, { from = src })
    assert.same({ "config/deep/local.json", "run.sh" }, paths(copied))
    assert.same({ ".env" }, skipped)
    assert.equal("TOKEN=mine\n", helpers.read(dest .. "/.env"))
    copied, skipped = files.copy_into(dest, { from = src, overwrite = true })
    assert.same({ ".env", "config/deep/local.json", "run.sh" }, paths(copied))
    assert.same({}, skipped)
    assert.equal("TOKEN=1\n", helpers.read(dest .. "/.env"))
  end)

  it("copies only the listed paths; a missing one is an error unless optional", function()
    local copied = files.copy_into(dest, { from = src, paths = { "config/deep/local.json" } })
    assert.same({ "config/deep/local.json" }, paths(copied))
    assert.same({ "config" }, fs.dir(dest))
    local ok, err = pcall(files.copy_into, dest, { from = src, paths = { ".env", "nope" } })
    assert.is_false(ok)
    assert.equal("notfound", err.kind)
    assert.equal("copy_into: no file " .. src .. "/nope", err.message)
    assert.same({ "config" }, fs.dir(dest)) -- nothing copied
    local skipped
    copied, skipped = files.copy_into(dest, { from = src, paths = { "nope", ".env" }, optional = true })
    assert.same({ ".env" }, paths(copied))
    assert.same({ "nope" }, skipped)
  end)

  it("refuses paths that leave the folder, but not names with two dots", function()
    for _, bad in ipairs({ "../x", "a/../../x", "..", "/etc/passwd", "config/.." }) do
      local ok, err = pcall(files.copy_into, dest, { from = src, paths = { ".env", bad } })
      assert.is_false(ok, bad)
      assert.equal("usage", err.kind)
      assert.equal(("copy_into: %s must be a relative path inside %s"):format(bad, src), err.message)
    end
    assert.same({}, fs.dir(dest))
    helpers.write(src .. "/notes..txt", "two dots\n")
    local copied = files.copy_into(dest, { from = src, paths = { "notes..txt" } })
    assert.same({ "notes..txt" }, paths(copied))
    assert.equal("two dots\n", helpers.read(dest .. "/notes..txt"))
  end)

  it("does not write through symbolic links in the destination", function()
    local outside = helpers.tmpdir("outside")
    helpers.write(outside .. "/victim", "keep me\n")
    helpers.run({ "ln", "-s", outside .. "/victim", dest .. "/.env" })
    helpers.run({ "ln", "-s", outside, dest .. "/config" })
    -- A link in a file's place is skipped, or replaced with overwrite.
    local _, skipped = files.copy_into(dest, { from = src, paths = { ".env" } })
    assert.same({ ".env" }, skipped)
    local copied = files.copy_into(dest, { from = src, paths = { ".env" }, overwrite = true })
    assert.same({ ".env" }, paths(copied))
    assert.equal("file", fs.lstat(dest .. "/.env").type)
    assert.equal("TOKEN=1\n", helpers.read(dest .. "/.env"))
    assert.equal("keep me\n", helpers.read(outside .. "/victim"))
    -- A link on the way is an error.
    local ok, err = pcall(files.copy_into, dest, { from = src, paths = { "config/deep/local.json" } })
    assert.is_false(ok)
    assert.equal("refused", err.kind)
    assert.equal("copy_into: " .. dest .. "/config is a symbolic link; not copying through it", err.message)
    assert.same({ "victim" }, fs.dir(outside))
  end)

  it("says when the source folder cannot be listed", function()
    local ok, err = pcall(files.copy_into, dest, { from = src .. "/nope" })
    assert.is_false(ok)
    assert.equal("notfound", err.kind)
    assert.matches("^listing " .. src:gsub("%p", "%%%0") .. "/nope: ", err.message)
  end)
end)
