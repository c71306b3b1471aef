local luafile = require("gt.luafile")
local fs = require("gt.fs")
local helpers = require("helpers")

describe("gt.luafile", function()
  local dir
  before_each(function() dir = helpers.tmpdir("luafile") end)

  it("writes a table that reads back the same", function()
    local value = {
      name = "demo", url = "/srv/x y.git", default_branch = "trunk", created_at = 1795641849786,
      fetch_on_spawn = false, yes = true, ratio = 0.1, third = 1 / 3, big = 2 ^ 63, negative = -7,
      quotes = "it's \"quoted\"", controls = "a\tb\nc\rd\0e\27", bytes = "caf\xc3\xa9\255",
      ["not an identifier"] = 1, ["end"] = "keyword", [1] = "one", [2] = "two", [10] = "ten",
      [2.5] = "float key", [true] = "bool key",
      nested = { list = { 1, 2, { deep = "er" } }, empty = {} },
    }
    assert.is_true(luafile.write(dir .. "/c.lua", value, "first line\nsecond line"))
    local back = assert(luafile.read(dir .. "/c.lua"))
    assert.same(value, back)
    assert.equal("integer", math.type(back.created_at))
    assert.equal("float", math.type(back.big))
    assert.equal("float", math.type(back.ratio))
  end)

  it("keeps floats exact, infinities and NaN included", function()
    local value = { 1 / 3, math.pi, 0.1 + 0.2, 5e-324, 1e300, -0.0, 2.0, 123456789.123456789,
      math.huge, -math.huge }
    assert.is_true(luafile.write(dir .. "/f.lua", { v = value, nan = 0 / 0 }))
    local back = assert(luafile.read(dir .. "/f.lua"))
    for i, x in ipairs(value) do
      assert.equal("float", math.type(back.v[i]), i)
      assert.is_true(back.v[i] == x, ("%d: %.17g ~= %.17g"):format(i, x, back.v[i]))
    end
    assert.equal(-math.huge, 1 / back.v[6]) -- -0.0 stays negative
    assert.is_true(back.nan ~= back.nan)
  end)

  it("writes a stable, readable file with the comment on top", function()
    assert.is_true(luafile.write(dir .. "/r.lua", { b = "x", a = 1, c = { d = true } }, "gt rig\nconfig"))
    assert.equal('-- gt rig\n-- config\nreturn {\n  a = 1,\n  b = "x",\n  c = {\n    d = true,\n  },\n}\n',
      helpers.read(dir .. "/r.lua"))
    assert.same({ "r.lua" }, fs.dir(dir)) -- no temporary file left
  end)

  it("replaces a file atomically", function()
    assert.is_true(luafile.write(dir .. "/r.lua", { v = 1 }))
    local ino = fs.stat(dir .. "/r.lua").ino
    assert.is_true(luafile.write(dir .. "/r.lua", { v = 2 }))
    assert.same({ v = 2 }, luafile.read(dir .. "/r.lua"))
    assert.are_not.equal(ino, fs.stat(dir .. "/r.lua").ino)
  end)

  it("refuses values a Lua file cannot hold, writing nothing", function()
    assert.error_matches(function() luafile.write(dir .. "/x.lua", { f = print }) end,
      "cannot write a function into a Lua file")
    assert.same({}, fs.dir(dir))
  end)

  it("fails to write into a missing folder", function()
    local ok, err = luafile.write(dir .. "/no/x.lua", {})
    assert.is_nil(ok)
    assert.equal(dir .. "/no/x.lua.tmp: No such file or directory", err)
  end)

  it("refuses files that do not return a table", function()
    helpers.write(dir .. "/n.lua", "return 42")
    assert.same({ nil, dir .. "/n.lua: does not return a table" }, { luafile.read(dir .. "/n.lua") })
    helpers.write(dir .. "/e.lua", "")
    assert.same({ nil, dir .. "/e.lua: does not return a table" }, { luafile.read(dir .. "/e.lua") })
  end)

  it("reports syntax and run-time errors with file and line", function()
    helpers.write(dir .. "/s.lua", "return {\n  a = ,\n}")
    local ok, err = luafile.read(dir .. "/s.lua")
    assert.is_nil(ok)
    assert.matches("^" .. dir:gsub("%p", "%%%0") .. "/s%.lua:2: unexpected symbol near ','$", err)
    helpers.write(dir .. "/r.lua", "local x\nreturn { x.y }")
    ok, err = luafile.read(dir .. "/r.lua")
    assert.is_nil(ok)
    assert.matches("/r%.lua:2: attempt to index a nil value %(local 'x'%)$", err)
  end)

  it("runs the file with an empty environment", function()
    helpers.write(dir .. "/g.lua", "return { os = os, io = io, req = require, gt = gt, s = string }")
    assert.same({}, luafile.read(dir .. "/g.lua"))
    helpers.write(dir .. "/x.lua", 'os.exit(3)')
    local ok, err = luafile.read(dir .. "/x.lua")
    assert.is_nil(ok)
    assert.matches("attempt to index a nil value %(global 'os'%)", err)
  end)

  it("loads text only: a bytecode file is refused", function()
    local f = assert(io.open(dir .. "/b.lua", "wb"))
    f:write(string.dump(function() return { pwned = true } end))
    f:close()
    assert.same({ nil, "attempt to load a binary chunk (mode is 't')" }, { luafile.read(dir .. "/b.lua") })
  end)

  it("fails on a missing file", function()
    assert.same({ nil, dir .. "/nope.lua: No such file or directory" }, { luafile.read(dir .. "/nope.lua") })
  end)
end)
